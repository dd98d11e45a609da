"""Paired differences between the Table 1 rows a run's question turns on: do teacher-token rationales
beat standard fine-tuning, random tokens and DSS, and does DSS beat standard fine-tuning?

Each row is compared at the setting the table shows (the alpha chosen on validation where alpha was
swept), over the seeds both settings finished, example by example on the test set (paired by example id).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokendistill.data.errors import DataError
from tokendistill.metrics.paired import PairedComparison, paired_comparison
from tokendistill.report.results import Evaluation, RunResults
from tokendistill.report.table import at_train_size, curve_sizes, main_variants, shown_alpha, size_label

RATIONALES, STANDARD = "Teacher-token rationales", "Standard fine-tuning"
DSS, RANDOM = "DSS (PaLM rationales)", "Random-token control"
# (A, B) as Table 1 row labels: the report shows A - B where both rows ran.
COMPARISONS: tuple[tuple[str, str], ...] = (
    (RATIONALES, STANDARD),
    (RATIONALES, RANDOM),
    (RATIONALES, DSS),
    (DSS, STANDARD),
)
PAIRED_NOTE = (
    "A - B in percentage points, at the settings Table 1 shows, over the seeds both finished, on the same "
    "test examples. Interval over seeds: 95% t-interval of the per-seed differences (n/a with one seed). "
    "Interval over test examples: 95% paired bootstrap of each example's correctness averaged over seeds. "
    "Verdict: better or worse when an interval excludes 0 (named), else not resolved."
)


@dataclass(frozen=True)
class PairedRow:
    task: str  # the run's column label in the tables
    student: str
    a: str  # Table 1 row labels
    b: str
    a_alpha: float | None  # the alpha each side was chosen at, where the run swept alpha
    b_alpha: float | None
    comparison: PairedComparison

    @property
    def label(self) -> str:
        """``Teacher-token rationales α=0.9 - Standard fine-tuning``."""
        return f"{self.a}{_alpha_text(self.a_alpha)} - {self.b}{_alpha_text(self.b_alpha)}"


def _alpha_text(alpha: float | None) -> str:
    return "" if alpha is None else f" α={alpha:g}"


def read_predictions(path: Path) -> dict[str, dict[str, Any]]:
    """An evaluation's ``predictions.jsonl`` as rows by example id; ``DataError`` names the line of a row
    that is not a JSON object with a string ``id`` and a true/false ``correct``, or repeats an id."""
    rows: dict[str, dict[str, Any]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(path, None, None, f"cannot read predictions: {error}") from error
    for number, line in enumerate(lines, start=1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(path, number, None, f"not valid JSON ({error.msg})") from error
        if not isinstance(row, dict) or not isinstance(row.get("id"), str):
            raise DataError(path, number, "id", "missing or not a string")
        if not isinstance(row.get("correct"), bool):
            raise DataError(path, number, "correct", "missing or not true/false")
        if row["id"] in rows:
            raise DataError(path, number, "id", f"example {row['id']!r} appears twice")
        rows[row["id"]] = row
    return rows


def read_correctness(path: Path) -> dict[str, bool]:
    """Example id -> whether the prediction was right, from an evaluation's ``predictions.jsonl``."""
    return {id_: row["correct"] for id_, row in read_predictions(path).items()}


def compare_evaluations(a: Mapping[int, Evaluation], b: Mapping[int, Evaluation]) -> PairedComparison | None:
    """A - B over the seeds both finished (``None`` when they share none), pairing test examples by id.

    Every evaluation must score the same examples; the order is that of A's first seed's file.
    """
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    paths = [a[seed].predictions for seed in seeds] + [b[seed].predictions for seed in seeds]
    tables = [read_correctness(path) for path in paths]
    ids = list(tables[0])
    for path, table in zip(paths[1:], tables[1:], strict=True):
        if table.keys() != tables[0].keys():
            only_here = sorted(table.keys() - tables[0].keys())
            only_there = sorted(tables[0].keys() - table.keys())
            raise DataError(
                path,
                None,
                None,
                f"scores other test examples than {paths[0]} ({len(only_here)} ids only here"
                f"{_first(only_here)}, {len(only_there)} only there{_first(only_there)}); paired differences "
                "need both settings scored on the same examples",
            )
    rows = [[table[example] for example in ids] for table in tables]
    return paired_comparison(rows[: len(seeds)], rows[len(seeds) :])


def _first(ids: Sequence[str]) -> str:
    return f", such as {ids[0]!r}" if ids else ""


def paired_rows(runs: Sequence[RunResults], labels: Sequence[str]) -> list[PairedRow]:
    """Each comparison of ``COMPARISONS`` whose two rows ran, per run (``labels``: its column), student and,
    where the run swept the training-set size, size (named after the column: ``synthetic-nli, n = 250``)."""
    rows = []
    for run, label in zip(runs, labels, strict=True):
        swept = bool(run.config.sweeps.train_examples)
        for size in curve_sizes(run):
            variants = {row: at_train_size(run, v, size) for row, v in main_variants(run).items()}
            where = f"{label}, {size_label(size)}" if swept else label
            for model in run.config.students.models:
                for a, b in COMPARISONS:
                    chosen = {row: run.selected_variant(model.name, variants[row]) for row in (a, b)}
                    comparison = compare_evaluations(
                        run.students.get((model.name, chosen[a]), {}),
                        run.students.get((model.name, chosen[b]), {}),
                    )
                    if comparison is not None:
                        alphas = (shown_alpha(run, chosen[a]), shown_alpha(run, chosen[b]))
                        rows.append(PairedRow(where, model.name, a, b, *alphas, comparison))
    return rows


def points(value: float) -> str:
    """A difference in percentage points with its sign: ``+3.1``; ``n/a`` when undefined."""
    return "n/a" if math.isnan(value) else f"{100 * value:+.1f}"


def interval_text(low: float, high: float) -> str:
    """``[-0.4, +6.6]`` in percentage points; ``n/a`` when undefined (one seed, one example)."""
    return "n/a" if math.isnan(low) or math.isnan(high) else f"[{points(low)}, {points(high)}]"


def answer(row: PairedRow) -> str | None:
    """Does the method help? The plain answer of a rationales - standard row (``None`` for other rows):
    ``yes: +15.0 points vs standard fine-tuning, higher on 3 of 3 seeds; better (interval over ...)``."""
    if (row.a, row.b) != (RATIONALES, STANDARD):
        return None
    p = row.comparison
    reply = {"better": "yes", "worse": "no, they hurt", "not resolved": "not resolved"}[p.verdict.word]
    seeds = f"{p.seeds} seed{'s' if p.seeds > 1 else ''}"
    return (
        f"{reply}: {points(p.mean)} points vs standard fine-tuning, higher on {p.a_better_seeds} of {seeds}; "
        f"{p.verdict.text()}."
    )
