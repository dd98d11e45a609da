"""The experiment's view of a task: staged splits mapped to roles, a held-out validation split, caps."""

from __future__ import annotations

from tokendistill.data.tasks import get_task
from tokendistill.experiment.config import TaskConfig
from tokendistill.experiment.splits import ExperimentTask, split_holdout

OPTIONS = {"size": 50, "validation_size": 12, "test_size": 9}


def ids(examples):
    return [example.id for example in examples]


def test_holdout_is_a_stable_exact_share_that_keeps_order():
    examples = get_task("synthetic-nli", **OPTIONS).load("train")
    kept, held = split_holdout(examples, 0.1)
    assert len(held) == 5 and len(kept) == 45
    assert sorted(ids(kept) + ids(held)) == sorted(ids(examples))
    assert ids(kept) == [i for i in ids(examples) if i in set(ids(kept))]  # input order kept
    # Which examples are held out depends on their ids, not on their order or on the other examples.
    assert ids(split_holdout(examples[::-1], 0.1)[1]) == ids(held)[::-1]
    assert set(ids(split_holdout(examples[:40], 0.1)[1])) <= set(ids(held)) | set(ids(examples[:40]))
    assert len(split_holdout(examples[:3], 0.1)[1]) == 1  # never an empty validation split
    # round(), not truncation: 10% of 17 is 1.7 -> 2 held out; 30% of 15 is 4.5 -> 4 (round half to even).
    assert len(split_holdout(examples[:17], 0.1)[1]) == 2
    assert len(split_holdout(examples[:15], 0.3)[1]) == 4


def test_default_roles_are_the_staged_splits():
    task = ExperimentTask(TaskConfig(name="synthetic-nli", options=OPTIONS))
    inner = get_task("synthetic-nli", **OPTIONS)
    for split in ("train", "validation", "test"):
        assert task.load(split) == inner.load(split)
    assert task.name == "synthetic-nli" and task.labels == inner.labels


def test_training_on_another_split_with_a_held_out_validation():
    config = TaskConfig(
        name="synthetic-nli", options=OPTIONS, train_split="validation", validation_split=None
    )
    task = ExperimentTask(config)
    staged = get_task("synthetic-nli", **OPTIONS).load("validation")
    train, validation = task.load("train"), task.load("validation")
    assert len(train) + len(validation) == len(staged) == 12
    assert not set(ids(train)) & set(ids(validation))
    assert task.load("test") == get_task("synthetic-nli", **OPTIONS).load("test")


def test_caps_apply_to_the_roles():
    config = TaskConfig(name="synthetic-nli", options=OPTIONS, max_train_examples=7, max_eval_examples=4)
    task = ExperimentTask(config)
    inner = get_task("synthetic-nli", **OPTIONS)
    assert task.load("train") == inner.load("train")[:7]
    assert task.load("validation") == inner.load("validation")[:4]
    assert task.load("test") == inner.load("test")[:4]


def test_scoring_is_the_tasks_own():
    task = ExperimentTask(TaskConfig(name="synthetic-math", options=OPTIONS))
    example = task.load("test")[0]
    assert task.is_correct(example.target.replace("(", "( ").replace(")", " )"), example)
    assert not task.is_correct("( 1.0 + 1.0 )", example) or example.target == "( 1.0 + 1.0 )"
