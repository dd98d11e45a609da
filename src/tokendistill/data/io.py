"""Line-aware readers for JSON Lines (plain or gzipped) and CSV, and the row checks every loader shares.

Every record keeps where it came from (file and line, or Hub dataset and row), so a bad value stops
loading with a ``DataError`` that names the file, the line and the field. Loaders build their examples
through ``collect_examples``, which either raises on the first bad row or skips bad rows and counts them.

A damaged file is not a bad row: a truncated or corrupt ``.gz`` and a CSV quote that is never closed make
every later row unreadable, so they always raise (even when bad rows are skipped) rather than leave a
silently shorter dataset. Only what is yielded as a ``DataError`` may be skipped.
"""

from __future__ import annotations

import csv
import gzip
import json
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from tokendistill.data.errors import DataError
from tokendistill.data.example import Example

Format = Literal["jsonl", "csv"]
_FORMATS: dict[str, Format] = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


def detect_format(path: Path) -> Format:
    """The record format named by the file's extension (``.gz`` is looked through)."""
    suffixes = path.suffixes[:-1] if path.suffix == ".gz" else path.suffixes[-1:]
    suffix = suffixes[-1].lower() if suffixes else ""
    if suffix not in _FORMATS:
        known = ", ".join(sorted(_FORMATS))
        raise DataError(
            path, None, None, f"unknown file type {suffix or '(none)'!r}; use one of {known} (optionally .gz)"
        )
    return _FORMATS[suffix]


def open_binary(path: Path) -> IO[bytes]:
    """Open ``path`` for reading bytes, decompressing it when its name ends in ``.gz``.

    A folder is refused by name; read through ``read_lines`` or ``read_json`` so that a damaged ``.gz`` is
    reported as a ``DataError`` too.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(path, None, None, "is a folder, not a data file")
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


# What gzip raises for a truncated stream (EOFError), a bad header or CRC (BadGzipFile, an OSError) or bad
# deflate data (zlib.error).
_GZIP_ERRORS = (EOFError, zlib.error, OSError)


def damaged_gzip(path: Path, line: int | None, error: BaseException) -> DataError:
    """The error for a ``.gz`` that cannot be decompressed; ``line``: the first line that was not read."""
    return DataError(
        path,
        line,
        None,
        f"damaged gzip file ({error}); it is truncated or corrupt, so --skip-bad-rows cannot skip it: "
        "replace the file",
    )


def read_lines(path: Path) -> Iterator[bytes]:
    """The raw lines of ``path`` (decompressed when ``.gz``); a damaged ``.gz`` raises ``DataError``.

    Lines read before the damage are yielded; the error names the first line that could not be read.
    """
    path = Path(path)
    with open_binary(path) as handle:
        count = 0
        while True:
            try:
                raw = handle.readline()
            except _GZIP_ERRORS as error:
                if path.suffix != ".gz":
                    raise
                raise damaged_gzip(path, count + 1, error) from error
            if not raw:
                return
            count += 1
            yield raw


def read_json(path: Path) -> Any:
    """Parse a whole (optionally gzipped) JSON document, such as the DSS PaLM output arrays."""
    path = Path(path)
    with open_binary(path) as handle:
        try:
            data = handle.read()
        except _GZIP_ERRORS as error:
            if path.suffix != ".gz":
                raise
            raise damaged_gzip(path, None, error) from error
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        line = getattr(error, "lineno", None)
        raise DataError(path, line, None, f"malformed JSON: {error}") from error


@dataclass(frozen=True)
class Row:
    """One input record plus where it came from; its accessors raise ``DataError`` naming the field.

    ``prefix`` names the enclosing field of a nested record (``"question."``), so errors say
    ``question.stem`` rather than just ``stem``.
    """

    source: str
    line: int
    record: Mapping[str, Any]
    prefix: str = ""

    def error(self, field: str | None, problem: str) -> DataError:
        return DataError(self.source, self.line, None if field is None else self.prefix + field, problem)

    def value(self, field: str) -> Any:
        if field not in self.record or self.record[field] is None:
            raise self.error(field, "missing field")
        return self.record[field]

    def text(self, field: str) -> str:
        """A non-empty string field."""
        value = self.value(field)
        if not isinstance(value, str):
            raise self.error(field, f"expected text, got {type(value).__name__}")
        if not value.strip():
            raise self.error(field, "empty text")
        return value

    def label(self, field: str, allowed: Sequence[Any]) -> Any:
        """A field whose value must be one of ``allowed`` (same type too, so ``True`` is not ``1``)."""
        value = self.value(field)
        if not any(type(value) is type(option) and value == option for option in allowed):
            expected = ", ".join(repr(option) for option in allowed)
            raise self.error(field, f"unknown label {value!r}; expected one of {expected}")
        return value

    def nested(self, field: str) -> Row:
        """The JSON object in ``field`` as a row of its own (same source and line)."""
        value = self.value(field)
        if not isinstance(value, Mapping):
            raise self.error(field, f"expected an object, got {type(value).__name__}")
        return Row(self.source, self.line, value, f"{self.prefix}{field}.")


def iter_rows(path: Path, format: Format | None = None) -> Iterator[Row | DataError]:
    """The records of a JSON Lines or CSV file, in order; a line that cannot be read yields its error.

    Yielding the error instead of raising it lets a caller skip a malformed line and go on reading. What
    would lose more than its own line (a damaged ``.gz``, a CSV quote never closed) is raised instead, so
    no caller can skip it by accident. Blank lines in JSON Lines hold no record and are passed over.
    ``format`` overrides the extension (the DSS ``*.json`` files are JSON Lines despite their name).
    """
    path = Path(path)
    if (format or detect_format(path)) == "csv":
        yield from _csv_rows(path)
    else:
        yield from _jsonl_rows(path)


def read_records(path: Path, format: Format | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` for each record of ``path``; raises ``DataError`` on a malformed line."""
    for row in iter_rows(path, format):
        if isinstance(row, DataError):
            raise row
        yield row.line, dict(row.record)


