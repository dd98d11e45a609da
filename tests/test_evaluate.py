"""Evaluation: a saved model's accuracy reproduces the one logged in training; files as documented."""

from __future__ import annotations

import json

import pytest

from tokendistill.cli import main
from tokendistill.data.errors import DataError
from tokendistill.models import load_model_and_tokenizer
from tokendistill.training.evaluation import evaluate_model
from tokendistill.training.manifest import input_prefix
from tokendistill.training.models import build_tiny_for_task
from tokendistill.training.student import train_student
from training_helpers import COLOURS, ColourTask, quick_config

METRIC_KEYS = {"task", "split", "n", "accuracy", "ci_low", "ci_high", "model"}


@pytest.fixture(scope="module")
def task():
    return ColourTask(wrong_validation_targets=True)


@pytest.fixture(scope="module")
def student(tmp_path_factory, task):
    """A two-task student that learned the task; half the validation targets are wrong, so its validation
    accuracy is far from 0 and 1 and any slip in generating or scoring would show."""
    folder = tmp_path_factory.mktemp("student")
    tiny_dir = build_tiny_for_task(task, folder / "tiny", vocab_size=300)
    palm = {e.id: f"the colour is {e.target}" for e in task.load("train")}
    config = quick_config(max_steps=60, eval_steps=30)
    return train_student(tiny_dir, task, folder / "student", mode="dss", rationales=palm, config=config)


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_saved_student_reproduces_the_accuracy_logged_in_training(task, student, tmp_path):
    history = json.loads((student.output_dir / "trainer_state.json").read_text())["log_history"]
    best_step = int(student.best_checkpoint.rsplit("-", 1)[1])
    logged = [e["eval_accuracy"] for e in history if "eval_accuracy" in e and e["step"] == best_step]
    assert logged == [student.validation_accuracy]
    assert 0.4 <= student.validation_accuracy <= 0.5

    metrics = evaluate_model(student.output_dir, task, "validation", tmp_path, batch_size=7)
    assert metrics["accuracy"] == student.validation_accuracy
    assert metrics.keys() == METRIC_KEYS
    assert metrics["n"] == 60 and metrics["split"] == "validation" and metrics["task"] == "test-colour"
    assert metrics["ci_low"] <= metrics["accuracy"] <= metrics["ci_high"]
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics

    rows = read_jsonl(tmp_path / "predictions.jsonl")
    examples = task.load("validation")
    assert [row["id"] for row in rows] == [e.id for e in examples]
    assert [row["target"] for row in rows] == [e.target for e in examples]
    assert all(row["correct"] == (row["prediction"] == row["target"]) for row in rows)
    assert sum(row["correct"] for row in rows) / len(rows) == metrics["accuracy"]


def test_prefix_comes_from_the_model_folder(task, student, tmp_path):
    with_manifest = read_jsonl(_evaluate(student, task, tmp_path / "auto", prefix=None))
    explicit = read_jsonl(_evaluate(student, task, tmp_path / "explicit", prefix="predict: "))
    explain = read_jsonl(_evaluate(student, task, tmp_path / "explain", prefix="explain: "))
    assert with_manifest == explicit
    # The student answers with a colour after "predict: " and with its rationale after "explain: ".
    assert all(row["prediction"] in COLOURS for row in with_manifest)
    assert all(row["prediction"].startswith("the colour is") for row in explain)


def _evaluate(student, task, folder, prefix):
    evaluate_model(student.output_dir, task, "validation", folder, prefix=prefix, max_examples=20)
    return folder / "predictions.jsonl"


def test_batching_does_not_change_predictions(task, student, tmp_path):
    one = evaluate_model(
        student.output_dir, task, "validation", tmp_path / "one", batch_size=1, max_examples=20
    )
    many = evaluate_model(
        student.output_dir, task, "validation", tmp_path / "many", batch_size=20, max_examples=20
    )
    assert read_jsonl(tmp_path / "one" / "predictions.jsonl") == read_jsonl(
        tmp_path / "many" / "predictions.jsonl"
    )
    assert one["accuracy"] == many["accuracy"]


@pytest.mark.parametrize("command", ["build-tiny", "train-teacher", "train-student", "evaluate"])
def test_command_help_renders(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "--task" in capsys.readouterr().out


def test_build_tiny_and_evaluate_commands(tmp_path, capsys):
    model_dir = tmp_path / "tiny"
    options = ["--task", "synthetic-nli", "--task-option", "size=40", "--task-option", "test_size=12"]
    assert main(["build-tiny", *options, "--output", str(model_dir), "--vocab-size", "200"]) == 0
    model, tokenizer = load_model_and_tokenizer(model_dir)
    assert model.config.d_model == 64 and len(tokenizer) <= 200
    assert tokenizer.unk_token_id not in tokenizer("predict: explain:")["input_ids"]
    capsys.readouterr()

    out = tmp_path / "eval"
    argv = ["evaluate", "--model", str(model_dir), *options, "--split", "test", "--output", str(out)]
    assert main([*argv, "--max-new-tokens", "4", "--bootstrap-samples", "200"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == json.loads(capsys.readouterr().out)
    assert metrics["n"] == 12 == len(read_jsonl(out / "predictions.jsonl"))


def test_a_broken_manifest_is_an_error_naming_the_file(tmp_path):
    assert input_prefix(tmp_path) == ""  # no manifest: a plain model, no prefix
    (tmp_path / "tokendistill.json").write_text('{"prefix": 3}')
    with pytest.raises(DataError, match=r"tokendistill\.json: field 'prefix'"):
        input_prefix(tmp_path)
    (tmp_path / "tokendistill.json").write_text('{"prefix": "predict: ",\n')
    with pytest.raises(DataError, match=r"tokendistill\.json:2: not valid JSON"):
        input_prefix(tmp_path)
