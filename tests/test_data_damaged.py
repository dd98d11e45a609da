"""Damaged input files: a ``.gz`` that is truncated, not gzip at all or fails its CRC, and CSV quoting that
joins rows. Each stops loading with one error naming the file and line, also under ``--skip-bad-rows``:
rows a damaged file hides cannot be counted, so skipping them would give a silently shorter dataset.
"""

from __future__ import annotations

import gzip
import json
import shutil
import zlib
from pathlib import Path

import pytest

from tokendistill.cli import EXIT_USER_ERROR, main
from tokendistill.data.errors import DataError
from tokendistill.data.io import read_json, read_records
from tokendistill.data.palm import load_palm_rationales
from tokendistill.data.tasks import get_task

DAMAGES = ("truncated", "not-gzip", "bad-crc")


def damage(path: Path, how: str) -> int:
    """Damage the gzip file ``path`` in place; return the first line that can no longer be read."""
    data = path.read_bytes()
    text = gzip.decompress(data)
    if how == "truncated":
        kept = data[: len(data) // 2]
        path.write_bytes(kept)
        readable = zlib.decompressobj(wbits=31).decompress(kept)  # all a reader can get before the cut
        return readable.count(b"\n") + 1
    if how == "not-gzip":
        path.write_bytes(text)  # plain text under a .gz name
        return 1
    crc = bytearray(data)
    crc[-8] ^= (
        0xFF  # the trailer is CRC32 then the length; every line decompresses, the check fails at the end
    )
    path.write_bytes(bytes(crc))
    return text.count(b"\n") + 1


@pytest.fixture
def svamp_copy(shared_data: Path, tmp_path: Path) -> Path:
    """A data folder holding a copy of the shared svamp/all.jsonl.gz (1,000 lines)."""
    (tmp_path / "data" / "svamp").mkdir(parents=True)
    shutil.copy(shared_data / "svamp" / "all.jsonl.gz", tmp_path / "data" / "svamp" / "all.jsonl.gz")
    return tmp_path / "data"


def one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert captured.err.startswith("tokendistill: error: ") and captured.err.count("\n") == 1, captured.err
    return captured.err


@pytest.mark.parametrize("skip", [[], ["--skip-bad-rows"]], ids=["strict", "skip-bad-rows"])
@pytest.mark.parametrize("how", DAMAGES)
def test_damaged_gzip_stops_tasks_with_one_line(svamp_copy: Path, how: str, skip: list[str], capsys) -> None:
    path = svamp_copy / "svamp" / "all.jsonl.gz"
    line = damage(path, how)
    assert 1 < line < 1000 if how == "truncated" else line in (1, 1001)
    argv = ["tasks", "--show", "svamp", "--split", "test", "--data-dir", str(svamp_copy), *skip]
    assert main(argv) == EXIT_USER_ERROR
    err = one_line_error(capsys)
    assert err.startswith(f"tokendistill: error: {path}:{line}: damaged gzip file (")
    assert "--skip-bad-rows cannot skip it" in err


def test_debug_shows_the_traceback(svamp_copy: Path, capsys, monkeypatch) -> None:
    damage(svamp_copy / "svamp" / "all.jsonl.gz", "truncated")
    argv = ["--show", "svamp", "--data-dir", str(svamp_copy)]
    for command in (["--debug", "tasks", *argv], ["tasks", *argv, "--debug"]):
        assert main(command) == EXIT_USER_ERROR
        err = capsys.readouterr().err
        assert err.startswith("Traceback") and "EOFError" in err
        assert err.splitlines()[-1].startswith("tokendistill: error: ")
    monkeypatch.setenv("TOKENDISTILL_DEBUG", "1")
    assert main(["tasks", *argv]) == EXIT_USER_ERROR
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.setenv("TOKENDISTILL_DEBUG", "0")
    assert main(["tasks", *argv]) == EXIT_USER_ERROR
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".csv.gz"])
def test_skip_bad_rows_never_skips_a_truncated_file(tmp_path: Path, suffix: str) -> None:
    """A bad row is skipped and counted; the rows a cut-off file no longer holds are an error."""
    rows = [{"id": f"r{i}", "text": f"row {i} " + "words " * (i % 7), "label": "yes"} for i in range(2000)]
    rows[3]["text"] = ""  # one bad row, which --skip-bad-rows does skip
    if suffix == ".csv.gz":
        lines = ["id,text,label"] + [f"{row['id']},{row['text']},{row['label']}" for row in rows]
    else:
        lines = [json.dumps(row) for row in rows]
    path = tmp_path / f"data{suffix}"
    path.write_bytes(gzip.compress("".join(line + "\n" for line in lines).encode()))
    task = get_task("jsonl", input_fields="text", target_field="label", id_field="id", files={"train": path})
    assert len(task.load("train", skip_bad_rows=True)) == 1999 and task.last_skipped == 1

    line = damage(path, "truncated")
    with pytest.raises(DataError, match="damaged gzip file") as caught:
        task.load("train", skip_bad_rows=True)
    assert (caught.value.path, caught.value.line) == (str(path), line)


