"""The rationale file: one JSON line per example with every source word's score and the chosen rationale.

Format (docs/CONTRIBUTING.md): ``{"id": str, "target": str, "method": str, "k": int, "words": [{"text":
str, "start": int, "end": int, "score": float}], "rationale": str}``. ``words`` covers the whole source,
template words included; ``rationale`` is the text the student learns to generate.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokendistill.attribution.words import WordScore
from tokendistill.data.errors import DataError
from tokendistill.files import write_atomically

RECORD_FIELDS = {"id": str, "target": str, "method": str, "k": int, "words": list, "rationale": str}
WORD_FIELDS = {"text": str, "start": int, "end": int, "score": float}


@dataclass(frozen=True)
class RationaleRecord:
    """One line of a rationale file."""

    id: str
    target: str
    method: str
    k: int
    words: tuple[WordScore, ...]
    rationale: str

    def to_json(self) -> str:
        """The record as one JSON line (no newline); raises ``ValueError`` on a non-finite score."""
        record = {
            "id": self.id,
            "target": self.target,
            "method": self.method,
            "k": self.k,
            "words": [{"text": w.text, "start": w.start, "end": w.end, "score": w.score} for w in self.words],
            "rationale": self.rationale,
        }
        try:
            return json.dumps(record, ensure_ascii=False, allow_nan=False)
        except ValueError as error:
            raise ValueError(f"example {self.id!r}: a word score is not finite ({error})") from error


def encode_records(records: Iterable[RationaleRecord]) -> bytes:
    """The bytes of a rationale file holding ``records`` in order."""
    return "".join(record.to_json() + "\n" for record in records).encode("utf-8")


def write_rationale_file(path: str | Path, records: Iterable[RationaleRecord]) -> Path:
    """Write ``records`` to ``path`` atomically (a crash leaves the old file or the new one, never half)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, encode_records(records))
    return path


def _typed(value: Any, kind: type, path: Path, line: int, field: str) -> Any:
    """``value`` if it has JSON type ``kind`` (ints count as floats, bools as neither), else a DataError."""
    accepted = (int, float) if kind is float else kind
    if isinstance(value, bool) or not isinstance(value, accepted):
        raise DataError(path, line, field, f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
    return value


def _parse_word(entry: Any, path: Path, line: int, field: str) -> WordScore:
    if not isinstance(entry, dict):
        raise DataError(path, line, field, f"expected an object, got {type(entry).__name__}")
    _check_keys(entry, WORD_FIELDS, path, line, field)
    text, start, end, score = (
        _typed(entry[name], kind, path, line, f"{field}.{name}") for name, kind in WORD_FIELDS.items()
    )
    if not 0 <= start <= end:
        raise DataError(path, line, f"{field}.start", f"need 0 <= start <= end, got start={start} end={end}")
    if not math.isfinite(score):
        raise DataError(path, line, f"{field}.score", f"score must be finite, got {score!r}")
    return WordScore(text, start, end, float(score))


def _check_keys(obj: dict[str, Any], fields: dict[str, type], path: Path, line: int, prefix: str) -> None:
    dot = f"{prefix}." if prefix else ""
    for name in fields:
        if name not in obj:
            raise DataError(path, line, f"{dot}{name}", "missing")
    for name in obj:
        if name not in fields:
            raise DataError(path, line, f"{dot}{name}", f"unknown field; expected {', '.join(fields)}")


def parse_record(obj: Any, path: Path, line: int) -> RationaleRecord:
    """Check one decoded JSON line against the format and build its record."""
    if not isinstance(obj, dict):
        raise DataError(path, line, None, f"expected a JSON object, got {type(obj).__name__}")
    _check_keys(obj, RECORD_FIELDS, path, line, "")
    values = {name: _typed(obj[name], kind, path, line, name) for name, kind in RECORD_FIELDS.items()}
    if values["k"] < 1:
        raise DataError(path, line, "k", f"must be >= 1, got {values['k']}")
    words = tuple(_parse_word(entry, path, line, f"words[{i}]") for i, entry in enumerate(values["words"]))
    return RationaleRecord(
        values["id"], values["target"], values["method"], values["k"], words, values["rationale"]
    )


def iter_rationale_file(path: str | Path) -> Iterator[tuple[int, RationaleRecord]]:
    """(line number, record) for each record of a rationale file, in file order; blank lines are skipped.

    Raises ``DataError`` naming the file, line and field of the first bad line.
    """
    path = Path(path)
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(path, line_number, None, f"not valid JSON ({error.msg})") from error
            yield line_number, parse_record(obj, path, line_number)


def read_rationale_file(path: str | Path) -> list[RationaleRecord]:
    """All records of a rationale file, in file order (``DataError`` on a bad line)."""
    return [record for _, record in iter_rationale_file(path)]


def rationales_by_id(path: str | Path) -> dict[str, str]:
    """Example id -> rationale text, for the student trainer. A repeated id is a ``DataError``."""
    rationales: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for line_number, record in iter_rationale_file(path):
        if record.id in rationales:
            problem = f"duplicate id {record.id!r} (first on line {first_line[record.id]})"
            raise DataError(path, line_number, "id", problem)
        rationales[record.id] = record.rationale
        first_line[record.id] = line_number
    return rationales
