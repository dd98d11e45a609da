"""Bad input stops loading with an error naming file, line and field; ``skip_bad_rows`` skips and counts."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tokendistill.data.errors import DataError
from tokendistill.data.io import detect_format, read_records
from tokendistill.data.tasks import get_task

GOOD = {"id": "a", "premise": "A dog runs.", "hypothesis": "An animal moves.", "label": "entailment"}


def write_lines(path: Path, lines: list[str]) -> Path:
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def user_task(path: Path, **options):
    return get_task(
        "jsonl",
        input_fields=["premise", "hypothesis"],
        target_field="label",
        id_field="id",
        labels=["entailment", "neutral", "contradiction"],
        files={"train": path},
        **options,
    )


def record(**changes) -> str:
    return json.dumps({**GOOD, **changes})


@pytest.mark.parametrize(
    ("bad_line", "field", "problem"),
    [
        ('{"id": "b", "premise": "unterminated', None, "malformed JSON"),
        ('["a", "list"]', None, "expected a JSON object, got list"),
        (
            json.dumps({k: v for k, v in GOOD.items() if k != "hypothesis"} | {"id": "b"}),
            "hypothesis",
            "missing field",
        ),
        (record(id="b", label="maybe"), "label", "unknown label 'maybe'"),
        (record(id="b", premise="   "), "premise", "empty text"),
        (record(id="b", premise=7), "premise", "expected text, got int"),
        (record(id="b", label=None), "label", "missing field"),
        (record(id="a"), "id", "duplicate id 'a' (first on line 1)"),
    ],
)
@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_bad_jsonl_row_names_file_line_and_field(tmp_path: Path, suffix, bad_line, field, problem) -> None:
    path = write_lines(tmp_path / f"data{suffix}", [record(), bad_line, record(id="c")])
    with pytest.raises(DataError) as caught:
        user_task(path).load("train")
    error = caught.value
    assert (error.path, error.line, error.field) == (str(path), 2, field)
    assert problem in error.problem
    assert str(error).startswith(f"{path}:2:")

    task = user_task(path)
    examples = task.load("train", skip_bad_rows=True)
    assert [example.id for example in examples] == ["a", "c"]
    assert task.last_skipped == 1


def test_csv_rows_report_the_line_a_record_starts_on(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text(
        "id,premise,hypothesis,label\n"
        'a,"A dog\nruns.",An animal moves.,entailment\n'  # a quoted field spanning two lines
        "b,A cat sleeps.,,neutral\n",
        encoding="utf-8",
    )
    with pytest.raises(DataError) as caught:
        user_task(path).load("train")
    assert (caught.value.line, caught.value.field, caught.value.problem) == (4, "hypothesis", "empty text")
    task = user_task(path)
    (example,) = task.load("train", skip_bad_rows=True)
    assert example.source == "A dog\nruns.</s>An animal moves." and task.last_skipped == 1


def test_csv_row_with_the_wrong_number_of_values(tmp_path: Path) -> None:
    path = tmp_path / "data.csv.gz"
    write_lines(path, ["id,premise,hypothesis,label", "a,p,h,neutral,extra", "b,p,h,neutral"])
    with pytest.raises(DataError, match=r"data\.csv\.gz:2: 5 values but the header has 4 columns"):
        user_task(path).load("train")
    task = user_task(path)
    assert [example.id for example in task.load("train", skip_bad_rows=True)] == ["b"]
    assert task.last_skipped == 1


def test_csv_duplicate_columns_are_refused(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "data.csv", ["id,label,label", "a,x,y"])
    with pytest.raises(DataError, match=r"data\.csv:1: duplicate column names \['label'\]"):
        list(read_records(path))


def test_blank_lines_hold_no_record(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "data.jsonl", [record(), "", "  ", record(id="b")])
    assert [line for line, _ in read_records(path)] == [1, 4]


def test_non_utf8_line(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes(record().encode() + b"\n" + b'{"id": "\xff"}\n')
    with pytest.raises(DataError, match=r"data\.jsonl:2: not UTF-8 text"):
        list(read_records(path))


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_non_utf8_csv_line_is_named_by_its_own_line(tmp_path: Path, suffix: str) -> None:
    """Not the header's line (text is decoded a block at a time), nor a line before it."""
    rows = [f"{i},p,h,neutral" for i in range(1, 1501)]
    lines = ["id,premise,hypothesis,label", *rows[:1200], "x,caf\xe9,h,neutral", *rows[1200:]]
    data = "".join(line + "\n" for line in lines).encode("latin-1")
    path = tmp_path / f"data{suffix}"
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    with pytest.raises(DataError) as caught:
        list(read_records(path))
    assert (caught.value.line, caught.value.field) == (1202, None)
    assert caught.value.problem.startswith("not UTF-8 text:")


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_csv_line_endings_and_a_byte_order_mark(tmp_path: Path, newline: str) -> None:
    path = tmp_path / "data.csv"
    text = newline.join(
        ["id,premise,hypothesis,label", 'a,"A dog' + newline + 'runs.",h,neutral', "b,p,h,x", ""]
    )
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert list(read_records(path)) == [
        (2, {"id": "a", "premise": f"A dog{newline}runs.", "hypothesis": "h", "label": "neutral"}),
        (4, {"id": "b", "premise": "p", "hypothesis": "h", "label": "x"}),
    ]


