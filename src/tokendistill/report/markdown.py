"""The report as Markdown; figures are PNG files next to it (``figures/``)."""

from __future__ import annotations

from itertools import groupby

from tokendistill.report.content import PLOT_SECTIONS, ReportContent, run_summary
from tokendistill.report.heatmap import Heatmap
from tokendistill.report.paired import PAIRED_NOTE, PairedRow, answer, interval_text, points
from tokendistill.report.table import Table

FIGURES_DIR = "figures"
PLAUSIBILITY_NOTE = (
    "Rationale words of the training examples against the content words of their human explanations "
    "(pooled over annotators; stopwords and explanation template words removed): mean precision, recall "
    "and F1 per example, next to k random candidate words of the same examples."
)
TABLE_NOTE = (
    "Test accuracy (%) with a 95% interval: over seeds when n > 1, else a bootstrap over test examples; "
    "n = number of seeds."
)


def _escape(text: str) -> str:
    """Text safe inside a Markdown table cell or paragraph."""
    escaped = text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")
    return escaped.replace("<", "&lt;").replace("\n", " ")


def table_markdown(table: Table) -> str:
    lines = [
        f"| Method | {' | '.join(_escape(column) for column in table.columns)} |",
        f"|---|{'---|' * len(table.columns)}",
    ]
    for row in table.rows:
        cells = [cell.text() if cell else "—" for cell in row.cells]
        lines.append(f"| {row.label} | {' | '.join(cells)} |")
    return "\n".join(lines)


def heatmap_markdown(heatmap: Heatmap) -> str:
    """The example with its rationale words in bold and its template in ⟦brackets⟧ (Markdown cannot shade)."""
    text = ""
    for template, group in groupby(heatmap.pieces, key=lambda piece: piece.template):
        words = "".join(f"**{_escape(p.text)}**" if p.rationale else _escape(p.text) for p in group)
        if template and words.strip():
            inner = words.strip()
            words = words[: len(words) - len(words.lstrip())] + f"⟦{inner}⟧" + words[len(words.rstrip()) :]
        text += words
    facts = [f"gold: `{heatmap.gold}`", f"teacher target: `{heatmap.teacher_target}`"]
    facts += [f"{s.student}: `{s.prediction}` {'✓' if s.correct else '✗'}" for s in heatmap.students]
    return f"> {text}\n>\n> {' · '.join(facts)}"


def paired_markdown(rows: tuple[PairedRow, ...]) -> list[str]:
    """The "Paired differences" section: the plain answer to "do the rationales help?", then every A - B."""
    parts = ["## Paired differences", "", PAIRED_NOTE, ""]
    answers = [(row, answer(row)) for row in rows]
    if any(text for _, text in answers):
        parts += ["Do teacher-token rationales help?", ""]
        parts += [f"- {_escape(row.task)}, {_escape(row.student)}: {text}" for row, text in answers if text]
        parts.append("")
    parts += [
        "| Task | Student | A - B | Difference (points) | Interval over seeds | Interval over test examples "
        "| Seeds A > B | Verdict |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        p = row.comparison
        cells = (
            _escape(row.task),
            _escape(row.student),
            _escape(row.label),
            points(p.mean),
            interval_text(p.seed_low, p.seed_high),
            interval_text(p.test_low, p.test_high),
            f"{p.a_better_seeds}/{p.seeds}",
            p.verdict.text(),
        )
        parts.append(f"| {' | '.join(cells)} |")
    return [*parts, ""]


def to_markdown(content: ReportContent) -> str:
    parts = ["# tokendistill report", ""]
    parts += [f"- {_escape(run_summary(run))}" for run in content.runs]
    parts += ["", "## Results", "", TABLE_NOTE, ""]
    for table in content.tables:
        parts += [f"### {table.title}", "", table_markdown(table), ""]
    if content.rows_not_run:
        parts += [f"Not run: {', '.join(content.rows_not_run)}.", ""]
    for kind, heading in PLOT_SECTIONS:
        plots = [plot for plot in content.plots if plot.kind == kind]
        if plots:
            parts += [f"## {heading}", ""] if heading else []
            parts += [f"![{plot.title}]({FIGURES_DIR}/{plot.filename})\n" for plot in plots]
        if kind == "results" and content.paired:
            parts += paired_markdown(content.paired)
    if content.overlaps:
        parts += [
            "## Does the teacher's top-k contain the answer?",
            "",
            "Share of training examples whose rationale overlaps the words that hold the answer, next to "
            "the share k random candidate words would reach.",
            "",
            "| Task | Method | k | Examples | Top-k contains answer | Random k words |",
            "|---|---|---|---|---|---|",
        ]
        for row in content.overlaps:
            if row.overlap is None:
                parts.append(f"| {row.task} | {row.method} | {row.k} | — | no evidence spans | — |")
            else:
                o = row.overlap
                parts.append(
                    f"| {row.task} | {row.method} | {row.k} | {o.examples} | {100 * o.share:.1f}% | "
                    f"{100 * o.chance:.1f}% |"
                )
        parts.append("")
    if content.plausibility:
        parts += [
            "## Do the rationales match human explanations?",
            "",
            PLAUSIBILITY_NOTE,
            "",
            "| Task | Method | k | Examples | Precision | Recall | F1 | Random k words: P / R / F1 |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in content.plausibility:
            ours, chance = row.scores.rationales, row.scores.random_words
            parts.append(
                f"| {row.task} | {row.method} | {row.k} | {ours.examples} | {100 * ours.precision:.1f}% | "
                f"{100 * ours.recall:.1f}% | {100 * ours.f1:.1f}% | {100 * chance.precision:.1f}% / "
                f"{100 * chance.recall:.1f}% / {100 * chance.f1:.1f}% |"
            )
        parts.append("")
    if content.heatmaps:
        parts += ["## Token heatmaps", "", "Rationale words in **bold**, template words in ⟦brackets⟧.", ""]
        for section in content.heatmaps:
            parts += [f"### {section.task} ({section.method}, k={section.k})", ""]
            parts += [heatmap_markdown(heatmap) + "\n" for heatmap in section.maps]
    return "\n".join(parts).rstrip() + "\n"
