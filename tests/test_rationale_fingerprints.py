"""A rationale file trains only the examples it was made for, with the bytes the stage wrote (issue 11).

Each record carries ``example_sha256``, a fingerprint of its example's source and gold target; the loader
compares it with the training example of the same id, and compares the file with the ``output_sha256`` of
its ``.done.json``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from tokendistill.attribution.records import (
    example_fingerprint,
    read_rationale_file,
    write_rationale_file,
)
from tokendistill.attribution.sharding import finished_marker_for
from tokendistill.attribution.stage import generate_rationales
from tokendistill.data.errors import DataError
from tokendistill.data.example import Example, own
from tokendistill.training.models import build_tiny_for_task
from tokendistill.training.rationale_sources import file_rationales
from tokendistill.training.student import train_student
from training_helpers import ColourTask, quick_config

N = 24  # training examples the rationale stage explains


class ChangedColourTask(ColourTask):
    """ColourTask with the same ids but, for every third training example, another source text."""

    def load(self, split: str, data_dir: Path | None = None, *, skip_bad_rows: bool = False) -> list[Example]:
        examples = super().load(split, data_dir, skip_bad_rows=skip_bad_rows)
        if split != "train":
            return examples
        return [
            replace(e, segments=(own("changed " + e.segments[0].text), *e.segments[1:])) if i % 3 == 0 else e
            for i, e in enumerate(examples)
        ]


@pytest.fixture(scope="module")
def task() -> ColourTask:
    return ColourTask()


@pytest.fixture(scope="module")
def examples(task: ColourTask) -> list[Example]:
    return task.load("train")[:N]


@pytest.fixture(scope="module")
def tiny_dir(task: ColourTask, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_for_task(task, tmp_path_factory.mktemp("tiny"), vocab_size=300)


@pytest.fixture(scope="module")
def stage_output(task: ColourTask, tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rationale stage's file for the first N training examples, explaining the teacher's predictions
    (not the gold targets, so the fingerprint's target must be the gold one for the normal path to load)."""
    output = tmp_path_factory.mktemp("rationales") / "rationales.jsonl"
    return generate_rationales(
        tiny_dir, task, "train", output, k=2, limit=N, shard_size=10, batch_size=8, max_new_tokens=4,
        show_progress=False,
    )  # fmt: skip


def copy_with_marker(source: Path, folder: Path) -> Path:
    """A copy of a stage output and its ``.done.json`` (so tests can change them)."""
    target = folder / source.name
    target.write_bytes(source.read_bytes())
    finished_marker_for(target).write_bytes(finished_marker_for(source).read_bytes())
    return target


def test_stage_records_carry_the_fingerprint_of_source_and_gold_target(stage_output, examples) -> None:
    records = read_rationale_file(stage_output)
    assert [r.example_sha256 for r in records] == [example_fingerprint(e) for e in examples]
    assert len(records[0].example_sha256) == 16
    first = json.loads(stage_output.read_text(encoding="utf-8").splitlines()[0])
    assert list(first)[:2] == ["id", "example_sha256"]
    # The fingerprint covers the source and the gold target, and nothing else of the example.
    example = examples[0]
    assert (
        example_fingerprint(replace(example, segments=(own(example.source + " x"),)))
        != records[0].example_sha256
    )
    assert example_fingerprint(replace(example, target=example.target + "x")) != records[0].example_sha256
    assert example_fingerprint(replace(example, id="other", evidence_spans=())) == records[0].example_sha256


def test_normal_path_loads_and_trains(stage_output, examples, task, tiny_dir, tmp_path) -> None:
    expected = {r.id: r.rationale for r in read_rationale_file(stage_output)}
    assert file_rationales(stage_output, examples) == expected
    assert file_rationales(stage_output, examples[:10]) == {e.id: expected[e.id] for e in examples[:10]}
    config = quick_config(max_steps=2, eval_steps=2, max_train_examples=N, max_eval_examples=8)
    result = train_student(
        tiny_dir, task, tmp_path / "student", mode="rationale", rationales_path=stage_output, config=config
    )
    assert result.output_dir.is_dir()


