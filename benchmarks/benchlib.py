"""What the benchmarks share: running an experiment config and reading its cost, statistics, evidence
scores and results files.

The distillation benchmarks are experiment configs run by ``tokendistill run`` (one scheduler, one done
record per stage, resumable); a benchmark script runs its config(s) in a child process, as a user would,
then reads the run folder and writes ``results/<name>.json`` and ``.md``. The statistics follow the paper's
comparisons: accuracy per setting as the mean over training seeds with a Student-t interval, and paired
differences between two settings both over seeds (same seed, same initial weights) and over test examples
(a paired bootstrap of the per-example correctness averaged over seeds).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torch

from tokendistill.attribution import select_rationale
from tokendistill.attribution.evidence import evidence_score, evidence_words, mean_evidence
from tokendistill.attribution.records import RationaleRecord, read_rationale_file
from tokendistill.data.example import Example
from tokendistill.experiment.config import load_config
from tokendistill.experiment.plan import build_plan
from tokendistill.experiment.runner import RESOLVED_CONFIG, plan_fingerprints, read_marker, stage_status
from tokendistill.metrics.bootstrap import seed_interval
from tokendistill.metrics.paired import PairedComparison
from tokendistill.report.results import Evaluation

BENCHMARKS_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCHMARKS_DIR.parent
RESULTS_DIR = BENCHMARKS_DIR / "results"


# --------------------------------------------------------------------------- rationales and evidence


def top_words(record: RationaleRecord, example: Example, k: int) -> list:
    """The top-``k`` candidate words of a stored record, by the attribution module's own selection rule."""
    return select_rationale(record.words, k, excluded_spans=example.template_spans())


def evidence_at_k(path: Path, examples: Sequence[Example], ks: Sequence[int]) -> dict[int, dict[str, float]]:
    """How well the teacher's top-k words find each example's evidence words, with chance levels.

    Per k, averaged over the examples that have evidence words: ``precision`` (share of the top-k words that
    are evidence), ``recall`` (share of the evidence words in the top-k), ``hit`` (the top-k holds at least
    one evidence word), each next to what k uniformly random candidate words give in expectation
    (``tokendistill.attribution.evidence``).
    """
    by_id = {example.id: example for example in examples}
    rows = []
    for record in read_rationale_file(path):
        example = by_id[record.id]
        if evidence_words(example):
            rows.append((record, example))
    if not rows:
        return {}
    table: dict[int, dict[str, float]] = {}
    for k in ks:
        scores = [evidence_score(example, top_words(record, example, k), k) for record, example in rows]
        table[k] = mean_evidence(scores) | {"examples": len(rows)}
    return table


# -------------------------------------------------------------------------------------- statistics


def seed_summary(evaluations: Sequence[Evaluation]) -> dict[str, Any]:
    """Mean test accuracy over seeds with its Student-t 95% interval (nan bounds for one seed)."""
    accuracies = [evaluation.accuracy for evaluation in evaluations]
    interval = seed_interval(accuracies)
    return {"mean": interval.mean, "low": interval.low, "high": interval.high, "per_seed": accuracies}


def paired_record(comparison: PairedComparison | None) -> dict[str, Any]:
    """A paired comparison (``tokendistill.report.paired.compare_evaluations``: A - B over the seeds both
    finished, same initial weights per seed, same test examples) as a results file stores it.

    ``seed_low``/``seed_high``: t-interval of the per-seed differences (training randomness).
    ``test_low``/``test_high``: paired bootstrap over test examples of the per-example correctness averaged
    over seeds (which test examples happened to be drawn).
    """
    if comparison is None:
        raise ValueError("the two settings share no finished seed")
    return {
        "mean": comparison.mean,
        "seed_low": comparison.seed_low,
        "seed_high": comparison.seed_high,
        "test_low": comparison.test_low,
        "test_high": comparison.test_high,
        "a_better_seeds": comparison.a_better_seeds,
        "seeds": comparison.seeds,
        "verdict": comparison.verdict.text(),
    }


def percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.1f}"


def interval_text(mean: float, low: float, high: float) -> str:
    """``72.1 [68.0, 76.2]`` in percent; ``72.1 [n/a]`` when the interval is undefined (one seed)."""
    if math.isnan(low) or math.isnan(high):
        return f"{percent(mean)} [n/a]"
    return f"{percent(mean)} [{percent(low)}, {percent(high)}]"


def seed_summary_text(summary: Mapping[str, Any]) -> str:
    """``interval_text`` of a ``seed_summary`` (mean and t-interval over seeds)."""
    return interval_text(summary["mean"], summary["low"], summary["high"])


def signed_text(value: float) -> str:
    """A difference in percentage points: ``+3.1`` (``n/a`` when undefined)."""
    return "n/a" if math.isnan(value) else f"{100 * value:+.1f}"


