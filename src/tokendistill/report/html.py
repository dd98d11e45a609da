"""The report as one self-contained HTML page: inline CSS, figures as base64 data URIs, no script, no
network access, so it opens anywhere offline."""

from __future__ import annotations

import base64
from html import escape

from tokendistill.report.content import PLOT_SECTIONS, ReportContent, run_summary
from tokendistill.report.heatmap import Heatmap
from tokendistill.report.markdown import PLAUSIBILITY_NOTE, TABLE_NOTE
from tokendistill.report.paired import PAIRED_NOTE, PairedRow, answer, interval_text, points
from tokendistill.report.table import Table

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f2f2f2; }
td .acc { font-weight: 600; } td .ci { color: #666; font-size: 0.85em; }
.note { color: #555; font-size: 0.9em; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; } figcaption { font-size: 0.85em; color: #555; }
.heatmap { border: 1px solid #e3e3e3; border-radius: 4px; padding: 0.6em 0.8em; margin: 0.6em 0; }
.heatmap .text { white-space: pre-wrap; font-size: 1.05em; }
.w { border-radius: 2px; padding: 0 1px; }
.w.r { text-decoration: underline 2px; font-weight: 700; }
.w.t { color: #999; }
.facts { margin-top: 0.4em; font-size: 0.9em; color: #333; }
.facts code { background: #f5f5f5; padding: 0 3px; }
.ok { color: #1a7f37; } .bad { color: #c62828; }
"""


def _cell(cell) -> str:
    if cell is None:
        return "<td>—</td>"
    return (
        f'<td><span class="acc">{100 * cell.accuracy:.1f}</span> '
        f'<span class="ci">[{100 * cell.low:.1f}, {100 * cell.high:.1f}] n={cell.n_seeds}'
        f"{cell.alpha_text}</span></td>"
    )


def table_html(table: Table) -> str:
    head = "".join(f"<th>{escape(column)}</th>" for column in table.columns)
    body = "".join(
        f"<tr><td>{escape(row.label)}</td>{''.join(_cell(cell) for cell in row.cells)}</tr>"
        for row in table.rows
    )
    return (
        f'<table class="results"><thead><tr><th>Method</th>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def heatmap_html(heatmap: Heatmap) -> str:
    spans = []
    for piece in heatmap.pieces:
        if piece.shade is None:
            spans.append(escape(piece.text))
            continue
        classes = "w" + (" r" if piece.rationale else "") + (" t" if piece.template else "")
        title = f"score {piece.shade:.2f} of the example's highest"
        style = f"background: rgba(214, 69, 39, {0.85 * piece.shade:.3f})"
        spans.append(f'<span class="{classes}" style="{style}" title="{title}">{escape(piece.text)}</span>')
    facts = [
        f"gold <code>{escape(heatmap.gold)}</code>",
        f"teacher target <code>{escape(heatmap.teacher_target)}</code>",
    ]
    for student in heatmap.students:
        mark = '<span class="ok">✓</span>' if student.correct else '<span class="bad">✗</span>'
        facts.append(f"{escape(student.student)} <code>{escape(student.prediction)}</code> {mark}")
    return (
        f'<div class="heatmap" id="heatmap-{escape(heatmap.example_id)}">'
        f'<div class="text">{"".join(spans)}</div>'
        f'<div class="facts">{" · ".join(facts)}</div></div>'
    )


def _image(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    caption = f"<figcaption>{escape(alt)}</figcaption>"
    return f'<figure><img src="data:image/png;base64,{data}" alt="{escape(alt)}">{caption}</figure>'


def paired_html(rows: tuple[PairedRow, ...]) -> list[str]:
    """The "Paired differences" section: the plain answer to "do the rationales help?", then every A - B."""
    parts = ["<h2>Paired differences</h2>", f'<p class="note">{escape(PAIRED_NOTE)}</p>']
    answers = [(row, answer(row)) for row in rows]
    if any(text for _, text in answers):
        parts.append("<p>Do teacher-token rationales help?</p><ul>")
        parts += [
            f"<li>{escape(row.task)}, {escape(row.student)}: {escape(text)}</li>"
            for row, text in answers
            if text
        ]
        parts.append("</ul>")
    parts.append(
        '<table class="paired"><thead><tr><th>Task</th><th>Student</th><th>A - B</th>'
        "<th>Difference (points)</th><th>Interval over seeds</th><th>Interval over test examples</th>"
        "<th>Seeds A &gt; B</th><th>Verdict</th></tr></thead><tbody>"
    )
    for row in rows:
        p = row.comparison
        values = (
            row.task,
            row.student,
            row.label,
            points(p.mean),
            interval_text(p.seed_low, p.seed_high),
            interval_text(p.test_low, p.test_high),
            f"{p.a_better_seeds}/{p.seeds}",
        )
        mark = {"better": ' class="ok"', "worse": ' class="bad"'}.get(p.verdict.word, "")
        cells = "".join(f"<td>{escape(value)}</td>" for value in values)
        parts.append(f"<tr>{cells}<td{mark}>{escape(p.verdict.text())}</td></tr>")
    parts.append("</tbody></table>")
    return parts


def to_html(content: ReportContent) -> str:
    parts = ["<h1>tokendistill report</h1>", "<ul>"]
    parts += [f"<li>{escape(run_summary(run))}</li>" for run in content.runs]
    parts += ["</ul>", "<h2>Results</h2>", f'<p class="note">{escape(TABLE_NOTE)}</p>']
    for table in content.tables:
        parts += [f"<h3>{escape(table.title)}</h3>", table_html(table)]
    if content.rows_not_run:
        parts.append(f'<p class="note">Not run: {escape(", ".join(content.rows_not_run))}.</p>')
    for kind, heading in PLOT_SECTIONS:
        plots = [plot for plot in content.plots if plot.kind == kind]
        if plots:
            parts += [f"<h2>{heading}</h2>"] if heading else []
            parts += [_image(plot.png, plot.title) for plot in plots]
        if kind == "results" and content.paired:
            parts += paired_html(content.paired)
    if content.overlaps:
        parts += [
            "<h2>Does the teacher's top-k contain the answer?</h2>",
            '<p class="note">Share of training examples whose rationale overlaps the words that hold the '
            "answer, next to the share k random candidate words would reach.</p>",
            '<table class="overlap"><thead><tr><th>Task</th><th>Method</th><th>k</th><th>Examples</th>'
            "<th>Top-k contains answer</th><th>Random k words</th></tr></thead><tbody>",
        ]
        for row in content.overlaps:
            o = row.overlap
            values = ("—", "no evidence spans", "—") if o is None else (
                str(o.examples), f"{100 * o.share:.1f}%", f"{100 * o.chance:.1f}%"
            )  # fmt: skip
            cells = "".join(
                f"<td>{escape(value)}</td>" for value in (row.task, row.method, str(row.k), *values)
            )
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</tbody></table>")
    if content.plausibility:
        parts += [
            "<h2>Do the rationales match human explanations?</h2>",
            f'<p class="note">{escape(PLAUSIBILITY_NOTE)}</p>',
            '<table class="overlap"><thead><tr><th>Task</th><th>Method</th><th>k</th><th>Examples</th>'
            "<th>Precision</th><th>Recall</th><th>F1</th><th>Random k words: P / R / F1</th></tr></thead>"
            "<tbody>",
        ]
        for row in content.plausibility:
            ours, chance = row.scores.rationales, row.scores.random_words
            values = (
                row.task,
                row.method,
                str(row.k),
                str(ours.examples),
                *(f"{100 * value:.1f}%" for value in (ours.precision, ours.recall, ours.f1)),
                " / ".join(f"{100 * value:.1f}%" for value in (chance.precision, chance.recall, chance.f1)),
            )
            parts.append(f"<tr>{''.join(f'<td>{escape(value)}</td>' for value in values)}</tr>")
        parts.append("</tbody></table>")
    if content.heatmaps:
        parts += [
            "<h2>Token heatmaps</h2>",
            '<p class="note">Each word is shaded by the teacher\'s score (darker: higher); rationale words '
            'are <span class="w r">underlined</span>, template words <span class="w t">grey</span>.</p>',
        ]
        for section in content.heatmaps:
            parts.append(f"<h3>{escape(section.task)} ({escape(section.method)}, k={section.k})</h3>")
            parts += [heatmap_html(heatmap) for heatmap in section.maps]
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>tokendistill report</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )
