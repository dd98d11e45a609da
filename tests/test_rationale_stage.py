"""The rationale stage in one process: what it writes, resuming after a crash, stale shards, the CLI."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tokendistill.attribution import attribute, split_words
from tokendistill.attribution import stage as stage_module
from tokendistill.attribution.records import read_rationale_file
from tokendistill.attribution.sharding import StaleShardsError, finished_marker_for, shards_dir_for
from tokendistill.attribution.stage import generate_rationales, load_examples, load_teacher
from tokendistill.cli import main
from tokendistill.commands.rationales import parse_key_values, read_stopwords
from tokendistill.data.errors import DataError, TaskError
from tokendistill.errors import TokendistillError
from tokendistill.models.tiny import build_model, train_tokenizer

TASK = "synthetic-nli"
TASK_OPTIONS = {"size": 40}
# Fast, small settings shared by every run here: 14 examples in shards of 5 (the last one shorter).
RUN = {"task_options": TASK_OPTIONS, "limit": 14, "shard_size": 5, "batch_size": 3, "max_new_tokens": 8}


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny T5 whose greedy predictions are multi-token targets.

    A random model often predicts end-of-sequence or padding at once (an empty target); with the tied
    embeddings of the special tokens zeroed their logits are 0 while the others spread around it, so greedy
    decoding emits ordinary tokens up to ``max_new_tokens``.
    """
    examples = load_examples(TASK, "train", task_options={"size": 200})
    tokenizer = train_tokenizer([f"{e.source} {e.target}" for e in examples], vocab_size=300)
    model = build_model(tokenizer, size="tiny")
    with torch.no_grad():
        model.get_input_embeddings().weight[tokenizer.all_special_ids] = 0.0
    folder = tmp_path_factory.mktemp("teacher")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def reference(teacher: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run: what every interrupted or otherwise-run variant must reproduce byte for byte."""
    output = tmp_path_factory.mktemp("reference") / "rationales.jsonl"
    return generate_rationales(teacher, TASK, "train", output, show_progress=False, **RUN)


def top_k_own_words(words, template_spans, k: int, stopwords: frozenset[str] = frozenset()) -> str:
    """The rationale's definition, spelt out independently: the k best-scoring words that have a letter or
    digit, touch no template span and are no stopword, ties to the earlier word, joined in input order."""
    own = [
        word
        for word in words
        if any(char.isalnum() for char in word.text)
        and word.text.lower() not in stopwords
        and not any(word.start < end and start < word.end for start, end in template_spans)
    ]
    best = sorted(own, key=lambda word: (-word.score, word.start))[:k]
    return " ".join(word.text for word in sorted(best, key=lambda word: word.start))


def test_records_follow_the_examples_and_the_definitions(teacher: Path, reference: Path) -> None:
    examples = load_examples(TASK, "train", task_options=TASK_OPTIONS, limit=14)
    records = read_rationale_file(reference)
    assert [record.id for record in records] == [example.id for example in examples]
    assert not shards_dir_for(reference).exists()
    model, tokenizer = load_teacher(teacher)
    target_lengths = [len(ids) for ids in tokenizer(text_target=[r.target for r in records])["input_ids"]]
    assert min(target_lengths) >= 4, "the teacher's predictions should be multi-token targets"

    # One call over all examples batches them differently from the stage's shards; scores may move by
    # float rounding only.
    direct = attribute(
        model, tokenizer, [e.source for e in examples], [r.target for r in records], batch_size=16
    )
    for example, record, expected in zip(examples, records, direct, strict=True):
        assert (record.method, record.k) == ("saliency", 5)
        assert [(w.text, w.start, w.end) for w in record.words] == [
            (w.text, w.start, w.end) for w in split_words(example.source)
        ]
        np.testing.assert_allclose(
            [w.score for w in record.words], [w.score for w in expected.words], rtol=1e-4, atol=1e-7
        )
        assert record.rationale == top_k_own_words(record.words, example.template_spans(), 5)
        assert "/" not in record.rationale and "<" not in record.rationale  # the " </s> " template


def test_prediction_target_is_the_teachers_greedy_output(teacher: Path, reference: Path) -> None:
    examples = load_examples(TASK, "train", task_options=TASK_OPTIONS, limit=14)
    model, tokenizer = load_teacher(teacher)
    for example, record in list(zip(examples, read_rationale_file(reference), strict=True))[:4]:
        generated = model.generate(**tokenizer(example.source, return_tensors="pt"), max_new_tokens=8)
        assert record.target == tokenizer.decode(generated[0], skip_special_tokens=True)


def test_gold_target_and_other_method(teacher: Path, tmp_path: Path) -> None:
    options = {**RUN, "limit": 4, "n_steps": 4}
    output = generate_rationales(
        teacher, TASK, "train", tmp_path / "ig.jsonl", method="integrated_gradients", target="gold", k=2,
        show_progress=False, **options,
    )  # fmt: skip
    examples = load_examples(TASK, "train", task_options=TASK_OPTIONS, limit=4)
    records = read_rationale_file(output)
    assert [r.target for r in records] == [e.target for e in examples]
    assert {(r.method, r.k) for r in records} == {("integrated_gradients", 2)}
    assert all(len(r.rationale.split()) == 2 for r in records)
    # The options that change the result are recorded with their defaults (the baseline was left out), so
    # a file made before a default changed is not taken for one made with the new default.
    recorded = json.loads(finished_marker_for(output).read_text())["settings"]["method_options"]
    assert (recorded["n_steps"], recorded["baseline"]) == (4, "pad")


def test_stopwords_never_enter_the_rationale(teacher: Path, tmp_path: Path) -> None:
    stopwords = frozenset({"the", "is", "a", "there"})
    output = generate_rationales(
        teacher, TASK, "train", tmp_path / "r.jsonl", stopwords={"The", "IS", "a", "there"}, target="gold",
        show_progress=False, **RUN,
    )  # fmt: skip
    examples = load_examples(TASK, "train", task_options=TASK_OPTIONS, limit=14)
    for example, record in zip(examples, read_rationale_file(output), strict=True):
        assert not stopwords & set(record.rationale.lower().split())
        assert record.rationale == top_k_own_words(record.words, example.template_spans(), 5, stopwords)


def crash_on_rename_of(shard_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the rename of one shard's temporary file fail, as if the process died between write and rename."""
    real_replace = os.replace

    def replace(source: str | os.PathLike, destination: str | os.PathLike) -> None:
        if Path(destination).name == shard_name:
            raise KeyboardInterrupt(f"killed before renaming {source}")
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", replace)


def count_computed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the number of examples of every shard the stage computes."""
    sizes: list[int] = []
    real = stage_module.rationale_records

    def counting(model, tokenizer, examples, **options):
        sizes.append(len(examples))
        return real(model, tokenizer, examples, **options)

    monkeypatch.setattr(stage_module, "rationale_records", counting)
    return sizes


def test_crash_between_write_and_rename_then_resume_gives_identical_bytes(
    teacher: Path, reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "rationales.jsonl"
    shards = shards_dir_for(output)
    with monkeypatch.context() as patch:
        crash_on_rename_of("shard-000001.jsonl", patch)
        with pytest.raises(KeyboardInterrupt):
            generate_rationales(teacher, TASK, "train", output, show_progress=False, **RUN)
    assert (shards / "shard-000000.jsonl").is_file()
    assert not (shards / "shard-000001.jsonl").exists()  # written in full, never renamed
    assert not output.exists()
    # An interrupt cleans up its temporary file; a SIGKILL would leave one, half written: plant that.
    (shards / "shard-000001.jsonl.tmp").write_bytes(b'{"id": "half a rec')

    computed = count_computed(monkeypatch)
    generate_rationales(teacher, TASK, "train", output, show_progress=False, **RUN)
    assert computed == [5, 4]  # shard 0 was reused; shards 1 and 2 computed
    assert output.read_bytes() == reference.read_bytes()
    assert not shards.exists()


def test_a_run_folder_moved_whole_mid_run_resumes(
    teacher: Path, reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runner's layout (teacher and rationales in one run folder): moving the folder while a rationale
    job is interrupted must not turn its finished shards stale."""
    run = tmp_path / "run"
    shutil.copytree(teacher, run / "teacher")
    output = run / "rationales" / "train.jsonl"
    with monkeypatch.context() as patch:
        crash_on_rename_of("shard-000001.jsonl", patch)
        with pytest.raises(KeyboardInterrupt):
            generate_rationales(run / "teacher", TASK, "train", output, show_progress=False, **RUN)
    moved = tmp_path / "elsewhere" / "run"
    moved.parent.mkdir()
    shutil.move(run, moved)  # a rename keeps the files' sizes and mtimes, as `mv` does

    computed = count_computed(monkeypatch)
    moved_output = moved / "rationales" / "train.jsonl"
    generate_rationales(moved / "teacher", TASK, "train", moved_output, show_progress=False, **RUN)
    assert computed == [5, 4]  # shard 0 was reused
    assert moved_output.read_bytes() == reference.read_bytes()
    # Another folder of the same name and files, elsewhere, is another teacher.
    with monkeypatch.context() as patch:
        crash_on_rename_of("shard-000001.jsonl", patch)
        with pytest.raises(KeyboardInterrupt):
            generate_rationales(moved / "teacher", TASK, "train", output, show_progress=False, **RUN)
    other = shutil.copytree(teacher, tmp_path / "other" / "teacher")
    with pytest.raises(StaleShardsError, match=r"model: "):
        generate_rationales(other, TASK, "train", output, show_progress=False, **RUN)


def test_changed_settings_refuse_old_shards_until_overwrite(
    teacher: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "rationales.jsonl"
    with monkeypatch.context() as patch:
        crash_on_rename_of("shard-000001.jsonl", patch)
        with pytest.raises(KeyboardInterrupt):
            generate_rationales(teacher, TASK, "train", output, show_progress=False, **RUN)
    with pytest.raises(StaleShardsError, match=r"k: 5 -> 3"):
        generate_rationales(teacher, TASK, "train", output, k=3, show_progress=False, **RUN)
    with pytest.raises(StaleShardsError, match=r"examples_sha256.*n_examples: 14 -> 13"):
        generate_rationales(teacher, TASK, "train", output, show_progress=False, **{**RUN, "limit": 13})

    computed = count_computed(monkeypatch)
    generate_rationales(teacher, TASK, "train", output, k=3, overwrite=True, show_progress=False, **RUN)
    assert computed == [5, 5, 4]  # started over
    assert {record.k for record in read_rationale_file(output)} == {3}


def test_a_shard_holding_other_examples_is_refused(
    teacher: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "rationales.jsonl"
    with monkeypatch.context() as patch:
        crash_on_rename_of("shard-000001.jsonl", patch)
        with pytest.raises(KeyboardInterrupt):
            generate_rationales(teacher, TASK, "train", output, show_progress=False, **RUN)
    first = shards_dir_for(output) / "shard-000000.jsonl"
    lines = first.read_text(encoding="utf-8").splitlines(keepends=True)
    first.write_text("".join(reversed(lines)), encoding="utf-8")
    with pytest.raises(DataError, match=r"shard-000000\.jsonl.*delete this shard"):
        generate_rationales(teacher, TASK, "train", output, show_progress=False, **RUN)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"k": 0}, "k must be >= 1"),
        ({"method": "gradcam"}, "unknown method 'gradcam'"),
        ({"target": "gold-ish"}, "unknown target"),
        ({"dtype": "int8"}, "unknown dtype"),
        ({"shard_size": 0}, "shard_size must be >= 1"),
    ],
)
def test_bad_options_fail_before_any_work(teacher: Path, tmp_path: Path, options: dict, message: str) -> None:
    output = tmp_path / "rationales.jsonl"
    with pytest.raises(ValueError, match=message):
        generate_rationales(teacher, TASK, "train", output, show_progress=False, **{**RUN, **options})
    assert not shards_dir_for(output).exists()