def test_rationales_for_other_texts_under_the_same_ids_are_refused(stage_output, tiny_dir, tmp_path) -> None:
    changed_task = ChangedColourTask()
    changed = changed_task.load("train")[:N]
    assert [e.id for e in changed] == [r.id for r in read_rationale_file(stage_output)]
    with pytest.raises(DataError) as caught:
        file_rationales(stage_output, changed)
    message = str(caught.value)
    assert str(stage_output) in message and "'example_sha256'" in message
    assert "8 of 24 records were made for other texts or targets (first: id 'train-0', line 1)" in message
    assert "no rationale" not in message

    # Missing ids are counted in the same error.
    with pytest.raises(DataError, match=r"8 of 24 records.*; no rationale for 2 of 26 training examples"):
        file_rationales(stage_output, changed + changed_task.load("train")[N : N + 2])

    # The student refuses them before training.
    config = quick_config(max_steps=2, max_train_examples=N, max_eval_examples=8)
    with pytest.raises(DataError, match=r"8 of 24 records were made for other texts"):
        train_student(
            tiny_dir,
            changed_task,
            tmp_path / "s",
            mode="rationale",
            rationales_path=stage_output,
            config=config,
        )
    assert not (tmp_path / "s").exists()


def test_rationales_for_other_gold_targets_are_refused(stage_output, examples) -> None:
    relabelled = [replace(e, target="purple") if e.id == "train-5" else e for e in examples]
    with pytest.raises(DataError, match=r"1 of 24 records were made for other texts or targets \(first: id "
                       r"'train-5', line 6\)"):  # fmt: skip
        file_rationales(stage_output, relabelled)


def test_hand_edited_file_is_refused_by_its_checksum(stage_output, examples, tmp_path) -> None:
    path = copy_with_marker(stage_output, tmp_path)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    record = json.loads(lines[3])
    record["rationale"] = "edited " + record["rationale"].split(" ", 1)[-1]  # one word changed
    lines[3] = json.dumps(record, ensure_ascii=False) + "\n"
    path.write_text("".join(lines), encoding="utf-8")

    with pytest.raises(DataError) as caught:
        file_rationales(path, examples)
    message = str(caught.value)
    assert message.startswith(f"{path}: sha256 ")
    assert f"recorded in {finished_marker_for(path)}" in message
    assert "changed after it was written" in message and "rationales.jsonl.done.json" in message

    # The way out: deleting the marker accepts the edit; the fingerprints still hold.
    finished_marker_for(path).unlink()
    assert file_rationales(path, examples)[record["id"]] == record["rationale"]


def test_unreadable_marker_is_an_error(stage_output, examples, tmp_path) -> None:
    path = copy_with_marker(stage_output, tmp_path)
    finished_marker_for(path).write_text("{}", encoding="utf-8")
    with pytest.raises(DataError, match=r"done\.json: field 'output_sha256': unreadable"):
        file_rationales(path, examples)


def test_rewriting_through_write_rationale_file_drops_the_stale_marker(stage_output, examples, tmp_path):
    path = copy_with_marker(stage_output, tmp_path)
    records = [replace(r, k=1, rationale=r.rationale.split(" ")[0]) for r in read_rationale_file(path)]
    write_rationale_file(path, records)
    assert not finished_marker_for(path).exists()
    assert file_rationales(path, examples) == {r.id: r.rationale for r in records}


def test_files_without_fingerprints_are_refused_with_a_way_out(stage_output, examples, tmp_path) -> None:
    old = [replace(r, example_sha256=None) for r in read_rationale_file(stage_output)]
    path = write_rationale_file(tmp_path / "old.jsonl", old)
    assert "example_sha256" not in path.read_text(encoding="utf-8")
    assert read_rationale_file(path) == old  # still readable for reports and heatmaps
    with pytest.raises(
        DataError,
        match=r"old\.jsonl: field 'example_sha256': 24 of 24 records carry no fingerprint of their example "
        r"\(first: id 'train-0', line 1\).*regenerate it with `tokendistill rationales --overwrite`",
    ):
        file_rationales(path, examples)


def test_fingerprint_must_be_a_string(tmp_path) -> None:
    path = tmp_path / "r.jsonl"
    record = {
        "id": "a",
        "example_sha256": 7,
        "target": "t",
        "method": "m",
        "k": 1,
        "words": [],
        "rationale": "",
    }
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"r\.jsonl:1: field 'example_sha256': expected str, got int"):
        read_rationale_file(path)
