"""The report's numbers as JSON (``results.json``), so a claim made from a run can cite a file, not a page.

It holds what the Markdown and HTML show as numbers: the results tables (accuracies and interval bounds
as fractions, with the number of seeds), every student run behind them (with the validation accuracy that
chose its alpha), the paired differences between rows (fractions; an undefined interval bound is null), the
evidence analysis and the plausibility of rationales; plots and heatmaps stay in the pages.
"""

from __future__ import annotations

import json
import math
from typing import Any

from tokendistill.attribution.plausibility import PlausibilitySummary
from tokendistill.experiment.plan import variant_alpha, variant_train_examples
from tokendistill.report.content import ReportContent, run_summary, teacher_description
from tokendistill.report.paired import PairedRow
from tokendistill.report.results import RunResults
from tokendistill.report.table import Cell, Table


def _cell(cell: Cell | None) -> dict[str, Any] | None:
    if cell is None:
        return None
    return {
        "accuracy": cell.accuracy,
        "low": cell.low,
        "high": cell.high,
        "n_seeds": cell.n_seeds,
        "interval": cell.interval,
        "alpha": cell.alpha,
    }


def _scores(summary: PlausibilitySummary) -> dict[str, float]:
    return {"precision": summary.precision, "recall": summary.recall, "f1": summary.f1}


def _table(table: Table) -> dict[str, Any]:
    return {
        "title": table.title,
        "rows": {
            row.label: {column: _cell(cell) for column, cell in zip(table.columns, row.cells, strict=True)}
            for row in table.rows
        },
    }


def _students(run: RunResults) -> list[dict[str, Any]]:
    """Every finished student evaluation of ``run``; ``selected`` marks the alpha its row reports."""
    rows = []
    for (student, variant), by_seed in run.students.items():
        selected = run.selected_variant(student, variant.at_main_alpha()) == variant
        for seed, evaluation in sorted(by_seed.items()):
            rows.append(
                {
                    "student": student,
                    "mode": variant.mode,
                    "method": variant.method,
                    "k": variant.k,
                    "alpha": None if variant.mode == "standard" else variant_alpha(run.config, variant),
                    "train_examples": variant_train_examples(run.config, variant),  # None: the whole split
                    "seed": seed,
                    "test_accuracy": evaluation.accuracy,
                    "validation_accuracy": evaluation.validation_accuracy,
                    "selected": selected,
                    "final_label_loss": evaluation.training.label_loss,
                    "final_rationale_loss": evaluation.training.rationale_loss,
                    "validation_curve": [list(point) for point in evaluation.training.validation_curve],
                }
            )
    return rows


def _number(value: float) -> float | None:
    """``None`` for an undefined (nan) bound: JSON has no nan."""
    return None if math.isnan(value) else value


def _paired(row: PairedRow) -> dict[str, Any]:
    p = row.comparison
    return {
        "task": row.task,
        "student": row.student,
        "a": row.a,
        "b": row.b,
        "a_alpha": row.a_alpha,
        "b_alpha": row.b_alpha,
        "difference": p.mean,
        "seed_low": _number(p.seed_low),
        "seed_high": _number(p.seed_high),
        "test_low": _number(p.test_low),
        "test_high": _number(p.test_high),
        "a_better_seeds": p.a_better_seeds,
        "seeds": p.seeds,
        "examples": p.examples,
        "verdict": p.verdict.word,
        "resolved_by": list(p.verdict.resolved_by),
    }


def _run(run: RunResults) -> dict[str, Any]:
    teacher = run.teacher
    return {
        "summary": run_summary(run),
        "task": run.task_name,
        "teacher": {
            "model": teacher_description(run),
            "test_accuracy": None if teacher is None else teacher.accuracy,
        },
        "students": _students(run),
    }


def to_json(content: ReportContent) -> str:
    """The report's tables and evidence analysis as indented JSON."""
    summary = {
        "runs": [_run(run) for run in content.runs],
        "tables": [_table(table) for table in content.tables],
        "evidence": [
            {
                "task": row.task,
                "method": row.method,
                "k": row.k,
                "examples": row.overlap.examples if row.overlap else 0,
                "top_k_contains_answer": row.overlap.share if row.overlap else None,
                "random_k_words": row.overlap.chance if row.overlap else None,
            }
            for row in content.overlaps
        ],
        "plausibility": [
            {
                "task": row.task,
                "method": row.method,
                "k": row.k,
                "examples": row.scores.rationales.examples,
                "rationale": _scores(row.scores.rationales),
                "random_k_words": _scores(row.scores.random_words),
            }
            for row in content.plausibility
        ],
        "paired": [_paired(row) for row in content.paired],
    }
    return json.dumps(summary, indent=1) + "\n"