def _jsonl_rows(path: Path) -> Iterator[Row | DataError]:
    for line_number, raw in enumerate(read_lines(path), start=1):
        try:
            # A byte order mark (Windows editors write one) opens the file, not its first record.
            text = raw.decode("utf-8-sig" if line_number == 1 else "utf-8")
        except UnicodeDecodeError as error:
            yield DataError(path, line_number, None, f"not UTF-8 text: {error}")
            continue
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            yield DataError(path, line_number, None, f"malformed JSON: {error.msg} (column {error.colno})")
            continue
        if not isinstance(record, dict):
            yield DataError(path, line_number, None, f"expected a JSON object, got {type(record).__name__}")
            continue
        yield Row(str(path), line_number, record)


def _csv_rows(path: Path) -> Iterator[Row | DataError]:
    """CSV records; a quoted field may span lines, so each record is reported by the line it starts on.

    The reader is strict, so a quote that is never closed (which would otherwise swallow every later row
    into one field) or text after a closing quote is an error. Within one line it is a bad row like any
    other; across lines, as is a record that spans several lines and has the wrong number of values, a
    stray quote has joined rows, and skipping the record would lose more rows than it counts: that raises,
    naming the line where the quote opened.
    """
    lines = _csv_text_lines(path)
    try:
        reader = csv.reader(lines, strict=True)
        try:
            header = next(reader, None)
        except csv.Error as error:
            raise DataError(path, 1, None, f"unreadable CSV header: {error}") from error
        if header is None:
            return
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if duplicates:
            raise DataError(path, 1, None, f"duplicate column names {duplicates}")
        while True:
            start = reader.line_num + 1  # a quoted field may span lines: report where the record starts
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                if reader.line_num == start:  # the reader dropped this line only and goes on at the next
                    yield DataError(path, start, None, f"broken CSV quoting: {error}")
                    continue
                raise DataError(path, start, None, _broken_quote(error, reader.line_num)) from error
            if not values:
                continue
            if len(values) != len(header):
                count = f"{len(values)} values but the header has {len(header)} columns"
                if reader.line_num > start:
                    joined = f"a quoted field opened on this line runs to line {reader.line_num}"
                    raise DataError(path, start, None, f"{count}: {joined}; {_UNSKIPPABLE_QUOTE}")
                yield DataError(path, start, None, count)
                continue
            yield Row(str(path), start, dict(zip(header, values, strict=True)))
    finally:
        lines.close()


def _csv_text_lines(path: Path) -> Iterator[str]:
    """The lines of a CSV file as text, split where ``open(newline="")`` splits them (``\\r\\n``, ``\\n``
    or ``\\r``, kept at the line's end), so that ``csv.reader``'s line count is the file's.

    Each line is decoded on its own (UTF-8 bytes never contain a line break), so text that is not UTF-8
    raises a ``DataError`` naming its own line, not the line where a block of text starts. It cannot be
    skipped: the line may be part of a quoted field that spans lines. A byte order mark opening the file is
    dropped.
    """
    number = 0
    for raw in read_lines(path):
        for piece in raw.splitlines(keepends=True):
            number += 1
            try:
                yield piece.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                raise DataError(path, number, None, f"not UTF-8 text: {error}") from error


def _broken_quote(error: csv.Error, end_line: int) -> str:
    if "unexpected end of data" in str(error):
        where = f"is never closed (the record runs to the end of the file, line {end_line})"
    else:
        where = f"is broken ({error}, line {end_line})"
    return f"a quote opened on this line {where}; {_UNSKIPPABLE_QUOTE}"


_UNSKIPPABLE_QUOTE = (
    "the rows it joined cannot be told apart, so --skip-bad-rows cannot skip it: fix the quoting"
)


def collect_examples(
    rows: Iterable[Row | DataError],
    build: Callable[[Row], Example],
    *,
    skip_bad_rows: bool,
    id_field: str | None = None,
) -> tuple[list[Example], int]:
    """Build one example per row; return the examples and how many bad rows were skipped.

    A row is bad when it cannot be read, when ``build`` raises ``DataError`` or when its id repeats an
    earlier one (ids key rationale files, so they must be unique). Without ``skip_bad_rows`` the first
    bad row raises its error.
    """
    examples: list[Example] = []
    first_line: dict[str, int] = {}
    skipped = 0
    for row in rows:
        try:
            if isinstance(row, DataError):
                raise row
            example = build(row)
            if example.id in first_line:
                raise row.error(
                    id_field, f"duplicate id {example.id!r} (first on line {first_line[example.id]})"
                )
        except DataError:
            if not skip_bad_rows:
                raise
            skipped += 1
            continue
        first_line[example.id] = row.line
        examples.append(example)
    return examples, skipped
