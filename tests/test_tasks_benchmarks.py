"""The four benchmarks read from the staged data folder: sizes, label counts and exact text per its README."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from datasets import Dataset

from tokendistill.data.errors import DataError
from tokendistill.data.example import Example
from tokendistill.data.tasks import SPLITS, get_task, task_names
from tokendistill.metrics.arithmetic import evaluate, numbers

NLI_TEMPLATE = ["</s>"]
CQA_TEMPLATE = ["\nAnswer Choices:\n(a) ", "\n(b) ", "\n(c) ", "\n(d) ", "\n(e) "]
SVAMP_TEMPLATE = ["\n"]
TEMPLATES = {"anli1": NLI_TEMPLATE, "esnli": NLI_TEMPLATE, "cqa": CQA_TEMPLATE, "svamp": SVAMP_TEMPLATE}
STAGED_SPLITS = {
    "anli1": ("validation", "test"),
    "esnli": ("validation", "test"),
    "cqa": SPLITS,
    "svamp": SPLITS,
}


@pytest.fixture(scope="module")
def load(shared_data: Path):
    """Load each (task, split) once for the whole module."""
    cache: dict[tuple[str, str], list[Example]] = {}

    def load(name: str, split: str) -> list[Example]:
        if (name, split) not in cache:
            cache[name, split] = get_task(name).load(split, shared_data)
        return cache[name, split]

    return load


def jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def test_registry_has_the_benchmarks_and_the_user_task() -> None:
    assert {"anli1", "esnli", "cqa", "svamp", "jsonl"} <= set(task_names())
    assert get_task("anli1").labels == ("entailment", "neutral", "contradiction")
    assert get_task("cqa").labels is None


@pytest.mark.parametrize(
    ("name", "split", "counts"),
    [
        ("anli1", "validation", {"entailment": 334, "neutral": 333, "contradiction": 333}),
        ("anli1", "test", {"entailment": 334, "neutral": 333, "contradiction": 333}),
        ("esnli", "validation", {"entailment": 3329, "neutral": 3235, "contradiction": 3278}),
        ("esnli", "test", {"entailment": 3368, "neutral": 3219, "contradiction": 3237}),
    ],
)
def test_nli_label_counts(load, name: str, split: str, counts: dict[str, int]) -> None:
    examples = load(name, split)
    assert Counter(example.target for example in examples) == counts
    assert all(
        example.meta["label_id"] == ("entailment", "neutral", "contradiction").index(example.target)
        for example in examples
    )
    assert len({example.id for example in examples}) == len(examples)


def test_cqa_sizes_and_answer_key_counts(load) -> None:
    train, validation, test = (load("cqa", split) for split in SPLITS)
    assert (len(train), len(validation), len(test)) == (8766, 975, 1221)
    assert Counter(example.meta["answer_key"] for example in train + validation) == {
        "A": 1909,
        "B": 1973,
        "C": 1946,
        "D": 1985,
        "E": 1928,
    }
    assert Counter(example.meta["answer_key"] for example in test) == {
        "A": 239,
        "B": 255,
        "C": 241,
        "D": 251,
        "E": 235,
    }
    assert not {example.id for example in train} & {example.id for example in validation}


def test_cqa_holdout_is_dss_split_of_its_cose_ordered_file(load, shared_data: Path) -> None:
    """DSS ran ``train_test_split(test_size=0.1, seed=0)`` on palm/cqa_train.json; redo it on that file."""
    parts = Dataset.from_list(jsonl(shared_data / "cqa/palm/cqa_train.json.gz")).train_test_split(
        test_size=0.1, seed=0
    )
    assert [example.id for example in load("cqa", "train")] == list(parts["train"]["id"])
    assert [example.id for example in load("cqa", "validation")] == list(parts["test"]["id"])


def test_svamp_splits_are_the_staged_dss_files(load, shared_data: Path) -> None:
    staged_train = [record["ID"] for record in jsonl(shared_data / "svamp/train.jsonl.gz")]
    staged_test = [record["ID"] for record in jsonl(shared_data / "svamp/test.jsonl.gz")]
    assert (len(staged_train), len(staged_test)) == (800, 200)
    assert [example.id for example in load("svamp", "test")] == staged_test
    holdout = Dataset.from_dict({"ID": staged_train}).train_test_split(test_size=0.1, seed=0)
    assert [example.id for example in load("svamp", "train")] == list(holdout["train"]["ID"])
    assert [example.id for example in load("svamp", "validation")] == list(holdout["test"]["ID"])
    assert (len(load("svamp", "train")), len(load("svamp", "validation"))) == (720, 80)
    # and the 800/200 itself is numpy's RandomState(0) permutation of chal-1 .. chal-1000
    permutation = np.random.RandomState(seed=0).permutation(1000)
    assert staged_train == [f"chal-{index + 1}" for index in permutation[:800]]


def test_svamp_all_file_order_types_and_gold_values(shared_data: Path) -> None:
    records = jsonl(shared_data / "svamp/all.jsonl.gz")
    assert [record["ID"] for record in records] == [f"chal-{number}" for number in range(1, 1001)]
    assert Counter(record["Type"] for record in records) == {
        "Subtraction": 531,
        "Addition": 195,
        "Common-Division": 165,
        "Multiplication": 108,
        "Common-Divison": 1,
    }
    wrong = [
        record["ID"] for record in records if abs(evaluate(record["Equation"]) - record["Answer"]) > 1e-4
    ]
    # SVAMP's own Answer is wrong for chal-680: "( ( 4.0 - 2.0 ) + 3.0 )" is 5, Answer says 1.0. Scoring uses
    # the equation's value (as DSS does), so the task's meta["answer"] is 5.
    assert wrong == ["chal-680"]


@pytest.mark.parametrize(
    ("name", "split", "id", "source", "target", "evidence"),
    [
        (
            "anli1",
            "test",
            "8a91e1a2-9a32-4fd9-b1b6-bd2ee2287c8f",
            "Javier Torres (born May 14, 1988 in Artesia, California) is an undefeated Mexican "
            "American professional boxer in the Heavyweight division. Torres was the second rated "
            "U.S. amateur boxer in the Super Heavyweight division and a member of the Mexican "
            "Olympic team.</s>Javier was born in Mexico",
            "contradiction",
            [],
        ),
        (
            "anli1",
            "validation",
            "ebfda8b9-da4e-416b-bede-bd2c0a7d417e",
            '"Can\'t Help Thinking About Me" is a song written by David Bowie in 1965 and released '
            "as a single under the name David Bowie with The Lower Third. This was the first single "
            "released after he changed his name from David (also Davie) Jones to David Bowie.</s>"
            "David Bowie wrote all of his songs.",
            "neutral",
            [],
        ),
        (
            "esnli",
            "validation",
            "validation-1",
            "Two women are embracing while holding to go packages.</s>Two woman are holding packages.",
            "entailment",
            [],
        ),
        (
            "esnli",
            "test",
            "test-9823",
            "A man in a black leather jacket and a book in his hand speaks in a classroom.</s>"
            "A man is teaching science in a classroom.",
            "neutral",
            [],
        ),
        (
            "cqa",
            "validation",
            "3a1b3c21a11f4ec53c166b0559df7369",
            "A John is a bum.  Much like the stereotype, he lives near this sort of transportation "
            "infrastructure. Where does he live?\nAnswer Choices:\n(a) bus depot\n(b) beach\n"
            "(c) train station\n(d) bridge\n(e) bridge",
            "bridge",
            [(184, 190)],  # answerKey D: the (d) "bridge", not the identical (e) one
        ),
        (
            "cqa",
            "test",
            "a7ab086045575bb497933726e4e6ad28",
            "What do people aim to do at work?\nAnswer Choices:\n(a) complete job\n(b) learn from each "
            "other\n(c) kill animals\n(d) wear hats\n(e) talk to each other",
            "complete job",
            [(54, 66)],
        ),
        (
            "svamp",
            "train",
            "chal-50",
            "Nell collects cards. She had 309 baseball cards and 356 Ace cards. She gave some of "
            "her cards to Jeff and now has 415 baseball cards and Ace cards left.\nHow many more "
            "baseball cards than Ace cards does Nell have?",
            "( 415.0 - 149.0 )",
            [(114, 117)],  # 149 is not in the text
        ),
        (
            "svamp",
            "validation",
            "chal-299",
            "Julia played tag with 17 kids on monday, 15 kids on tuesday and 2 kids on wednesday.\n"
            "How many kids did she play with altogether?",
            "( ( 17.0 + 15.0 ) + 2.0 )",
            [(22, 24), (41, 43), (64, 65)],
        ),
    ],
)
def test_hand_checked_examples(load, name, split, id, source, target, evidence) -> None:
    (example,) = [example for example in load(name, split) if example.id == id]
    assert example.source == source
    assert example.target == target
    assert list(example.evidence_spans) == evidence
    assert [source[start:end] for start, end in example.template_spans()] == TEMPLATES[name]


@pytest.mark.parametrize("name", sorted(STAGED_SPLITS))
def test_template_and_evidence_of_every_example(load, name: str) -> None:
    for split in STAGED_SPLITS[name]:
        for example in load(name, split):
            assert [example.source[start:end] for start, end in example.template_spans()] == TEMPLATES[name]
            evidence = example.evidence_text()
            if name == "cqa":
                assert evidence == [example.target]
            elif name == "svamp":
                assert {float(text) for text in evidence} <= set(numbers(example.target))
            else:
                assert evidence == []


def test_cqa_and_svamp_ids_do_not_cross_splits(load) -> None:
    for name in ("cqa", "svamp"):
        ids = [{example.id for example in load(name, split)} for split in SPLITS]
        assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])


@pytest.mark.parametrize("name", ["anli1", "esnli"])
def test_missing_nli_train_inputs_say_why(shared_data: Path, name: str) -> None:
    with pytest.raises(FileNotFoundError, match="training inputs are not in the shared data folder"):
        get_task(name).load("train", shared_data)


def test_unknown_split_is_rejected(shared_data: Path) -> None:
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        get_task("svamp").load("dev", shared_data)


def test_svamp_scores_equation_values(load) -> None:
    svamp = get_task("svamp")
    (example,) = [example for example in load("svamp", "train") if example.id == "chal-50"]
    assert example.meta["answer"] == 266.0
    assert svamp.is_correct("(415 - 149)", example)
    assert svamp.is_correct("266", example)
    assert svamp.is_correct("( 266.00001 )", example)  # within 1e-4
    assert not svamp.is_correct("( 266.001 )", example)
    assert not svamp.is_correct("( 415.0 + 149.0 )", example)
    assert not svamp.is_correct("( 149.0 - 415.0 )", example)  # -266: the sign counts
    assert not svamp.is_correct("-266", example)
    assert not svamp.is_correct("__import__('os')", example)
    assert not svamp.is_correct("", example)


def test_label_tasks_score_by_exact_match(load) -> None:
    example = load("anli1", "test")[0]
    anli = get_task("anli1")
    assert anli.is_correct(example.target, example)
    assert not anli.is_correct("neutral" if example.target != "neutral" else "entailment", example)


def test_esnli_examples_carry_their_human_explanations(load) -> None:
    (example,) = [example for example in load("esnli", "validation") if example.id == "validation-0"]
    assert example.meta["explanations"] == [
        "The to go packages may not be from lunch.",
        "Just because two women are embracing, does not mean they are sisters.  Two women that are embracing "
        "are not necessarily hugging goodbye.",
        "Two women do not have to be sisters.  Embracing does not mean hugging goodbye.  The women do not "
        "have to have just finished lunch to be embracing.",
    ]
    assert all(len(example.meta["explanations"]) == 3 for example in load("esnli", "test"))


def test_a_bad_esnli_explanation_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "esnli"
    folder.mkdir()
    rows = [
        {"premise": "A dog runs.", "hypothesis": "A pet moves.", "label": 0, "explanation_1": "dog: animal"},
        {"premise": "A dog runs.", "hypothesis": "A cat runs.", "label": 2, "explanation_2": 7},
    ]
    with gzip.open(folder / "valid.jsonl.gz", "wt") as file:
        file.write("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(DataError) as caught:
        get_task("esnli").load("validation", tmp_path)
    assert (caught.value.line, caught.value.field) == (2, "explanation_2")
    (first,) = get_task("esnli").load("validation", tmp_path, skip_bad_rows=True)
    assert first.meta["explanations"] == ["dog: animal"]
