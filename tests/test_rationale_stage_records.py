"""The rationale file format and the shard machinery under it (no model needed)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tokendistill.attribution.records import (
    RationaleRecord,
    rationales_by_id,
    read_rationale_file,
    write_rationale_file,
)
from tokendistill.attribution.sharding import (
    StaleShardsError,
    check_manifest,
    merge_shards,
    plan_shards,
    prepare_shards_dir,
    shards_of_process,
)
from tokendistill.attribution.words import WordScore
from tokendistill.data.errors import DataError
from tokendistill.files import atomic_writer, write_atomically


def make_record(id: str = "ex-1", rationale: str = "red box") -> RationaleRecord:
    words = (WordScore("the", 0, 3, 0.25), WordScore("red", 4, 7, 1.5), WordScore("box", 8, 11, 0.125))
    return RationaleRecord(id, "entailment", "saliency", 2, words, rationale)


def good_line() -> dict:
    return json.loads(make_record().to_json())


def test_record_line_has_the_documented_fields_in_order() -> None:
    line = make_record().to_json()
    assert "\n" not in line
    obj = json.loads(line)
    assert list(obj) == ["id", "target", "method", "k", "words", "rationale"]
    assert obj["words"][1] == {"text": "red", "start": 4, "end": 7, "score": 1.5}


def test_write_then_read_gives_the_records_back(tmp_path: Path) -> None:
    records = [make_record("a", "red box"), make_record("b", "the box")]
    path = write_rationale_file(tmp_path / "sub" / "r.jsonl", records)
    assert read_rationale_file(path) == records
    assert rationales_by_id(path) == {"a": "red box", "b": "the box"}
    assert path.read_text(encoding="utf-8").count("\n") == 2


def test_non_ascii_text_is_written_as_is(tmp_path: Path) -> None:
    record = RationaleRecord("é", "naïve", "saliency", 1, (WordScore("naïve", 0, 5, 1.0),), "naïve")
    path = write_rationale_file(tmp_path / "r.jsonl", [record])
    assert "naïve" in path.read_text(encoding="utf-8")
    assert read_rationale_file(path) == [record]


def test_non_finite_score_is_refused_on_write() -> None:
    record = RationaleRecord("x", "t", "saliency", 1, (WordScore("a", 0, 1, float("nan")),), "a")
    with pytest.raises(ValueError, match=r"'x'.*not finite"):
        record.to_json()


def _set(obj: dict, dotted: str, value: object) -> dict:
    *parents, last = dotted.replace("[", ".").replace("]", "").split(".")
    target = obj
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return obj


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("rationale", KeyError, "missing"),
        ("k", True, "expected int"),
        ("k", 0, "must be >= 1"),
        ("id", 7, "expected str"),
        ("words", "red box", "expected list"),
        ("words[1].score", "high", "expected float"),
        ("words[1].score", float("nan"), "finite"),
        ("words[0].start", 5, "start <= end"),
        ("words[2].colour", "red", "unknown field"),
        ("extra", 1, "unknown field"),
    ],
)
def test_bad_line_names_file_line_and_field(tmp_path: Path, field: str, value: object, message: str) -> None:
    bad = _set(good_line(), field, value)
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(good_line()) + "\n\n" + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=message) as caught:
        read_rationale_file(path)
    assert (caught.value.path, caught.value.line, caught.value.field) == (str(path), 3, field)


def test_bad_json_and_non_object_lines(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"r.jsonl:1: not valid JSON"):
        read_rationale_file(path)
    path.write_text("[1, 2]\n", encoding="utf-8")
    with pytest.raises(DataError, match="expected a JSON object"):
        read_rationale_file(path)


def test_bytes_that_are_not_utf8_name_their_line(tmp_path: Path) -> None:
    """A DataError (one line on the command line), not a UnicodeDecodeError traceback."""
    path = write_rationale_file(tmp_path / "r.jsonl", [make_record("a"), make_record("b")])
    path.write_bytes(path.read_bytes().replace(b'"b"', b'"\xe9"'))
    with pytest.raises(DataError, match=r"r\.jsonl:2: not UTF-8 text") as caught:
        read_rationale_file(path)
    assert caught.value.field is None
    gzipped = tmp_path / "r.jsonl.gz"
    gzipped.write_bytes(gzip.compress(path.read_bytes()))
    with pytest.raises(DataError, match=r"r\.jsonl\.gz:1: not UTF-8 text \(a gzipped file\?"):
        read_rationale_file(gzipped)


def test_duplicate_id_is_an_error_for_the_student(tmp_path: Path) -> None:
    path = write_rationale_file(tmp_path / "r.jsonl", [make_record("a"), make_record("b"), make_record("a")])
    with pytest.raises(DataError, match=r"duplicate id 'a' \(first on line 1\)") as caught:
        rationales_by_id(path)
    assert (caught.value.line, caught.value.field) == (3, "id")


# ------------------------------------------------------------------------------------------------ shards


@pytest.mark.parametrize(("n", "size"), [(0, 3), (1, 3), (9, 3), (10, 3), (10, 100)])
def test_shards_cover_every_example_once_in_order(tmp_path: Path, n: int, size: int) -> None:
    shards = plan_shards(n, size, tmp_path)
    covered = [i for shard in shards for i in range(shard.start, shard.stop)]
    assert covered == list(range(n))
    assert all(0 < shard.stop - shard.start <= size for shard in shards)
    assert len({shard.path for shard in shards}) == len(shards)


def test_each_shard_goes_to_exactly_one_process(tmp_path: Path) -> None:
    shards = plan_shards(23, 2, tmp_path)
    shares = [shards_of_process(shards, rank, 3) for rank in range(3)]
    assert sorted(shard.index for share in shares for shard in share) == list(range(len(shards)))
    assert [shard.index for shard in shares[1]] == [1, 4, 7, 10]


def test_shard_size_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="shard_size"):
        plan_shards(5, 0, tmp_path)


def test_atomic_writer_leaves_the_old_file_when_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write_atomically(path, b"old\n")
    with pytest.raises(RuntimeError), atomic_writer(path) as handle:
        handle.write(b"half of the new")
        raise RuntimeError("killed")
    assert path.read_bytes() == b"old\n"
    write_atomically(path, b"new\n")  # a stale temporary file does not get in the way
    assert path.read_bytes() == b"new\n"
    assert not path.with_name("out.jsonl.tmp").exists()


def test_merge_concatenates_shards_in_order(tmp_path: Path) -> None:
    shards = plan_shards(5, 2, tmp_path / "s")
    (tmp_path / "s").mkdir()
    for shard in reversed(shards):
        write_atomically(shard.path, "".join(f"{i}\n" for i in range(shard.start, shard.stop)).encode())
    merge_shards(shards, tmp_path / "out" / "all.txt")
    assert (tmp_path / "out" / "all.txt").read_text() == "0\n1\n2\n3\n4\n"


def test_manifest_refuses_other_settings_until_overwrite(tmp_path: Path) -> None:
    folder = tmp_path / "out.jsonl.shards"
    settings = {"method": "saliency", "k": 5, "n": [1, 2]}
    prepare_shards_dir(folder, settings, overwrite=False)
    write_atomically(folder / "shard-000000.jsonl", b"x\n")
    prepare_shards_dir(folder, dict(settings), overwrite=False)  # same settings: resume, shard kept
    assert (folder / "shard-000000.jsonl").exists()

    changed = {**settings, "k": 3}
    with pytest.raises(StaleShardsError, match=r"k: 5 -> 3.*overwrite"):
        check_manifest(folder, changed)
    with pytest.raises(StaleShardsError):
        prepare_shards_dir(folder, changed, overwrite=False)
    prepare_shards_dir(folder, changed, overwrite=True)
    assert not (folder / "shard-000000.jsonl").exists()
    check_manifest(folder, changed)


def test_shards_without_a_manifest_are_not_trusted(tmp_path: Path) -> None:
    folder = tmp_path / "out.jsonl.shards"
    folder.mkdir()
    (folder / "shard-000000.jsonl").write_bytes(b"x\n")
    with pytest.raises(StaleShardsError, match=r"no manifest\.json"):
        check_manifest(folder, {"k": 5})


def test_overwrite_empties_only_a_shard_folder_a_job_wrote(tmp_path: Path) -> None:
    folder = tmp_path / "out.jsonl.shards"
    settings = {"method": "saliency", "k": 5}
    prepare_shards_dir(folder, settings, overwrite=False)
    write_atomically(folder / "shard-000000.jsonl", b"x\n")
    (folder / "shard-000001.jsonl.tmp").write_bytes(b"half")  # what a kill mid-write leaves
    prepare_shards_dir(folder, settings, overwrite=True)
    assert sorted(entry.name for entry in folder.iterdir()) == ["manifest.json"]

    (folder / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match=r"out\.jsonl\.shards.*notes\.txt"):
        prepare_shards_dir(folder, settings, overwrite=True)
    assert (folder / "notes.txt").read_text() == "mine"