def signed_interval_text(mean: float, low: float, high: float) -> str:
    """A difference in percentage points with its interval: ``+3.1 [-0.4, +6.6]``."""
    return f"{signed_text(mean)} [{signed_text(low)}, {signed_text(high)}]"


def paired_table(group: str, rows: Sequence[tuple[str, str, Mapping[str, Any]]]) -> list[str]:
    """Markdown lines of paired differences; each row is (group value, "A - B", ``paired_summary``)."""
    lines = [
        "Seed-paired: the same seed gives the same initial weights and data order in both modes; the "
        "interval is the t-interval of the per-seed differences. Test-bootstrap: paired bootstrap over test "
        "examples of the per-example correctness averaged over seeds.",
        "",
        f"| {group} | A - B | difference [seed interval] | test-bootstrap interval | seeds A > B | verdict |",
        "|---|---|---:|---:|---:|---|",
    ]
    for value, name, p in rows:
        lines.append(
            f"| {value} | {name} | {signed_interval_text(p['mean'], p['seed_low'], p['seed_high'])} | "
            f"{signed_interval_text(p['mean'], p['test_low'], p['test_high'])} | "
            f"{p['a_better_seeds']}/{p['seeds']} | {p['verdict']} |"
        )
    return lines


def evidence_row(e: Mapping[str, float]) -> str:
    """precision, recall and hit at k next to their chance levels, in percent, as Markdown cells."""
    names = ("precision", "precision_chance", "recall", "recall_chance", "hit", "hit_chance")
    return " | ".join(f"{100 * e[name]:.1f}" for name in names)


EVIDENCE_NOTE = (
    "precision = share of the top-k words that are evidence words; recall = share of the evidence words in "
    "the top-k; hit = the top-k holds any evidence word; chance = the same for k random candidate words."
)
EVIDENCE_HEADER = "precision | chance | recall | chance | hit | chance |"


# --------------------------------------------------------------------------------------- reporting


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def environment(workers: int, threads: int) -> dict[str, Any]:
    return {
        "device_name": cpu_name(),
        "cpu_count": os.cpu_count(),
        "workers": workers,
        "torch_threads_per_worker": threads,
        "load_average_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": version("transformers"),
    }


def default_paths(args: argparse.Namespace, name: str, argv: Sequence[str] | None) -> None:
    """Fill ``args.argv`` and the folders left unset: results in ``results/`` (``results/smoke/`` for
    ``--smoke``) and, where the script has ``--work-dir``, jobs under ``runs/benchmarks/<name>[-smoke]``."""
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.output_dir is None:
        args.output_dir = RESULTS_DIR / "smoke" if args.smoke else RESULTS_DIR
    if getattr(args, "work_dir", False) is None:
        args.work_dir = REPO_ROOT / "runs" / "benchmarks" / (f"{name}-smoke" if args.smoke else name)


def machine_text(env: Mapping[str, Any]) -> str:
    """One line naming the machine and how busy it was, for a benchmark's Markdown."""
    load = env["load_average_at_start"]
    return (
        f"{env['device_name']} ({env['cpu_count']} cores, {env['workers']} job(s) at once with "
        f"{env['torch_threads_per_worker']} torch thread(s) each"
        + (f", load average {load:.1f} at the start" if load is not None else "")
        + f"), torch {env['torch']}, transformers {env['transformers']}"
    )


def run_config(config: Path, overrides: Sequence[str], *, jobs: int, threads: int) -> Path:
    """Run an experiment config with ``tokendistill run`` (resuming what it finished before) in a child
    process, as a user would; return its run folder."""
    command = [sys.executable, "-m", "tokendistill.cli", "run", str(config), *overrides]
    subprocess.run([*command, "--jobs", str(jobs), "--threads", str(threads)], check=True, cwd=REPO_ROOT)
    return load_config(config, list(overrides), base_dir=REPO_ROOT).output_dir


def stage_seconds(run_dir: Path) -> dict[str, float]:
    """What each stage of the run's plan cost, from the runner's markers of the stages done with the
    run's config (a resumed stage counts only the part after the resume), so a results file says what its
    study cost. Folders left by another config under the same run folder are not counted."""
    config = load_config(run_dir / RESOLVED_CONFIG)
    plan = build_plan(config)
    fingerprints = plan_fingerprints(plan)
    seconds = {}
    for stage in plan:
        folder = run_dir / stage.key
        if stage_status(folder, fingerprints[stage.key]) == "done":
            marker = read_marker(folder)
            assert marker is not None  # stage_status read it
            seconds[stage.key] = marker["seconds"]
    return seconds


def write_outputs(output_dir: Path, name: str, report: Mapping[str, Any], markdown: str) -> None:
    """``<name>.json`` and ``<name>.md`` in ``output_dir``, and the Markdown printed."""
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (output_dir / f"{name}.md").write_text(markdown, encoding="utf-8")
    print(markdown)
