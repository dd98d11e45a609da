"""The results table in the layout of the paper's Table 1: methods as rows, tasks as columns.

A cell is the test accuracy with a 95% interval: over seeds (a t interval on the seed accuracies) when
there are several, else the bootstrap interval over test examples that the evaluation recorded. Where the
run swept alpha, a two-task row shows the alpha with the best validation accuracy (named in the cell).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from tokendistill.experiment.plan import StudentVariant, variant_alpha
from tokendistill.metrics.bootstrap import seed_interval
from tokendistill.report.results import Evaluation, RunResults


@dataclass(frozen=True)
class Cell:
    """Accuracy and its 95% interval, as fractions; ``interval`` says how the interval was made."""

    accuracy: float
    low: float
    high: float
    n_seeds: int
    alpha: float | None = None  # the label-task weight chosen on validation, where alpha was swept

    @property
    def interval(self) -> str:
        return "seeds" if self.n_seeds > 1 else "bootstrap"

    @property
    def alpha_text(self) -> str:
        return "" if self.alpha is None else f" α={self.alpha:g}"

    def text(self) -> str:
        interval = f"[{100 * self.low:.1f}, {100 * self.high:.1f}]"
        return f"{100 * self.accuracy:.1f} {interval} (n={self.n_seeds}){self.alpha_text}"


@dataclass(frozen=True)
class Row:
    label: str
    cells: tuple[Cell | None, ...]


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]


def cell(evaluations: Sequence[Evaluation], alpha: float | None = None) -> Cell | None:
    """Combine one setting's seeds into a cell (``None`` when nothing finished)."""
    if not evaluations:
        return None
    if len(evaluations) == 1:
        only = evaluations[0]
        return Cell(only.accuracy, only.ci_low, only.ci_high, 1, alpha)
    interval = seed_interval([evaluation.accuracy for evaluation in evaluations], confidence=0.95)
    # A t-interval over a few seeds can reach past the range accuracy lives in; clip it to [0, 1].
    return Cell(interval.mean, max(0.0, interval.low), min(1.0, interval.high), len(evaluations), alpha)


def shown_alpha(run: RunResults, chosen: StudentVariant) -> float | None:
    """The alpha a row names for its chosen setting: only where the run swept alpha, for two-task modes."""
    swept = bool(run.config.sweeps.alpha) and chosen.mode != "standard"
    return variant_alpha(run.config, chosen) if swept else None


def selected_cell(run: RunResults, student: str, variant: StudentVariant) -> Cell | None:
    """The cell of ``variant`` at the alpha chosen on validation; the cell names that alpha when the run
    swept alpha (a two-task setting)."""
    chosen = run.selected_variant(student, variant)
    return cell(run.evaluations(student, chosen), shown_alpha(run, chosen))


def column_labels(runs: Sequence[RunResults]) -> tuple[str, ...]:
    """Task names, made unique with the run folder's name when two runs share a task."""
    names = [run.task_name for run in runs]
    return tuple(
        name if names.count(name) == 1 else f"{name} ({run.run_dir.name})"
        for name, run in zip(names, runs, strict=True)
    )


def main_variants(run: RunResults) -> dict[str, StudentVariant]:
    """The student setting behind each student row of Table 1, at the run's main method and k."""
    attribution = run.config.attribution
    return {
        "Standard fine-tuning": StudentVariant("standard"),
        "DSS (PaLM rationales)": StudentVariant("dss"),
        "Teacher-token rationales": StudentVariant("rationale", attribution.method, attribution.k),
        "Random-token control": StudentVariant("random", None, attribution.k),
    }


STUDENT_ROWS = (
    "Standard fine-tuning",
    "DSS (PaLM rationales)",
    "Teacher-token rationales",
    "Random-token control",
)
TEACHER_ROW = "Teacher"


def student_names(runs: Sequence[RunResults]) -> list[str]:
    """Every student model name of the runs, in first-seen order."""
    return list(dict.fromkeys(model.name for run in runs for model in run.config.students.models))


def results_table(runs: Sequence[RunResults], student: str) -> Table:
    """Table 1 for one student model over ``runs`` (one column each). Rows no run has are left out."""
    rows = []
    for label in STUDENT_ROWS:
        cells = tuple(selected_cell(run, student, main_variants(run)[label]) for run in runs)
        if any(cells):
            rows.append(Row(label, cells))
    teacher_cells = tuple(cell([run.teacher] if run.teacher else []) for run in runs)
    if any(teacher_cells):
        rows.append(Row(TEACHER_ROW, teacher_cells))
    return Table(f"Student: {student}", column_labels(runs), tuple(rows))


def curve_sizes(run: RunResults) -> list[int | None]:
    """The training-set sizes a run trained students on, smallest first (None: the whole split)."""
    return sorted(run.config.student_train_sizes(), key=lambda size: (size is None, size or 0))


def at_train_size(run: RunResults, variant: StudentVariant, size: int | None) -> StudentVariant:
    """``variant`` as trained on ``size`` examples; the main size's setting carries no size of its own."""
    return variant if size == run.config.students.train_examples else replace(variant, train_examples=size)


def size_label(size: int | None) -> str:
    return "n = all" if size is None else f"n = {size}"


def learning_curve_table(run: RunResults, label: str, student: str) -> Table | None:
    """Table 1's student rows of one run at each training-set size it trained students on (its
    ``sweeps.train_examples``), smallest first; ``None`` when the run swept no size or this student has
    no finished setting in it."""
    if not run.config.sweeps.train_examples:
        return None
    sizes = curve_sizes(run)
    rows = []
    for row_label, variant in main_variants(run).items():
        cells = tuple(selected_cell(run, student, at_train_size(run, variant, size)) for size in sizes)
        if any(cells):
            rows.append(Row(row_label, cells))
    if not rows:
        return None
    columns = tuple(size_label(size) for size in sizes)
    return Table(f"Student: {student}, {label}, by training examples", columns, tuple(rows))