def test_cli_writes_the_same_file_and_reports_speed(
    teacher: Path, reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "cli.jsonl"
    argv = ["rationales", "--model", str(teacher), "--task", TASK, "--task-option", "size=40", "--split"]
    argv += ["train", "--output", str(output), "--limit", "14", "--shard-size", "5", "--batch-size", "3"]
    argv += ["--method-option", "max_new_tokens=8", "--no-progress"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(output)
    assert "14 computed" in captured.err and "examples/s" in captured.err
    assert output.read_bytes() == reference.read_bytes()
    assert main(argv) == 0
    assert "is up to date" in capsys.readouterr().err


def test_a_finished_output_is_reused_only_while_settings_and_bytes_match(
    teacher: Path, reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "again.jsonl"
    generate_rationales(teacher, TASK, "train", output, show_progress=False, **RUN)
    loads = []
    real_load_teacher = stage_module.load_teacher

    def counting_load_teacher(*args, **kwargs):
        loads.append(args)
        return real_load_teacher(*args, **kwargs)

    monkeypatch.setattr(stage_module, "load_teacher", counting_load_teacher)
    generate_rationales(teacher, TASK, "train", output, show_progress=False, **RUN)
    assert loads == [], "an up-to-date output must not be recomputed"
    assert output.read_bytes() == reference.read_bytes()

    generate_rationales(teacher, TASK, "train", output, show_progress=False, **{**RUN, "max_new_tokens": 7})
    assert len(loads) == 1, "other settings must recompute"
    generate_rationales(teacher, TASK, "train", output, show_progress=False, **RUN)
    assert len(loads) == 2 and output.read_bytes() == reference.read_bytes()

    output.write_bytes(output.read_bytes().replace(b'"id"', b'"id" ', 1))  # edited by hand
    generate_rationales(teacher, TASK, "train", output, show_progress=False, **RUN)
    assert len(loads) == 3 and output.read_bytes() == reference.read_bytes()
    generate_rationales(teacher, TASK, "train", output, show_progress=False, overwrite=True, **RUN)
    assert len(loads) == 4


def test_stopword_file_skips_blank_and_comment_lines(tmp_path: Path) -> None:
    path = tmp_path / "stop.txt"
    path.write_text("# articles\nthe\n\n  a \nis\n", encoding="utf-8")
    assert read_stopwords(path) == ["the", "a", "is"]


def test_key_value_options_are_read_as_json_when_they_parse() -> None:
    parsed = parse_key_values(["n_steps=32", "baseline=pad", "scale=0.5", "flag=true"], "--method-option")
    assert parsed == {"n_steps": 32, "baseline": "pad", "scale": 0.5, "flag": True}
    with pytest.raises(TokendistillError, match="KEY=VALUE"):
        parse_key_values(["n_steps"], "--method-option")


def test_a_split_without_examples_is_refused_before_writing(teacher: Path, tmp_path: Path) -> None:
    """An empty rationale file reported success and failed only in the student that read it."""
    output = tmp_path / "rationales.jsonl"
    with pytest.raises(TaskError, match=r"split 'train' has no examples to explain \(limit 0\)"):
        generate_rationales(teacher, TASK, "train", output, show_progress=False, **{**RUN, "limit": 0})
    assert not output.exists() and not shards_dir_for(output).exists()
