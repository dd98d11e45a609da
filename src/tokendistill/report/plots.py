"""PNG figures for the report: the results table as a chart, student accuracy against k, and accuracy per
attribution method.

The sweep figures are drawn only when the run has the sweep (two or more k values, two or more methods);
error bars are the table's 95% intervals.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tokendistill.experiment.plan import StudentVariant
from tokendistill.report.results import RunResults
from tokendistill.report.table import Cell, cell, results_table


def _figure() -> tuple[Figure, Axes]:
    # A bare Figure renders with the Agg canvas and leaves pyplot's global state (and backend) alone.
    figure = Figure(figsize=(5.5, 3.6))
    return figure, figure.add_subplot()


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def _error_bars(cells: Sequence[Cell]) -> list[list[float]]:
    return [[100 * (c.accuracy - c.low) for c in cells], [100 * (c.high - c.accuracy) for c in cells]]


def _reference_line(axes: Axes, run: RunResults, student: str) -> None:
    standard = cell(run.evaluations(student, StudentVariant("standard")))
    if standard is not None:
        axes.axhline(100 * standard.accuracy, color="grey", linestyle="--", label="standard fine-tuning")


def results_chart(run: RunResults, student: str) -> bytes | None:
    """The run's Table 1 column as horizontal bars, or ``None`` with fewer than two rows."""
    rows = [row for row in results_table([run], student).rows if row.cells[0] is not None]
    if len(rows) < 2:
        return None
    cells = [row.cells[0] for row in rows]
    figure, axes = _figure()
    positions = range(len(rows))[::-1]  # first row on top, as in the table
    axes.barh(
        positions, [100 * c.accuracy for c in cells], xerr=_error_bars(cells), capsize=4, color="#4c72b0"
    )
    axes.set_yticks(list(positions), [row.label for row in rows])
    axes.set(xlabel="test accuracy (%)", title=f"{run.task_name}: {student}")
    return _png(figure)


def accuracy_vs_k(run: RunResults, student: str) -> bytes | None:
    """Teacher-token and random-token students against k (the main method), or ``None`` without a k sweep."""
    method = run.config.attribution.method
    figure, axes = _figure()
    drawn = 0
    for label, make in (
        (f"teacher tokens ({method})", lambda k: StudentVariant("rationale", method, k)),
        ("random tokens", lambda k: StudentVariant("random", None, k)),
    ):
        points = [(k, cell(run.evaluations(student, make(k)))) for k in sorted(run.config.k_values())]
        points = [(k, c) for k, c in points if c is not None]
        if len(points) < 2:
            continue
        ks, cells = zip(*points, strict=True)
        axes.errorbar(
            ks, [100 * c.accuracy for c in cells], yerr=_error_bars(cells), marker="o", capsize=3, label=label
        )
        drawn += 1
    if not drawn:
        return None
    _reference_line(axes, run, student)
    axes.set(xlabel="k (rationale words)", ylabel="test accuracy (%)", title=f"{run.task_name}: {student}")
    axes.legend(fontsize="small")
    return _png(figure)


def method_comparison(run: RunResults, student: str) -> bytes | None:
    """Students trained on each attribution method's rationales at the main k, or ``None`` with one method."""
    k = run.config.attribution.k
    bars = [
        (m, cell(run.evaluations(student, StudentVariant("rationale", m, k)))) for m in run.config.methods()
    ]
    bars = [(m, c) for m, c in bars if c is not None]
    if len(bars) < 2:
        return None
    random = cell(run.evaluations(student, StudentVariant("random", None, k)))
    if random is not None:
        bars.append(("random tokens", random))
    labels, cells = zip(*bars, strict=True)
    figure, axes = _figure()
    axes.bar(labels, [100 * c.accuracy for c in cells], yerr=_error_bars(cells), capsize=4, color="#4c72b0")
    _reference_line(axes, run, student)
    axes.set(ylabel="test accuracy (%)", title=f"{run.task_name}: {student}, k={k}")
    axes.tick_params(axis="x", labelsize="small")
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small")
    return _png(figure)