def test_jsonl_byte_order_mark_is_not_a_bad_row(tmp_path: Path) -> None:
    """Accepted, as in CSV; it used to make line 1 malformed JSON (a row lost under skip_bad_rows)."""
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + f"{record()}\n{record(id='b')}\n".encode())
    task = user_task(path)
    assert [example.id for example in task.load("train", skip_bad_rows=True)] == ["a", "b"]
    assert task.last_skipped == 0


def test_read_records_yields_line_numbers_and_records(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "data.jsonl.gz", [record(), record(id="b")])
    assert list(read_records(path)) == [(1, GOOD), (2, GOOD | {"id": "b"})]


def test_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"unknown file type '\.txt'"):
        detect_format(tmp_path / "data.txt")
    with pytest.raises(DataError, match="unknown file type"):
        user_task(tmp_path / "data.parquet")
    assert detect_format(Path("x.CSV.gz")) == "csv"


def test_staged_benchmark_files_get_the_same_checks(tmp_path: Path) -> None:
    """A folder laid out like the shared data folder, with a bad label on line 2 of anli1/valid.jsonl.gz."""
    good = {"uid": "u1", "premise": "P.", "hypothesis": "H.", "label": 0, "reason": "r"}
    path = tmp_path / "anli1" / "valid.jsonl.gz"
    path.parent.mkdir()
    write_lines(
        path,
        [json.dumps(good), json.dumps(good | {"uid": "u2", "label": 3}), json.dumps(good | {"uid": "u3"})],
    )
    task = get_task("anli1")
    with pytest.raises(DataError) as caught:
        task.load("validation", tmp_path)
    assert (caught.value.path, caught.value.line, caught.value.field) == (str(path), 2, "label")
    assert "unknown label 3" in caught.value.problem
    assert [example.id for example in task.load("validation", tmp_path, skip_bad_rows=True)] == ["u1", "u3"]
    assert task.last_skipped == 1


def test_a_boolean_is_not_an_nli_label(tmp_path: Path) -> None:
    path = tmp_path / "esnli" / "test.jsonl.gz"
    path.parent.mkdir()
    write_lines(path, [json.dumps({"premise": "P.", "hypothesis": "H.", "label": True})])
    with pytest.raises(DataError, match="field 'label': unknown label True"):
        get_task("esnli").load("test", tmp_path)


def test_nested_cqa_field_errors_name_the_path(tmp_path: Path) -> None:
    choices = [{"label": label, "text": f"choice {label}"} for label in "ABCDE"]
    choices[2]["text"] = ""
    row = {
        "answerKey": "A",
        "id": "q1",
        "question": {"question_concept": "c", "choices": choices, "stem": "Why?"},
    }
    path = tmp_path / "cqa" / "valid.jsonl.gz"
    path.parent.mkdir()
    write_lines(path, [json.dumps(row)])
    with pytest.raises(DataError) as caught:
        get_task("cqa").load("test", tmp_path)
    assert (caught.value.line, caught.value.field, caught.value.problem) == (
        1,
        "question.choices[2].text",
        "empty text",
    )
