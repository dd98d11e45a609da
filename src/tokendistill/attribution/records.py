"""The rationale file: one JSON line per example with every source word's score and the chosen rationale.

Format (docs/CONTRIBUTING.md): ``{"id": str, "example_sha256": str, "target": str, "method": str, "k": int,
"words": [{"text": str, "start": int, "end": int, "score": float}], "rationale": str}``. ``words`` covers
the whole source, template words included; ``rationale`` is the text the student learns to generate.

``example_sha256`` fingerprints the example the record was made for: the student trains on (source, gold
target), so it covers those two, never ``target`` (which may be the teacher's prediction). A file made for
other texts under the same ids is caught by it (issue 11). Files written before it existed lack it; they
still parse (reports, heatmaps), but training refuses them (``check_examples``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokendistill.attribution.sharding import finished_marker_for
from tokendistill.attribution.words import WordScore
from tokendistill.data.errors import DataError
from tokendistill.data.example import Example
from tokendistill.files import write_atomically

RECORD_FIELDS = {"id": str, "target": str, "method": str, "k": int, "words": list, "rationale": str}
# Optional so that files written before the field existed still parse; training refuses records without it.
OPTIONAL_RECORD_FIELDS = {"example_sha256": str}
WORD_FIELDS = {"text": str, "start": int, "end": int, "score": float}
FINGERPRINT_LENGTH = 16  # hex digits of sha256: enough to tell texts apart, short enough for a line


def example_fingerprint(example: Example) -> str:
    """The first 16 hex digits of the sha256 of the JSON array ``[source, gold target]`` (UTF-8).

    The id is left out: it is the key the record is found by, and what needs checking is what it points to.
    """
    row = json.dumps([example.source, example.target], ensure_ascii=False)
    return hashlib.sha256(row.encode("utf-8")).hexdigest()[:FINGERPRINT_LENGTH]


@dataclass(frozen=True)
class RationaleRecord:
    """One line of a rationale file."""

    id: str
    target: str
    method: str
    k: int
    words: tuple[WordScore, ...]
    rationale: str
    example_sha256: str | None = None  # ``example_fingerprint`` of its example; None only in old files

    def to_json(self) -> str:
        """The record as one JSON line (no newline); raises ``ValueError`` on a non-finite score."""
        record: dict[str, Any] = {"id": self.id}
        if self.example_sha256 is not None:
            record["example_sha256"] = self.example_sha256
        record |= {
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
    """Write ``records`` to ``path`` atomically (a crash leaves the old file or the new one, never half).

    A ``<path>.done.json`` left by the rationale stage describes the bytes it wrote, not these: it is removed
    first, so that the new file is not taken for a hand-edited one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    finished_marker_for(path).unlink(missing_ok=True)
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


def _check_keys(
    obj: dict[str, Any],
    fields: dict[str, type],
    path: Path,
    line: int,
    prefix: str,
    optional: dict[str, type] | None = None,
) -> None:
    dot = f"{prefix}." if prefix else ""
    for name in fields:
        if name not in obj:
            raise DataError(path, line, f"{dot}{name}", "missing")
    known = {**fields, **(optional or {})}
    for name in obj:
        if name not in known:
            raise DataError(path, line, f"{dot}{name}", f"unknown field; expected {', '.join(known)}")


def parse_record(obj: Any, path: Path, line: int) -> RationaleRecord:
    """Check one decoded JSON line against the format and build its record."""
    if not isinstance(obj, dict):
        raise DataError(path, line, None, f"expected a JSON object, got {type(obj).__name__}")
    _check_keys(obj, RECORD_FIELDS, path, line, "", OPTIONAL_RECORD_FIELDS)
    values = {name: _typed(obj[name], kind, path, line, name) for name, kind in RECORD_FIELDS.items()}
    if values["k"] < 1:
        raise DataError(path, line, "k", f"must be >= 1, got {values['k']}")
    fingerprint = obj.get("example_sha256")
    if fingerprint is not None:
        _typed(fingerprint, str, path, line, "example_sha256")
    words = tuple(_parse_word(entry, path, line, f"words[{i}]") for i, entry in enumerate(values["words"]))
    return RationaleRecord(
        values["id"], values["target"], values["method"], values["k"], words, values["rationale"], fingerprint
    )


def iter_rationale_file(path: str | Path) -> Iterator[tuple[int, RationaleRecord]]:
    """(line number, record) for each record of a rationale file, in file order; blank lines are skipped.

    Raises ``DataError`` naming the file, line and field of the first bad line.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                gz = (
                    " (a gzipped file? rationale files are plain JSON Lines)"
                    if raw[:2] == b"\x1f\x8b"
                    else ""
                )
                raise DataError(path, line_number, None, f"not UTF-8 text{gz}: {error}") from error
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


def records_by_id(path: str | Path) -> dict[str, tuple[int, RationaleRecord]]:
    """Example id -> (line number, record). A repeated id is a ``DataError``."""
    found: dict[str, tuple[int, RationaleRecord]] = {}
    for line_number, record in iter_rationale_file(path):
        if record.id in found:
            problem = f"duplicate id {record.id!r} (first on line {found[record.id][0]})"
            raise DataError(path, line_number, "id", problem)
        found[record.id] = (line_number, record)
    return found


def rationales_by_id(path: str | Path) -> dict[str, str]:
    """Example id -> rationale text, unchecked against any examples (``DataError`` on a repeated id)."""
    return {id_: record.rationale for id_, (_, record) in records_by_id(path).items()}


def _first(ids: list[str], found: dict[str, tuple[int, RationaleRecord]]) -> str:
    return f"first: id {ids[0]!r}, line {found[ids[0]][0]}"


def check_examples(path: str | Path, examples: Sequence[Example]) -> dict[str, str]:
    """Example id -> rationale text for ``examples``, after checking the file was made for them.

    One ``DataError`` names the file and counts every problem: examples without a record, and records made
    for another source text or gold target (their ``example_sha256`` differs). Records of ids outside
    ``examples`` are ignored (a file made for a whole split serves a subset of it). A file whose records
    carry no fingerprint predates them and cannot be checked, so it is refused: regenerate it.
    """
    path = Path(path)
    found = records_by_id(path)
    missing = [example.id for example in examples if example.id not in found]
    present = [example for example in examples if example.id in found]
    unmarked = [example.id for example in present if found[example.id][1].example_sha256 is None]
    if unmarked:
        raise DataError(
            path,
            None,
            "example_sha256",
            f"{len(unmarked)} of {len(present)} records carry no fingerprint of their example "
            f"({_first(unmarked, found)}): the file predates them, so it cannot be checked against the "
            f"training texts; regenerate it with `tokendistill rationales --overwrite`",
        )
    other = [e.id for e in present if found[e.id][1].example_sha256 != example_fingerprint(e)]
    problems = []
    if other:
        problems.append(
            f"{len(other)} of {len(present)} records were made for other texts or targets "
            f"({_first(other, found)})"
        )
    if missing:
        shown = ", ".join(repr(id_) for id_ in missing[:5])
        problems.append(
            f"no rationale for {len(missing)} of {len(examples)} training examples (e.g. {shown})"
        )
    if problems:
        hint = "; regenerate the rationales for this task and split" if other else ""
        raise DataError(path, None, "example_sha256" if other else "id", "; ".join(problems) + hint)
    return {example.id: found[example.id][1].rationale for example in examples}
