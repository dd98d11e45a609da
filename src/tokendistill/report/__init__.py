"""The experiment report: the paper's Table 1, paired differences between its rows, plots, token heatmaps
and the evidence analysis, written as Markdown (with PNG figures), as one self-contained HTML page, and its
numbers as ``results.json``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tokendistill.report.content import ReportContent, build_report
from tokendistill.report.html import to_html
from tokendistill.report.markdown import FIGURES_DIR, to_markdown
from tokendistill.report.results import RunResults, load_run
from tokendistill.report.summary import to_json


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    html: Path
    json: Path


def write_report(run_dirs: Sequence[str | Path], output_dir: str | Path) -> ReportFiles:
    """Report on the runs in ``run_dirs`` (one table column each) into ``output_dir``."""
    if not run_dirs:
        raise ValueError("no run folders to report on")
    content = build_report([load_run(run_dir) for run_dir in run_dirs])
    output_dir = Path(output_dir)
    figures = output_dir / FIGURES_DIR
    figures.mkdir(parents=True, exist_ok=True)
    for plot in content.plots:
        (figures / plot.filename).write_bytes(plot.png)
    files = ReportFiles(output_dir / "report.md", output_dir / "report.html", output_dir / "results.json")
    files.markdown.write_text(to_markdown(content), encoding="utf-8")
    files.html.write_text(to_html(content), encoding="utf-8")
    files.json.write_text(to_json(content), encoding="utf-8")
    return files


__all__ = ["ReportContent", "ReportFiles", "RunResults", "build_report", "load_run", "write_report"]
