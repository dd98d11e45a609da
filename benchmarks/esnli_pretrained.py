"""Issue 12's study as a results file: runs ``configs/local/esnli-pretrained.yaml`` and keeps its numbers.

The config (an MPNet-base teacher, MiniLM-L2 students on e-SNLI; saliency and integrated-gradients
rationales, random words and DSS's PaLM rationales; alpha chosen on validation) runs with
``tokendistill run`` like any experiment, resuming whatever it finished before. This script then reads the
run's ``report/results.json`` and writes ``esnli_pretrained.json`` in the issue's layout: the teacher's test
accuracy, every student run (mode, method, alpha, seed, test accuracy; standard students have no alpha)
the plausibility of each method's rationales and of random words against e-SNLI's human explanations, and
the report's paired differences, with the command, the machine and the wall time. Accuracies are fractions.

    python benchmarks/esnli_pretrained.py                              # the whole study (GPU-days on CPU)
    python benchmarks/esnli_pretrained.py seeds=[0] sweeps.alpha=[] --name esnli_pretrained_pilot
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchlib import (
    REPO_ROOT,
    RESULTS_DIR,
    environment,
    machine_text,
    run_config,
    stage_seconds,
    write_outputs,
)

CONFIG = REPO_ROOT / "configs" / "local" / "esnli-pretrained.yaml"
NAME = "esnli_pretrained"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, as for run")
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--jobs", type=int, default=2, help="stages at once (tokendistill run --jobs)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per stage")
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--name", default=NAME, help="results file name, without .json (a pilot's own name)")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def study_record(results: Mapping[str, Any]) -> dict[str, Any]:
    """The issue's fields from a run's ``results.json`` (one run: the e-SNLI study)."""
    (run,) = results["runs"]
    plausibility: dict[str, dict[str, float]] = {}
    for row in results["plausibility"]:
        if row["k"] == 5:  # the study's k; a k sweep's other files are in results.json
            plausibility[row["method"]] = row["rationale"]
            plausibility.setdefault("random", row["random_k_words"])
    return {
        "task": run["task"],
        "teacher": run["teacher"],
        "runs": [
            {key: student[key] for key in ("mode", "method", "alpha", "seed", "test_accuracy")}
            | {key: student[key] for key in ("student", "validation_accuracy", "selected")}
            | {key: student[key] for key in ("final_label_loss", "final_rationale_loss", "validation_curve")}
            for student in run["students"]
        ],
        "plausibility": plausibility,
        "paired": results["paired"],  # the report's answer: A - B with intervals over seeds and test examples
    }


def _interval(bounds: tuple[float | None, float | None]) -> str:
    low, high = bounds
    return "n/a" if low is None or high is None else f"[{100 * low:+.1f}, {100 * high:+.1f}]"


def _loss(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def markdown(report: Mapping[str, Any]) -> str:
    teacher = report["teacher"]
    lines = [
        f"# {report['task']} with a pretrained teacher and students",
        "",
        f"`{report['command']}` on {machine_text(report['environment'])}; "
        f"{report['wall_seconds'] / 3600:.1f} h wall for this invocation (finished stages are reused); "
        f"{sum(report['stage_seconds'].values()) / 3600:.1f} h of stage time in all (`stage_seconds`).",
        "",
        f"Teacher {teacher['model']}: test accuracy {100 * (teacher['test_accuracy'] or 0):.1f}%.",
        "",
        "Students: validation accuracy of the kept checkpoint and test accuracy (%), the label and rationale"
        " losses (nats per token) over the last logging window of training, and validation accuracy (%) at"
        " each evaluation (step: accuracy).",
        "",
        "| student | mode | method | alpha | seed | validation | test | chosen on validation | label loss "
        "| rationale loss | validation by step |",
        "|---|---|---|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    for run in report["runs"]:
        validation = run["validation_accuracy"]
        lines.append(
            f"| {run['student']} | {run['mode']} | {run['method'] or '—'} "
            f"| {run['alpha'] if run['alpha'] is not None else '—'} "
            f"| {run['seed']} | {'—' if validation is None else f'{100 * validation:.1f}'} "
            f"| {100 * run['test_accuracy']:.1f} | {'yes' if run['selected'] else ''} "
            f"| {_loss(run['final_label_loss'])} | {_loss(run['final_rationale_loss'])} "
            f"| {', '.join(f'{step}: {100 * accuracy:.1f}' for step, accuracy in run['validation_curve'])} |"
        )
    if report["paired"]:
        lines += ["", "Paired differences (points; intervals over seeds, then over test examples):", ""]
        lines += ["| A - B | difference | seeds | test examples | verdict |", "|---|---:|---:|---:|---|"]
    for row in report["paired"]:
        seeds, test = (row["seed_low"], row["seed_high"]), (row["test_low"], row["test_high"])
        lines.append(
            f"| {row['a']} - {row['b']} | {100 * row['difference']:+.1f} | {_interval(seeds)} "
            f"| {_interval(test)} | {row['verdict']} |"
        )
    if report["plausibility"]:  # tasks whose examples carry human explanations (e-SNLI)
        lines += ["", "Plausibility against e-SNLI's explanations (mean per example):", ""]
        lines += ["| words | precision | recall | F1 |", "|---|---:|---:|---:|"]
    for name, scores in report["plausibility"].items():
        values = " | ".join(f"{100 * scores[key]:.1f}" for key in ("precision", "recall", "f1"))
        lines.append(f"| {name} | {values} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    env = environment(workers=args.jobs, threads=args.threads)
    started = time.perf_counter()
    run_dir = run_config(args.config, args.overrides, jobs=args.jobs, threads=args.threads)
    results = json.loads((run_dir / "report" / "results.json").read_text(encoding="utf-8"))
    report = {
        "command": " ".join(["python benchmarks/esnli_pretrained.py", *args.argv]),
        "environment": env,
        "wall_seconds": time.perf_counter() - started,
        "stage_seconds": stage_seconds(run_dir),
        **study_record(results),
    }
    write_outputs(args.output_dir, args.name, report, markdown(report))


if __name__ == "__main__":
    main()
