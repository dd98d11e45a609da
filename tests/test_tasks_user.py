"""The ``jsonl`` task for a user's own JSON Lines or CSV files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tokendistill.data.tasks import get_task


def test_jsonl_and_csv_by_extension(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text(
        json.dumps({"q": "Is it red?", "ctx": "The ball is red.", "y": "yes"})
        + "\n"
        + json.dumps({"q": "Is it big?", "ctx": "The ball is small.", "y": "no"})
        + "\n",
        encoding="utf-8",
    )
    (tmp_path / "test.csv").write_text("q,ctx,y\nIs it blue?,The sky is blue.,yes\n", encoding="utf-8")
    task = get_task(
        "jsonl",
        input_fields=["ctx", "q"],
        target_field="y",
        files={"train": "train.jsonl", "test": "test.csv"},
    )

    train = task.load("train", tmp_path)
    assert [example.source for example in train] == [
        "The ball is red.</s>Is it red?",
        "The ball is small.</s>Is it big?",
    ]
    assert [example.target for example in train] == ["yes", "no"]
    assert [example.id for example in train] == ["train-1", "train-2"]
    assert train[0].template_spans() == ((16, 20),)
    assert train[0].evidence_spans == ()

    (test,) = task.load("test", tmp_path)
    assert (test.id, test.source, test.target) == ("test-2", "The sky is blue.</s>Is it blue?", "yes")


def test_single_field_id_field_separator_and_integer_targets(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps({"uid": "x1", "text": "Great film.", "label": 1}) + "\n", encoding="utf-8")
    task = get_task(
        "jsonl", input_fields="text", target_field="label", id_field="uid", files={"validation": path}
    )
    (example,) = task.load("validation")
    assert (example.id, example.source, example.target, example.template_spans()) == (
        "x1",
        "Great film.",
        "1",
        (),
    )

    two_fields = get_task(
        "jsonl", input_fields=["text", "uid"], target_field="label", files={"test": path}, separator=" | "
    )
    assert two_fields.load("test")[0].source == "Great film. | x1"


def test_label_set_is_the_task_labels(tmp_path: Path) -> None:
    task = get_task(
        "jsonl", input_fields="t", target_field="y", files={"train": tmp_path / "a.csv"}, labels=["a", "b"]
    )
    assert task.labels == ("a", "b")
    assert (
        get_task("jsonl", input_fields="t", target_field="y", files={"train": tmp_path / "a.csv"}).labels
        is None
    )


def test_float_target_is_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps({"t": "x", "y": 0.5}) + "\n", encoding="utf-8")
    task = get_task("jsonl", input_fields="t", target_field="y", files={"train": path})
    with pytest.raises(ValueError, match=r"data\.jsonl:1: field 'y': expected text or an integer, got float"):
        task.load("train")


def test_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown split names \\['dev'\\]"):
        get_task("jsonl", input_fields="t", target_field="y", files={"dev": "a.jsonl"})
    with pytest.raises(ValueError, match="input_fields must name at least one field"):
        get_task("jsonl", input_fields=[], target_field="y", files={"train": "a.jsonl"})
    task = get_task("jsonl", input_fields="t", target_field="y", files={"train": "a.jsonl"})
    with pytest.raises(ValueError, match="no file given for split 'test'"):
        task.load("test")
    with pytest.raises(FileNotFoundError):
        task.load("train", tmp_path / "missing")
