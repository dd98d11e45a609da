"""Does the method work where the answer is known? Students against training-set size on a synthetic task.

A synthetic task records, for every example, the input words that decide its answer, so the teacher's
top-k words can be checked against ground truth and the effect of learning them measured without any
download. The experiment is a config, ``configs/local/synthetic-curve.yaml`` (a small T5 teacher that learns
from 20,000 examples; tiny students that learn from the first 250, 1,000 and 4,000 of them, three seeds, in
each mode: standard, rationale with saliency and with integrated gradients, random words), run by
``tokendistill run`` like any experiment, resuming whatever it finished before. This script then reads the
run and writes ``<name>.json``, ``<name>.md`` and two plots: accuracy per mode at each training-set size
with paired differences (over seeds and over test examples), accuracy against k and against alpha where the
run swept them, and how well the teacher's top-k words find the evidence words (precision, recall and hit at
k = 1..10, with chance levels).

    python benchmarks/synthetic_curve.py                          # the curve (~45 min on 2 cores)
    python benchmarks/synthetic_curve.py sweeps.k=[1,2,3,4,6,7,8,9,10] --name synthetic_k   # k = 1..10
    python benchmarks/synthetic_curve.py 'sweeps.alpha=[0.7,0.9]' 'sweeps.train_examples=[]' \
        'sweeps.methods=[]' --name synthetic_alpha                  # alpha, at n = 1,000, saliency only
    python benchmarks/synthetic_curve.py --smoke                  # seconds, benchmarks/results/smoke/

Other students of the same teacher are a config override, e.g. tiny Llama students:
``'students.models=[{name: tiny-llama, tiny: {architecture: llama, size: tiny, vocab_size: 300}}]'
sweeps.methods=[] --name synthetic_curve_llama`` (the teacher and its rationales are reused).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from benchlib import (
    EVIDENCE_HEADER,
    EVIDENCE_NOTE,
    REPO_ROOT,
    RESULTS_DIR,
    environment,
    evidence_at_k,
    evidence_row,
    interval_text,
    machine_text,
    paired_record,
    run_config,
    seed_summary,
    signed_interval_text,
    signed_text,
    stage_seconds,
    write_outputs,
)
from tokendistill.experiment.config import ExperimentConfig, TrainingConfig
from tokendistill.experiment.plan import (
    StudentVariant,
    student_variants,
    variant_alpha,
    variant_train_examples,
)
from tokendistill.experiment.splits import ExperimentTask
from tokendistill.report.paired import compare_evaluations
from tokendistill.report.results import RunResults, load_run
from tokendistill.report.table import at_train_size, curve_sizes

CONFIG = REPO_ROOT / "configs" / "local" / "synthetic-curve.yaml"
NAME = "synthetic_curve"
EVIDENCE_K = tuple(range(1, 11))  # the teacher's top-k against the evidence words, from one file's scores
# Seconds instead of the better part of an hour: small sets, few steps, one size and k swept.
SMOKE = (
    "output_dir=runs/benchmarks/synthetic-curve-smoke",
    "task.options={size: 200, validation_size: 20, test_size: 30}",
    "teacher.tiny.size=tiny",
    "teacher.training.max_steps=20",
    "teacher.training.eval_steps=10",
    "teacher.training.warmup_steps=0",
    "attribution.n_steps=2",
    "sweeps.k=[1]",
    "sweeps.train_examples=[20]",
    "students.train_examples=40",
    "students.training.max_steps=8",
    "students.training.eval_steps=4",
    "students.training.warmup_steps=0",
    "seeds=[0,1]",
    "report.heatmap_examples=2",
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, as for run")
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--jobs", type=int, default=2, help="stages at once (tokendistill run --jobs)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per stage")
    parser.add_argument("--name", default=NAME, help="results file name, without .json")
    parser.add_argument("--output-dir", type=Path, default=None)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes for CI; results/smoke/, run redone")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.output_dir is None:
        args.output_dir = RESULTS_DIR / "smoke" if args.smoke else RESULTS_DIR
    return args


def curve_variants(config: ExperimentConfig) -> list[StudentVariant]:
    """The settings the run repeats at every training-set size: each mode at the main k and alpha."""
    main_k = (None, config.attribution.k)
    return [
        v for v in student_variants(config) if v.train_examples is None and v.alpha is None and v.k in main_k
    ]


def paired_summary(run: RunResults, student: str, a: StudentVariant, b: StudentVariant) -> dict[str, Any]:
    """A - B over the seeds both finished, paired by seed and by test example (the report's comparison)."""
    return paired_record(
        compare_evaluations(run.students.get((student, a), {}), run.students.get((student, b), {}))
    )


def comparisons(variants: Sequence[StudentVariant]) -> list[tuple[StudentVariant, StudentVariant]]:
    """Each rationale setting against standard fine-tuning and against random words, where both ran."""
    by_mode = {variant.mode: variant for variant in variants if variant.mode != "rationale"}
    return [
        (variant, by_mode[other])
        for variant in variants
        if variant.mode == "rationale"
        for other in ("standard", "random")
        if other in by_mode
    ]


def summarise(run: RunResults, student: str) -> dict[str, Any]:
    """Accuracy and paired differences per training-set size, the k sweep, and the teacher's evidence."""
    config = run.config
    variants = curve_variants(config)
    accuracy, paired = {}, {}
    for size in curve_sizes(run):
        label = "all" if size is None else str(size)
        accuracy[label] = {
            v.slug: seed_summary(run.evaluations(student, at_train_size(run, v, size))) for v in variants
        }
        paired[label] = {
            f"{a.slug} - {b.slug}": paired_summary(
                run, student, at_train_size(run, a, size), at_train_size(run, b, size)
            )
            for a, b in comparisons(variants)
        }
    k_sweep: dict[str, dict[str, Any]] = {}
    k_paired: dict[str, dict[str, Any]] = {}
    if config.sweeps.k:
        ks = sorted(config.k_values())
        for mode, method in (("rationale", config.attribution.method), ("random", None)):
            rows = {
                str(k): seed_summary(run.evaluations(student, StudentVariant(mode, method, k))) for k in ks
            }
            if all(row["per_seed"] for row in rows.values()):
                k_sweep[mode] = rows
        if set(k_sweep) == {"rationale", "random"} and "standard" in config.students.modes:
            for k in ks:
                rationale = StudentVariant("rationale", config.attribution.method, k)
                k_paired[str(k)] = {
                    "rationale - standard": paired_summary(
                        run, student, rationale, StudentVariant("standard")
                    ),
                    "rationale - random": paired_summary(
                        run, student, rationale, StudentVariant("random", None, k)
                    ),
                }
    alpha_sweep, alpha_paired = alpha_summary(run, student) if config.sweeps.alpha else ({}, {})
    train = ExperimentTask(config.task, config.rationale_examples()).load("train")
    evidence = {
        method: {str(k): row for k, row in evidence_at_k(path, train, EVIDENCE_K).items()}
        for (method, k), path in sorted(run.rationale_files.items())
        if k == config.attribution.k
    }
    return {
        "accuracy": accuracy,
        "paired": paired,
        "k_sweep": k_sweep,
        "k_paired": k_paired,
        "alpha_sweep": alpha_sweep,
        "alpha_paired": alpha_paired,
        "teacher_evidence": evidence,
    }


def alpha_summary(run: RunResults, student: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two-task students at each alpha (main k and method, main training-set size): validation and test
    accuracy, and each alpha's rationale students against standard students and against random words of
    the same alpha; ``chosen`` is the alpha that the report picks on validation, as the study would."""
    config = run.config
    alphas = sorted({config.students.alpha, *config.sweeps.alpha})
    main = {
        "rationale": StudentVariant("rationale", config.attribution.method, config.attribution.k),
        "random": StudentVariant("random", None, config.attribution.k),
    }

    def at(variant: StudentVariant, alpha: float) -> StudentVariant:
        return replace(variant, alpha=None if alpha == config.students.alpha else alpha)

    sweep: dict[str, Any] = {}
    for mode, variant in main.items():
        if mode not in config.students.modes:
            continue
        rows = {
            f"{alpha:g}": {
                **seed_summary(run.evaluations(student, at(variant, alpha))),
                "validation": run.mean_validation(student, at(variant, alpha)),
            }
            for alpha in alphas
        }
        chosen = run.selected_variant(student, variant)
        sweep[mode] = {"by_alpha": rows, "chosen": f"{variant_alpha(config, chosen):g}"}
    if "rationale" not in sweep:
        return sweep, {}

    standard = StudentVariant("standard")

    def against(rationale: StudentVariant, random_words: StudentVariant) -> dict[str, Any]:
        pairs = {}
        if "standard" in config.students.modes:
            pairs["rationale - standard"] = paired_summary(run, student, rationale, standard)
        if "random" in sweep:
            pairs["rationale - random"] = paired_summary(run, student, rationale, random_words)
        return pairs

    paired = {
        f"{alpha:g}": against(at(main["rationale"], alpha), at(main["random"], alpha)) for alpha in alphas
    }
    # The study's protocol: each mode at the alpha chosen on validation (the report's comparison).
    selected = (run.selected_variant(student, main[mode]) for mode in ("rationale", "random"))
    paired["chosen"] = against(*selected)
    return sweep, paired


def runs_table(run: RunResults) -> list[dict[str, Any]]:
    """Every finished student evaluation of the run."""
    return [
        {
            "student": student,
            "setting": variant.slug,
            "mode": variant.mode,
            "method": variant.method,
            "k": variant.k,
            "alpha": None if variant.mode == "standard" else variant_alpha(run.config, variant),
            "train_examples": variant_train_examples(run.config, variant),
            "seed": seed,
            "test_accuracy": evaluation.accuracy,
            "validation_accuracy": evaluation.validation_accuracy,
        }
        for (student, variant), by_seed in sorted(
            run.students.items(), key=lambda item: (item[0][0], item[0][1].slug)
        )
        for seed, evaluation in sorted(by_seed.items())
    ]


def settings_of(config: ExperimentConfig) -> dict[str, Any]:
    teacher, students = config.teacher, config.students
    (model,) = students.models
    return {
        "task": config.task.name,
        "task_options": config.task.options,
        "seeds": config.seeds,
        "student": model.name,
        "train_sizes": config.student_train_sizes(),
        "main_train_size": students.train_examples,
        "teacher": f"{teacher.tiny.architecture} {teacher.tiny.size} from scratch, "
        f"{_schedule(teacher.training)}",
        "students": f"{model.tiny.architecture} {model.tiny.size} from scratch (tokenizer trained on their "
        f"own examples), {_schedule(students.training)}, "
        f"alpha {students.alpha:g}, best of the validation checks",
        "attribution": f"{', '.join(config.methods())} at k={config.attribution.k}; integrated gradients: "
        f"{config.attribution.n_steps} path points from the {config.attribution.baseline} baseline",
    }


def _schedule(training: TrainingConfig) -> str:
    return f"{training.max_steps} steps of {training.batch_size}, lr {training.learning_rate:g}"


def summary_text(summary: Mapping[str, Any]) -> str:
    return interval_text(summary["mean"], summary["low"], summary["high"])


def markdown(report: Mapping[str, Any]) -> str:
    s, summary, teacher = report["settings"], report["summary"], report["teacher"]
    sizes = list(summary["accuracy"])
    settings = list(summary["accuracy"][sizes[0]])
    lines = [
        f"# Synthetic learning curve ({s['student']})",
        "",
        f"`{report['command']}` on {machine_text(report['environment'])}; "
        f"{report['wall_seconds'] / 60:.1f} min wall for this invocation (finished stages are reused), "
        f"{sum(report['stage_seconds'].values()) / 60:.0f} min of stage time in all (`stage_seconds`).",
        "",
        f"Task `{s['task']}` {s['task_options']}. Teacher: {s['teacher']}. Students: {s['students']}. "
        f"Rationales: {s['attribution']}; they explain the teacher's own prediction.",
        "",
        "**Teacher** test accuracy "
        f"{interval_text(teacher['accuracy'], teacher['ci_low'], teacher['ci_high'])} (bootstrap over test "
        "examples).",
        "",
        f"## Student test accuracy (%), mean over seeds {s['seeds']} [95% t-interval over seeds]",
        "",
        "| setting | " + " | ".join(f"n = {size}" for size in sizes) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    for setting in settings:
        row = [summary_text(summary["accuracy"][size][setting]) for size in sizes]
        lines.append(f"| {setting} | " + " | ".join(row) + " |")
    lines += [
        "",
        "## Paired differences (percentage points)",
        "",
        "Seed-paired: the same seed gives the same initial weights and data order in both settings; "
        "interval = t-interval of the per-seed differences. Test examples: paired bootstrap over test "
        "examples of the per-example correctness averaged over seeds.",
        "",
        "| n | A - B | difference [seed interval] | test-example interval | seeds A > B | verdict |",
        "|---:|---|---:|---:|---:|---|",
    ]
    for size in sizes:
        for name, p in summary["paired"][size].items():
            lines.append(
                f"| {size} | {name} | {signed_interval_text(p['mean'], p['seed_low'], p['seed_high'])} | "
                f"{signed_interval_text(p['mean'], p['test_low'], p['test_high'])} | "
                f"{p['a_better_seeds']}/{p['seeds']} | {p['verdict']} |"
            )
    for method, table in summary["teacher_evidence"].items():
        first = next(iter(table.values()))
        lines += [
            "",
            f"## Teacher evidence at k ({method}, {first['examples']} training examples)",
            "",
            EVIDENCE_NOTE,
            "",
            f"| k | {EVIDENCE_HEADER}",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [f"| {k} | {evidence_row(e)} |" for k, e in table.items()]
    for mode, table in summary["k_sweep"].items():
        lines += [
            "",
            f"## {mode} students against k, n = {s['main_train_size']}, seeds {s['seeds']}",
            "",
            "| k | test accuracy (%) [95% t-interval over seeds] |",
            "|---:|---:|",
        ]
        lines += [f"| {k} | {summary_text(cell)} |" for k, cell in table.items()]
    if summary["k_paired"]:
        lines += [
            "",
            f"## Rationale students against k, paired (points), n = {s['main_train_size']}",
            "",
            "Against standard students and against random-word students of the same k: difference [interval "
            "over seeds] [interval over test examples], seeds A > B, verdict.",
            "",
            "| k | rationale - standard | rationale - random |",
            "|---:|---|---|",
        ]
        for k, pairs in summary["k_paired"].items():
            lines.append(f"| {k} | " + " | ".join(paired_cell(p) for p in pairs.values()) + " |")
    lines += alpha_markdown(summary, s)
    lines += ["", f"Plots: `{report['plots'][0]}`, `{report['plots'][1]}`.", ""]
    return "\n".join(lines)


def alpha_markdown(summary: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
    """The alpha sweep's tables (none when the run did not sweep alpha)."""
    if not summary["alpha_sweep"]:
        return []
    n = settings["main_train_size"]
    lines = [
        "",
        f"## Two-task students against alpha (the label loss's weight), n = {n}, seeds {settings['seeds']}",
        "",
        "Validation: mean over seeds of the kept checkpoint's validation accuracy (%), by which the report "
        "chooses alpha; test: mean [95% t-interval over seeds].",
        "",
        "| mode | alpha | validation | test | chosen on validation |",
        "|---|---:|---:|---:|---|",
    ]
    for mode, sweep in summary["alpha_sweep"].items():
        for alpha, row in sweep["by_alpha"].items():
            validation = "n/a" if row["validation"] is None else f"{100 * row['validation']:.1f}"
            chosen = "yes" if alpha == sweep["chosen"] else ""
            lines.append(f"| {mode} | {alpha} | {validation} | {summary_text(row)} | {chosen} |")
    lines += [
        "",
        f"## Rationale students against alpha, paired (points), n = {n}",
        "",
        "Against standard students (no alpha) and against random-word students of the same alpha; row "
        "'chosen': each mode at the alpha chosen on validation (the report's comparison). Difference "
        "[interval over seeds] [interval over test examples], seeds A > B, verdict.",
        "",
        "| alpha | " + " | ".join(next(iter(summary["alpha_paired"].values()))) + " |",
        "|---:|" + "---|" * len(next(iter(summary["alpha_paired"].values()))),
    ]
    for alpha, pairs in summary["alpha_paired"].items():
        lines.append(f"| {alpha} | " + " | ".join(paired_cell(p) for p in pairs.values()) + " |")
    return lines


def paired_cell(p: Mapping[str, Any]) -> str:
    """A paired difference in one table cell: difference [seed interval] [test-example interval], seeds
    A > B, verdict."""
    return (
        f"{signed_interval_text(p['mean'], p['seed_low'], p['seed_high'])} "
        f"[{signed_text(p['test_low'])}, {signed_text(p['test_high'])}] "
        f"{p['a_better_seeds']}/{p['seeds']}, {p['verdict']}"
    )


def _error_bars(cells: Sequence[Mapping[str, Any]]) -> list[list[float]]:
    # One seed has no interval: draw no bar rather than a nan one.
    low = [0.0 if c["low"] != c["low"] else 100 * (c["mean"] - c["low"]) for c in cells]
    high = [0.0 if c["high"] != c["high"] else 100 * (c["high"] - c["mean"]) for c in cells]
    return [low, high]


def _errorbar(axes: Any, xs: Sequence[int], cells: Sequence[Mapping[str, Any]], label: str) -> None:
    means = [100 * c["mean"] for c in cells]
    axes.errorbar(xs, means, yerr=_error_bars(cells), marker="o", capsize=3, label=label)


def plot(report: Mapping[str, Any], output_dir: Path, name: str) -> list[str]:
    """Accuracy against training-set size per setting; accuracy and teacher evidence against k."""
    summary, settings, names = report["summary"], report["settings"], [f"{name}.png", f"{name}_k.png"]
    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    sizes = [size for size in summary["accuracy"] if size != "all"]
    for setting in summary["accuracy"][sizes[0]]:
        _errorbar(axes, [int(n) for n in sizes], [summary["accuracy"][n][setting] for n in sizes], setting)
    axes.axhline(100 * report["teacher"]["accuracy"], color="grey", linestyle="--", label="teacher")
    axes.set(
        xscale="log",
        xlabel="student training examples",
        ylabel="test accuracy (%)",
        title=f"{settings['task']}: mean and 95% t-interval over seeds",
    )
    axes.set_xticks([int(n) for n in sizes], sizes)
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.legend(fontsize=8)
    output_dir.mkdir(parents=True, exist_ok=True)
    figure.savefig(output_dir / names[0], dpi=110, bbox_inches="tight")

    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    for mode, table in summary["k_sweep"].items():
        _errorbar(
            axes, [int(k) for k in table], list(table.values()), f"{mode} students, seeds {settings['seeds']}"
        )
    standard = summary["accuracy"].get(str(settings["main_train_size"]), {}).get("standard")
    if summary["k_sweep"] and standard is not None:
        axes.axhline(100 * standard["mean"], color="grey", linestyle=":", label="standard students (mean)")
    for method, table in summary["teacher_evidence"].items():
        for measure in ("precision", "recall"):
            values = [100 * e[measure] for e in table.values()]
            axes.plot(
                [int(k) for k in table],
                values,
                linestyle="--",
                marker=".",
                label=f"teacher {measure}@k ({method})",
            )
    examples = sorted(
        {row["examples"] for table in summary["teacher_evidence"].values() for row in table.values()}
    )
    title = f"students: n = {settings['main_train_size']}; teacher's top-k over {examples} training examples"
    axes.set(xlabel="k (rationale words)", ylabel="%", title=title)
    axes.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)  # below the curves
    figure.savefig(output_dir / names[1], dpi=110, bbox_inches="tight")
    return names


def repo_relative(path: Path) -> Path:
    """``path`` from the repository root when it lies inside it: no machine's folders in a results file."""
    path = path.resolve()
    return path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = [*SMOKE, *args.overrides] if args.smoke else args.overrides
    if args.smoke:  # a smoke run checks the code: never reuse an earlier one
        shutil.rmtree(REPO_ROOT / "runs" / "benchmarks" / "synthetic-curve-smoke", ignore_errors=True)
    env = environment(workers=args.jobs, threads=args.threads)
    started = time.perf_counter()
    run = load_run(run_config(args.config, overrides, jobs=args.jobs, threads=args.threads))
    if run.teacher is None:
        raise SystemExit(f"{run.run_dir}: the teacher's evaluation did not finish")
    (student,) = (model.name for model in run.config.students.models)
    report: dict[str, Any] = {
        "command": " ".join(["python benchmarks/synthetic_curve.py", *args.argv]),
        "config": str(repo_relative(args.config)),
        "environment": env,
        "wall_seconds": time.perf_counter() - started,
        "stage_seconds": stage_seconds(run.run_dir),
        "settings": settings_of(run.config),
        "teacher": {
            "accuracy": run.teacher.accuracy,
            "ci_low": run.teacher.ci_low,
            "ci_high": run.teacher.ci_high,
        },
        "summary": summarise(run, student),
        "runs": runs_table(run),
    }
    report["plots"] = plot(report, args.output_dir, args.name)
    write_outputs(args.output_dir, args.name, report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
