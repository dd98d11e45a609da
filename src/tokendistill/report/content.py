"""Everything a report shows, computed once from the runs; the Markdown and HTML writers only lay it out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tokendistill.experiment.splits import ExperimentTask
from tokendistill.report.analysis import EvidenceOverlap, overlap_of_rows, read_with_examples
from tokendistill.report.heatmap import Heatmap, heatmaps
from tokendistill.report.paired import PairedRow, paired_rows
from tokendistill.report.plausibility import RationalePlausibility, plausibility_of_rows
from tokendistill.report.plots import accuracy_vs_k, method_comparison, results_chart
from tokendistill.report.results import RunResults
from tokendistill.report.table import (
    STUDENT_ROWS,
    Table,
    column_labels,
    learning_curve_table,
    results_table,
    student_names,
)


@dataclass(frozen=True)
class Plot:
    kind: Literal["results", "k", "methods"]
    title: str
    filename: str
    png: bytes


# Where each kind of plot goes: the results chart under the tables, the sweeps under their own headings.
PLOT_SECTIONS: tuple[tuple[str, str | None], ...] = (
    ("results", None),
    ("k", "Accuracy against k"),
    ("methods", "Attribution methods"),
)


@dataclass(frozen=True)
class OverlapRow:
    task: str
    method: str
    k: int
    overlap: EvidenceOverlap | None  # None: the task records no evidence spans (NLI)


@dataclass(frozen=True)
class PlausibilityRow:
    """A rationale file's words against the task's human explanations, and k random words against them."""

    task: str
    method: str
    k: int
    scores: RationalePlausibility


@dataclass(frozen=True)
class HeatmapSection:
    task: str
    method: str
    k: int
    maps: tuple[Heatmap, ...]


@dataclass(frozen=True)
class ReportContent:
    runs: tuple[RunResults, ...]
    tables: tuple[Table, ...]
    rows_not_run: tuple[str, ...]
    plots: tuple[Plot, ...]
    overlaps: tuple[OverlapRow, ...]
    heatmaps: tuple[HeatmapSection, ...]
    plausibility: tuple[PlausibilityRow, ...] = ()  # tasks with human explanations (e-SNLI) only
    paired: tuple[PairedRow, ...] = ()  # A - B of the Table 1 rows both run (report/paired.py)


def teacher_description(run: RunResults) -> str:
    """The teacher as a config names it: a Hub id or path, a pretrained local source, or a tiny model."""
    teacher = run.config.teacher
    if teacher.model is not None:
        return teacher.model
    if teacher.pretrained is not None:
        source = teacher.pretrained
        return f"{source.name} ({source.decoder_layers}-layer {source.decoder_init} decoder)"
    return f"tiny {teacher.tiny.architecture} ({teacher.tiny.size})"


def run_summary(run: RunResults) -> str:
    """One line saying what a run is: its task, teacher, attribution and seeds."""
    config = run.config
    teacher = teacher_description(run)
    students = ", ".join(model.name for model in config.students.models)
    where = run.run_dir.relative_to(Path.cwd()) if run.run_dir.is_relative_to(Path.cwd()) else run.run_dir
    size = config.students.train_examples
    trained_on = "" if size is None else f" (trained on the first {size} training examples)"
    return (
        f"{where}: task {config.task.name}, teacher {teacher}, students {students}{trained_on}, "
        f"{config.attribution.method} k={config.attribution.k}, seeds {config.seeds}"
    )


def _plots(runs: Sequence[RunResults], labels: Sequence[str], students: Sequence[str]) -> list[Plot]:
    plots = []
    for run, label in zip(runs, labels, strict=True):
        for student in students:
            slug = f"{label}-{student}".replace(" ", "_").replace("(", "").replace(")", "")
            for kind, draw, title in (
                ("results", results_chart, "results"),
                ("k", accuracy_vs_k, "accuracy against k"),
                ("methods", method_comparison, "accuracy per attribution method"),
            ):
                png = draw(run, student)
                if png is not None:
                    plots.append(Plot(kind, f"{label}, {student}: {title}", f"{kind}-{slug}.png", png))
    return plots


def _rationale_analyses(
    runs: Sequence[RunResults], labels: Sequence[str]
) -> tuple[list[OverlapRow], list[PlausibilityRow]]:
    """Each rationale file's evidence overlap and, where the examples carry explanations, plausibility."""
    overlaps, plausible = [], []
    for run, label in zip(runs, labels, strict=True):
        if not run.rationale_files:
            continue
        train = ExperimentTask(run.config.task).load("train")
        for (method, k), path in sorted(run.rationale_files.items()):
            rows = read_with_examples(path, train)  # read and checked once for both analyses
            overlaps.append(OverlapRow(label, method, k, overlap_of_rows(rows)))
            scores = plausibility_of_rows(rows)
            if scores is not None:
                plausible.append(PlausibilityRow(label, method, k, scores))
    return overlaps, plausible


def build_report(runs: Sequence[RunResults]) -> ReportContent:
    labels = column_labels(runs)
    students = student_names(runs)
    tables = [results_table(runs, student) for student in students]
    present = {row.label for table in tables for row in table.rows}
    curves = (
        learning_curve_table(run, label, s) for run, label in zip(runs, labels, strict=True) for s in students
    )
    tables += [table for table in curves if table is not None]
    sections = []
    for run, label in zip(runs, labels, strict=True):
        maps = heatmaps(run)
        if maps:
            attribution = run.config.attribution
            sections.append(HeatmapSection(label, attribution.method, attribution.k, tuple(maps)))
    overlaps, plausible = _rationale_analyses(runs, labels)
    return ReportContent(
        tuple(runs),
        tuple(tables),
        tuple(label for label in STUDENT_ROWS if label not in present),
        tuple(_plots(runs, labels, students)),
        tuple(overlaps),
        tuple(sections),
        tuple(plausible),
        paired=tuple(paired_rows(runs, labels)),
    )