@pytest.mark.parametrize("how", DAMAGES)
def test_damaged_whole_json_document(shared_data: Path, tmp_path: Path, how: str) -> None:
    """DSS's PaLM output arrays are read whole: the error names the file (a line is not known)."""
    path = tmp_path / "test_CoT_0.json.gz"
    shutil.copy(shared_data / "svamp" / "palm" / "llm" / "test_CoT_0.json.gz", path)
    damage(path, how)
    with pytest.raises(DataError, match="damaged gzip file") as caught:
        read_json(path)
    assert (caught.value.path, caught.value.line) == (str(path), None)


def test_damaged_palm_inputs_name_the_line(shared_data: Path, tmp_path: Path) -> None:
    """The DSS input file of the PaLM rationales is JSON Lines: the error names where reading stopped."""
    shutil.copytree(shared_data / "svamp", tmp_path / "svamp")
    inputs = tmp_path / "svamp" / "palm" / "svamp_test.json.gz"
    line = damage(inputs, "truncated")
    with pytest.raises(DataError, match="damaged gzip file") as caught:
        load_palm_rationales("svamp", "test", tmp_path)
    assert (caught.value.path, caught.value.line) == (str(inputs), line)


# ------------------------------------------------------------------------------------------------ CSV quoting

HEADER = "text,label\n"


def csv_task(path: Path):
    return get_task("jsonl", input_fields="text", target_field="label", files={"test": path})


@pytest.mark.parametrize(
    "rows",
    [
        'r1,a\nr2,"b\nr3,c\nr4,d\nr5,e\n',  # the quote in the last field of row 2 is never closed
        'r1,a\n"r2,b\nr3,c\nr4,d\nr5,e\n',  # ... at the start of row 2
        'r1,a\n"r2,b\nr3,"c\nr4,d\nr5,e\n',  # a second stray quote closes it, followed by text
        'r1,a\n"r2,b\nr3,c"\nr4,d\nr5,e\n',  # closed cleanly, but rows 2 and 3 became one value
    ],
    ids=["last-field", "mid-row", "closed-by-stray-quote", "joined-rows"],
)
@pytest.mark.parametrize("skip", [False, True], ids=["strict", "skip-bad-rows"])
def test_a_quote_that_joins_rows_is_an_error_naming_where_it_opened(tmp_path: Path, rows, skip) -> None:
    path = tmp_path / "data.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    with pytest.raises(DataError, match="quote") as caught:
        csv_task(path).load("test", skip_bad_rows=skip)
    assert (caught.value.path, caught.value.line) == (str(path), 3)
    assert "--skip-bad-rows cannot skip it" in caught.value.problem


def test_unclosed_quote_through_the_command_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "data.csv"
    path.write_text(HEADER + 'r1,a\nr2,"b\nr3,c\nr4,d\nr5,e\n', encoding="utf-8")
    options = json.dumps({"input_fields": "text", "target_field": "label", "files": {"test": str(path)}})
    argv = ["tasks", "--show", "jsonl", "--split", "test", "--options", options, "--skip-bad-rows"]
    assert main(argv) == EXIT_USER_ERROR
    err = one_line_error(capsys)
    assert err.startswith(f"tokendistill: error: {path}:3: a quote opened on this line is never closed")
    assert capsys.readouterr().out == ""  # no "2 examples"


def test_a_stray_quote_within_one_line_is_one_skippable_row(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text(HEADER + 'r1,a\n"r2"x,b\nr3,c\nr4,d\nr5,e\n', encoding="utf-8")
    with pytest.raises(DataError, match="broken CSV quoting") as caught:
        csv_task(path).load("test")
    assert caught.value.line == 3
    task = csv_task(path)
    assert [example.source for example in task.load("test", skip_bad_rows=True)] == ["r1", "r3", "r4", "r5"]
    assert task.last_skipped == 1  # examples + skipped == rows


def test_quoted_fields_spanning_lines_are_still_legal(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text(HEADER + 'r1,a\n"r2, and\nmore",b\n"r3 ""quoted""",c\n', encoding="utf-8")
    assert [(line, record["text"]) for line, record in read_records(path)] == [
        (2, "r1"),
        (3, "r2, and\nmore"),
        (5, 'r3 "quoted"'),
    ]
