"""The README's demo table, as a results file: runs ``tokendistill demo`` and keeps its report's numbers.

The demo (tiny T5 teacher on synthetic NLI, saliency top-5 rationales, tiny students in the standard,
teacher-token and random-token modes over 3 seeds) writes ``report/results.json`` in its run folder; this
script runs it in a work folder of its own (resuming a run it started before) and writes that file's
tables and evidence analysis, with the command, the machine and the wall time, to ``demo.json`` and
``demo.md``.

    python benchmarks/demo.py             # results in benchmarks/results/ (about 3 min on 2 CPU cores)
    python benchmarks/demo.py --smoke     # seconds, benchmarks/results/smoke/
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchlib import default_paths, environment, machine_text, write_outputs

# Smoke size: the demo's own pipeline with a few steps, one seed and a small task.
SMOKE_OVERRIDES = [
    "task.options.size=200",
    "task.options.validation_size=20",
    "task.options.test_size=40",
    "teacher.training.max_steps=20",
    "students.training.max_steps=10",
    "seeds=[0]",
]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a few training steps, one seed (CI)")
    parser.add_argument("--work-dir", type=Path, default=None, help="the demo's run folder (resumable)")
    parser.add_argument("--output-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    default_paths(args, "demo", argv)
    return args


def percent_cell(cell: dict | None) -> str:
    if cell is None:
        return "—"
    low, high = 100 * cell["low"], 100 * cell["high"]
    return f"{100 * cell['accuracy']:.1f} [{low:.1f}, {high:.1f}] (n={cell['n_seeds']})"


def markdown(report: dict) -> str:
    lines = [
        "# Demo (`tokendistill demo`)",
        "",
        f"`{report['command']}` on {machine_text(report['environment'])}; "
        f"{report['wall_seconds'] / 60:.1f} min wall.",
        "",
        "Test accuracy (%) [95% interval over seeds, or a bootstrap over test examples when n=1]:",
        "",
    ]
    for table in report["results"]["tables"]:
        columns = list(next(iter(table["rows"].values())))
        lines += [f"| method | {' | '.join(columns)} |", f"|---|{'---:|' * len(columns)}"]
        for label, cells in table["rows"].items():
            lines.append(f"| {label} | {' | '.join(percent_cell(cells[c]) for c in columns)} |")
        lines.append("")
    for row in report["results"]["evidence"]:
        if row["top_k_contains_answer"] is not None:
            lines.append(
                f"Top-{row['k']} {row['method']} words hold the answer's words in "
                f"{100 * row['top_k_contains_answer']:.1f}% of {row['examples']} training examples "
                f"({row['k']} random words: {100 * row['random_k_words']:.1f}%)."
            )
    return "\n".join(lines).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    overrides = [f"output_dir={args.work_dir}", *(SMOKE_OVERRIDES if args.smoke else [])]
    env = environment(workers=2, threads=1)  # the demo's own defaults: --jobs 2 --threads 1
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tokendistill.cli", "demo", *overrides], check=True)
    report = {
        "command": " ".join(["python benchmarks/demo.py", *args.argv]),
        "environment": env,
        "wall_seconds": time.perf_counter() - started,
        "results": json.loads((args.work_dir / "report" / "results.json").read_text(encoding="utf-8")),
    }
    # The run summaries name the work folder, which is this machine's path: keep them out of the record.
    for run in report["results"]["runs"]:
        del run["summary"]
    write_outputs(args.output_dir, "demo", report, markdown(report))


if __name__ == "__main__":
    main()
