"""Does the method work where the answer is known? Students against training-set size on a synthetic task.

A synthetic task records, for every example, the input words that decide its answer, so the teacher's
top-k words can be checked against ground truth and the effect of learning them can be measured without
any download. One teacher (a small T5 from ``tokendistill.models.tiny``, trained on a large training set
so that it is clearly better than any student) writes rationales for the students' training examples; then
tiny students learn in each mode at several training-set sizes, three seeds each:

* ``standard``: input -> label;
* ``rationale-saliency-k5``: the paper's method, the teacher's top-5 words by saliency;
* ``rationale-ig-k5``: the same with integrated gradients (pad-token baseline: the zero baseline is
  degenerate for T5's RMSNorm, see ``tokendistill.attribution.methods``);
* ``random-k5``: the control, 5 random words of the input (does the teacher's choice matter?).

At one size, rationale students also learn with k = 1..10 (fewer seeds: see ``--k-seeds``). The training
sets of all sizes are prefixes of one another and of the teacher's, so one rationale file serves them all.
Writes ``synthetic_curve.json``, ``synthetic_curve.md`` and two PNG plots.

    python benchmarks/synthetic_curve.py            # full run (~20-30 min on 2 cores), benchmarks/results/
    python benchmarks/synthetic_curve.py --smoke    # seconds, benchmarks/results/smoke/
    python benchmarks/synthetic_curve.py --student-architecture llama --modes standard rationale-saliency \
        random --k-values                           # tiny Llama students of the same teacher
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from benchlib import (
    Job,
    StudentRecipe,
    cell_text,
    check_settings,
    default_paths,
    environment,
    job_invocation_text,
    job_report_header,
    paired_summary,
    rationale_cell,
    run_jobs,
    seed_summary,
    seed_summary_text,
    signed_interval_text,
    student_cell,
    teacher_cell,
    verdict,
    without_outcomes,
    write_outputs,
)
from tokendistill.data.tasks import get_task
from tokendistill.data.tasks.base import Task
from tokendistill.training.config import TrainConfig
from tokendistill.training.models import build_tiny_for_task

MAIN_K = 5
STUDENT_NAMES = {"t5": "T5", "llama": "Llama"}
# Settings that change every job's result without appearing in job keys (the teacher's are in its key).
SHARED_SETTINGS = ("task", "validation_size", "test_size", "student_steps", "student_lr", "ig_steps")
METHODS = {"saliency": {}, "ig": {"baseline": "pad"}}  # rationale variant -> attribution options
ATTRIBUTION_METHOD = {"saliency": "saliency", "ig": "integrated_gradients"}
MODES = ("standard", "rationale-saliency", "rationale-ig", "random")
COMPARISONS = (
    ("rationale-saliency", "standard"),
    ("rationale-saliency", "random"),
    ("rationale-ig", "standard"),
    ("rationale-ig", "random"),
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes for CI (< 60 s)")
    parser.add_argument("--task", default="synthetic-nli", choices=["synthetic-nli", "synthetic-math"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 1000, 4000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--k-size", type=int, default=1000, help="training-set size of the k = 1..10 sweep")
    parser.add_argument("--k-values", type=int, nargs="*", default=list(range(1, 11)))
    parser.add_argument("--k-seeds", type=int, nargs="*", default=[0], help="seeds of the k sweep")
    parser.add_argument("--validation-size", type=int, default=300)
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--teacher-size", default="small", help="T5 size from models/tiny.py")
    parser.add_argument("--teacher-train-size", type=int, default=20000)
    parser.add_argument("--teacher-steps", type=int, default=4000)
    parser.add_argument("--teacher-lr", type=float, default=1e-3)
    parser.add_argument(
        "--student-architecture",
        default="t5",
        choices=["t5", "llama"],
        help="tiny students of this family (llama: decoder-only); results go to synthetic_curve_llama.*",
    )
    parser.add_argument("--student-steps", type=int, default=500)
    parser.add_argument("--student-lr", type=float, default=2e-3)
    parser.add_argument("--ig-steps", type=int, default=8, help="integrated gradients path points")
    parser.add_argument("--workers", type=int, default=2, help="jobs at once, one torch thread each")
    parser.add_argument("--work-dir", type=Path, default=None, help="models and caches (resumable)")
    parser.add_argument("--output-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.smoke:
        args.sizes, args.seeds, args.k_size, args.k_values, args.k_seeds = [40], [0, 1], 40, [1, 5], [0]
        args.validation_size, args.test_size, args.teacher_size, args.teacher_train_size = 20, 30, "tiny", 200
        args.teacher_steps, args.student_steps, args.ig_steps = 20, 8, 2
    default_paths(args, "synthetic_curve", argv)
    if args.k_size not in args.sizes:
        parser.error(f"--k-size {args.k_size} must be one of --sizes {args.sizes}")
    return args


@dataclass(frozen=True)
class Settings:
    """Everything the jobs are built from, derived once from the command line."""

    task_name: str
    validation_size: int
    test_size: int
    teacher_train: TrainConfig
    student: StudentRecipe

    def task(self, train_size: int) -> Task:
        return get_task(
            self.task_name, size=train_size, validation_size=self.validation_size, test_size=self.test_size
        )


def train_config(steps: int, learning_rate: float, smoke: bool) -> TrainConfig:
    """Tiny models from scratch need a far higher learning rate than DSS's 5e-5 for pretrained T5."""
    return TrainConfig(
        learning_rate=learning_rate,
        batch_size=32,
        eval_batch_size=256,
        max_steps=steps,
        eval_steps=max(1, steps // 4),  # model selection on the validation split, 4 times per run
        logging_steps=max(1, steps // 4),
        save_total_limit=1,
        warmup_steps=0 if smoke else steps // 20,
        max_input_length=128,
        max_target_length=32,
        max_new_tokens=24,
        training_args={"disable_tqdm": True},
    )


def teacher_job(folder: Path, *, task: Task, size: str, train: TrainConfig) -> dict[str, Any]:
    """Train the teacher from scratch on the large training set and score it on the test split."""
    init = build_tiny_for_task(task, folder / "init", size=size, vocab_size=2000, seed=0)
    return teacher_cell(folder, task=task, init=init, train=train, eval_batch_size=train.eval_batch_size)


def teacher_key(args: argparse.Namespace) -> str:
    """The teacher's job key, naming its settings: the work folder keeps results by job key, so another
    teacher gets new rationale students while the students that need no teacher are reused."""
    steps, lr = args.teacher_steps, args.teacher_lr
    return f"teacher-{args.teacher_size}-n{args.teacher_train_size}-{steps}steps-lr{lr:g}"


def output_name(args: argparse.Namespace) -> str:
    """Results and plots of T5 students keep their names; other families get a suffix."""
    suffix = "" if args.student_architecture == "t5" else f"_{args.student_architecture}"
    return f"synthetic_curve{suffix}"


def cell_key(args: argparse.Namespace, size: int, variant: str, seed: int) -> str:
    family = "" if args.student_architecture == "t5" else f"-{args.student_architecture}"
    student = f"students{family}/n{size}/{variant}/seed{seed}"
    return f"{teacher_key(args)}/{student}" if variant.startswith("rationale-") else student


def variant_name(mode: str, k: int = MAIN_K) -> str:
    return mode if mode == "standard" else f"{mode}-k{k}"


def build_jobs(args: argparse.Namespace, settings: Settings) -> list[Job]:
    largest = max(args.sizes)
    teacher = Job(
        teacher_key(args),
        teacher_job,
        {
            "task": settings.task(args.teacher_train_size),
            "size": args.teacher_size,
            "train": settings.teacher_train,
        },
    )
    wanted_methods = [m.removeprefix("rationale-") for m in args.modes if m.startswith("rationale-")]
    rationale_jobs = [
        Job(
            f"{teacher.key}/rationales/{method}",
            rationale_cell,
            {
                "teacher": args.work_dir / teacher.key / "model",
                "task": settings.task(largest),
                "method": ATTRIBUTION_METHOD[method],
                "options": {**METHODS[method], **({"n_steps": args.ig_steps} if method == "ig" else {})},
                "k": MAIN_K,
                "more_k": args.k_values if method == "saliency" else [],
                "evidence_k": sorted({*args.k_values, MAIN_K}),
            },
            (teacher.key,),
        )
        for method in wanted_methods
    ]
    cells = []
    for size in args.sizes:
        for mode in args.modes:
            for seed in args.seeds:
                cells.append(student_job(args, settings, size, mode, seed, MAIN_K))
    if "rationale-saliency" in args.modes:
        for k in args.k_values:
            for seed in args.k_seeds:
                if k != MAIN_K or seed not in args.seeds:
                    cells.append(student_job(args, settings, args.k_size, "rationale-saliency", seed, k))
    # Rationale jobs first: the pool starts jobs in list order, and they unblock the most students.
    return [teacher, *rationale_jobs, *sorted(cells, key=lambda job: bool(job.deps))]


def student_job(args: argparse.Namespace, settings: Settings, size: int, mode: str, seed: int, k: int) -> Job:
    kwargs: dict[str, Any] = {"task": settings.task(size), "seed": seed, "recipe": settings.student, "k": k}
    deps: tuple[str, ...] = ()
    if mode.startswith("rationale-"):
        method = mode.removeprefix("rationale-")
        kwargs["mode"] = "rationale"
        deps = (f"{teacher_key(args)}/rationales/{method}",)
        kwargs["rationales_path"] = args.work_dir / deps[0] / f"train-k{k}.jsonl"
    else:
        kwargs["mode"] = mode
    return Job(cell_key(args, size, variant_name(mode, k), seed), student_cell, kwargs, deps)


def summarise(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    def cells(size: int, variant: str, seeds: Sequence[int]) -> list[dict[str, Any]]:
        return [results[cell_key(args, size, variant, seed)] for seed in seeds]

    accuracy = {
        str(size): {mode: seed_summary(cells(size, variant_name(mode), args.seeds)) for mode in args.modes}
        for size in args.sizes
    }
    paired = {
        str(size): {
            f"{a} - {b}": paired_summary(
                cells(size, variant_name(a), args.seeds), cells(size, variant_name(b), args.seeds)
            )
            for a, b in COMPARISONS
            if a in args.modes and b in args.modes
        }
        for size in args.sizes
    }
    k_sweep = {}
    if "rationale-saliency" in args.modes:
        k_seeds = args.k_seeds or args.seeds
        k_sweep = {
            str(k): seed_summary(cells(args.k_size, variant_name("rationale-saliency", k), k_seeds))
            for k in args.k_values
        }
    rationales = {method: f"{teacher_key(args)}/rationales/{method}" for method in METHODS}
    evidence = {method: results[key]["evidence"] for method, key in rationales.items() if key in results}
    return {"accuracy": accuracy, "paired": paired, "k_sweep": k_sweep, "teacher_evidence": evidence}


def markdown(report: dict[str, Any]) -> str:
    s, summary = report["settings"], report["summary"]
    teacher = report["teacher"]
    sizes = list(summary["accuracy"])
    lines = [
        "# Synthetic learning curve",
        "",
        job_invocation_text(report),
        "",
        f"Task `{s['task']}` (validation {s['validation_size']}, test {s['test_size']} examples). Teacher: "
        f"{s['teacher']}. Students: {s['students']}. Rationales explain the teacher's own prediction; "
        f"integrated gradients use {s['ig']}.",
        "",
        f"**Teacher** test accuracy {cell_text(teacher)} (bootstrap over test examples), after "
        f"{teacher['global_step']} steps.",
        "",
        f"## Student test accuracy (%), mean over seeds {s['seeds']} [95% t-interval over seeds]",
        "",
        "| mode | " + " | ".join(f"n = {size}" for size in sizes) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    for mode in s["modes"]:
        row = [seed_summary_text(summary["accuracy"][size][mode]) for size in sizes]
        lines.append(f"| {mode} | " + " | ".join(row) + " |")
    lines += [
        "",
        "## Paired differences (percentage points)",
        "",
        "Seed-paired: the same seed gives the same initial weights and data order in both modes; interval = "
        "t-interval of the per-seed differences. Test-bootstrap: paired bootstrap over test examples of the "
        "per-example correctness averaged over seeds.",
        "",
        "| n | comparison | difference [seed interval] | test-bootstrap interval | seeds A > B | verdict |",
        "|---:|---|---:|---:|---:|---|",
    ]
    for size in sizes:
        for name, p in summary["paired"][size].items():
            lines.append(
                f"| {size} | {name} | {signed_interval_text(p['mean'], p['seed_low'], p['seed_high'])} | "
                f"{signed_interval_text(p['mean'], p['test_low'], p['test_high'])} | "
                f"{p['a_better_seeds']}/{p['seeds']} | {verdict(p)} |"
            )
    for method, table in summary["teacher_evidence"].items():
        first = next(iter(table.values()))
        lines += [
            "",
            f"## Teacher evidence at k ({method}, {first['examples']} training examples)",
            "",
            "precision = share of the top-k words that are evidence words; recall = share of the evidence "
            "words in the top-k; hit = the top-k holds any evidence word; chance = k random candidate words.",
            "",
            "| k | precision | chance | recall | chance | hit | chance |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for k, e in table.items():
            values = [
                e[name]
                for name in ("precision", "precision_chance", "recall", "recall_chance", "hit", "hit_chance")
            ]
            lines.append(f"| {k} | " + " | ".join(f"{100 * v:.1f}" for v in values) + " |")
    if summary["k_sweep"]:
        lines += [
            "",
            f"## Rationale students (saliency) against k, n = {s['k_size']}, seeds {s['k_seeds']}",
            "",
            "| k | student accuracy (%) [95% t-interval over seeds] |",
            "|---:|---:|",
        ]
        for k, cell in summary["k_sweep"].items():
            lines.append(f"| {k} | {seed_summary_text(cell)} |")
    lines += ["", f"Plots: `{report['plots'][0]}`, `{report['plots'][1]}`.", ""]
    return "\n".join(lines)


def _error_bars(cells: Sequence[dict[str, Any]]) -> list[list[float]]:
    # One seed has no interval: draw no bar rather than a nan one.
    low = [0.0 if c["low"] != c["low"] else 100 * (c["mean"] - c["low"]) for c in cells]
    high = [0.0 if c["high"] != c["high"] else 100 * (c["high"] - c["mean"]) for c in cells]
    return [low, high]


def plot(report: dict[str, Any], output_dir: Path, name: str) -> list[str]:
    """Accuracy against training-set size per mode; accuracy and teacher evidence against k."""
    summary, names = report["summary"], [f"{name}.png", f"{name}_k.png"]
    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    sizes = [int(size) for size in summary["accuracy"]]
    for mode in report["settings"]["modes"]:
        cells = [summary["accuracy"][str(size)][mode] for size in sizes]
        axes.errorbar(
            sizes,
            [100 * c["mean"] for c in cells],
            yerr=_error_bars(cells),
            marker="o",
            capsize=3,
            label=mode,
        )
    axes.axhline(100 * report["teacher"]["accuracy"], color="grey", linestyle="--", label="teacher")
    axes.set(
        xscale="log",
        xlabel="student training examples",
        ylabel="test accuracy (%)",
        title=f"{report['settings']['task']}: mean and 95% t-interval over seeds",
    )
    axes.set_xticks(sizes, [str(size) for size in sizes])
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.legend(fontsize=8)
    figure.savefig(output_dir / names[0], dpi=110, bbox_inches="tight")

    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    if summary["k_sweep"]:
        ks = [int(k) for k in summary["k_sweep"]]
        cells = list(summary["k_sweep"].values())
        axes.errorbar(
            ks,
            [100 * c["mean"] for c in cells],
            yerr=_error_bars(cells),
            marker="o",
            capsize=3,
            label=f"student accuracy, seeds {report['settings']['k_seeds']}",
        )
        standard = summary["accuracy"][str(report["settings"]["k_size"])].get("standard")
        if standard is not None:
            axes.axhline(
                100 * standard["mean"], color="grey", linestyle=":", label="standard (mean over seeds)"
            )
    evidence = summary["teacher_evidence"].get("saliency", {})
    if evidence:
        ks = [int(k) for k in evidence]
        for name in ("precision", "recall"):
            axes.plot(
                ks,
                [100 * e[name] for e in evidence.values()],
                linestyle="--",
                marker=".",
                label=f"teacher {name}@k",
            )
    axes.set(
        xlabel="k (rationale words)",
        ylabel="%",
        title=f"saliency rationales, n = {report['settings']['k_size']}",
    )
    axes.legend(fontsize=8)
    figure.savefig(output_dir / names[1], dpi=110, bbox_inches="tight")
    return names


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.smoke:  # a smoke run checks the code: never reuse results of an earlier one
        shutil.rmtree(args.work_dir, ignore_errors=True)
    started = time.perf_counter()
    env = environment(args.workers, 1)
    student_train = train_config(args.student_steps, args.student_lr, args.smoke)
    settings = Settings(
        args.task,
        args.validation_size,
        args.test_size,
        train_config(args.teacher_steps, args.teacher_lr, args.smoke),
        StudentRecipe(
            train=student_train, size="tiny", vocab_size=300, architecture=args.student_architecture
        ),
    )
    # Results are kept by job key; the settings every job shares must not change under the same folder.
    shared = {key: getattr(args, key) for key in SHARED_SETTINGS}
    check_settings(args.work_dir, shared)
    results = run_jobs(build_jobs(args, settings), args.work_dir, workers=args.workers)
    report: dict[str, Any] = {
        **job_report_header("synthetic_curve.py", args.argv, env, started, results),
        "settings": {
            "task": args.task,
            "sizes": args.sizes,
            "seeds": args.seeds,
            "modes": args.modes,
            "k_size": args.k_size,
            "k_values": args.k_values,
            "k_seeds": args.k_seeds,
            "validation_size": args.validation_size,
            "test_size": args.test_size,
            "teacher": f"T5 {args.teacher_size} from scratch, {args.teacher_train_size} training examples, "
            f"{args.teacher_steps} steps of 32, lr {args.teacher_lr}",
            "students": f"{STUDENT_NAMES[args.student_architecture]} tiny from scratch, "
            f"{args.student_steps} steps of 32 examples, "
            f"lr {args.student_lr}, alpha 0.5, best of 4 validation checks",
            "ig": f"{args.ig_steps} Gauss-Legendre path points, pad-token baseline",
        },
        "teacher": {k: v for k, v in results[teacher_key(args)].items() if k != "correct"},
        "summary": summarise(args, results),
        "jobs": without_outcomes(results),
    }
    report["plots"] = plot(report, _ready(args.output_dir), output_name(args))
    write_outputs(args.output_dir, output_name(args), report, markdown(report))
    return 0


def _ready(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


if __name__ == "__main__":
    sys.exit(main())
