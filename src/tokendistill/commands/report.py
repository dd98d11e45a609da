"""``tokendistill report``: Markdown and self-contained HTML report of one or more run folders."""

from __future__ import annotations

import argparse
from pathlib import Path

from tokendistill.errors import TokendistillError
from tokendistill.report import write_report

HELP = (
    "Write report.md (with PNG figures) and a self-contained report.html for run folders made by "
    "`tokendistill run`: the paper's Table 1 (one column per run), plots, token heatmaps, evidence analysis."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="run folder(s), one column each"
    )
    parser.add_argument(
        "--output", type=Path, help="output folder (default: RUN_DIR/report; required for several runs)"
    )


def run(args: argparse.Namespace) -> int:
    if args.output is None and len(args.run_dirs) > 1:
        raise TokendistillError("--output is required when reporting on several runs")
    output = args.output or args.run_dirs[0] / "report"
    files = write_report(args.run_dirs, output)
    print(f"report: {files.html}\n        {files.markdown}")
    return 0
