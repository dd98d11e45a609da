"""The paper's table at a size this machine can train: four real tasks, a pretrained teacher, small students.

Pretrained T5 cannot be downloaded here, so the paper's own setting (Flan-T5 teacher, T5 students) cannot
run. What can: the teacher is MiniLM-L6-H384 (the pretrained transformer that installs offline, made an
encoder-decoder by ``tokendistill.training.minilm``) fine-tuned on each task. Each task is one config in
``configs/local/minilm/``, run by ``tokendistill run`` like any experiment (resuming whatever it finished
before); this script runs the tasks' configs and reads the runs. Students (``--student``): tiny T5 models
trained from scratch (``tiny``, the configs' own), or pretrained but shallower: MiniLM's first 2 encoder
layers and a 1-layer decoder, trained like the teacher (``minilm-l2``). Both kinds share a task's teacher and
rationales. Modes: ``standard`` (input -> label), ``dss`` (explaining with PaLM's chain of thought, DSS's
staged files), ``rationale`` (the teacher's top-5 words by saliency) and ``random`` (5 random words).

Splits: e-SNLI and ANLI R1 train on their staged validation files (their training inputs are not staged;
for ANLI R1 that is NOT the paper's protocol), CQA and SVAMP use DSS's splits (each config says which).
Writes ``replicate_local.json`` and ``replicate_local.md`` (``replicate_local_minilm_l2.*`` for
``minilm-l2``) with the teacher, each mode's accuracy, the paired differences, whether the teacher beats
the standard student, and how often the teacher's top-5 words hold the answer (CQA, SVAMP).

    python benchmarks/replicate_local.py                    # all four tasks (~3 h of stage time on 2 cores)
    python benchmarks/replicate_local.py --student minilm-l2 --tasks esnli
    python benchmarks/replicate_local.py --tasks svamp seeds=[0]
    python benchmarks/replicate_local.py --smoke            # seconds, benchmarks/results/smoke/
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

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
    paired_table,
    run_config,
    seed_summary,
    seed_summary_text,
    signed_interval_text,
    stage_seconds,
    write_outputs,
)
from tokendistill.experiment.config import ExperimentConfig, load_config
from tokendistill.experiment.plan import StudentVariant
from tokendistill.experiment.splits import ExperimentTask
from tokendistill.experiment.stages import palm_training_rationales
from tokendistill.metrics.bootstrap import paired_difference
from tokendistill.report.paired import compare_evaluations, read_correctness
from tokendistill.report.results import RunResults, load_run

CONFIGS = REPO_ROOT / "configs" / "local" / "minilm"
DATA_DIR = REPO_ROOT.parent / "shared" / "data"
PAPER_ORDER = ("esnli", "anli1", "cqa", "svamp")
TITLES = {"esnli": "e-SNLI", "anli1": "ANLI R1", "cqa": "CQA", "svamp": "SVAMP"}
K = 5
MODE_TITLES = {
    "standard": "Standard fine-tuning",
    "dss": "Distilling step-by-step (PaLM rationales)",
    "rationale": "Teacher-token rationales (saliency, k=5)",
    "random": "Random-token control (k=5)",
}
VARIANTS = {
    "standard": StudentVariant("standard"),
    "dss": StudentVariant("dss"),
    "rationale": StudentVariant("rationale", "saliency", K),
    "random": StudentVariant("random", None, K),
}
COMPARISONS = (("rationale", "standard"), ("rationale", "dss"), ("rationale", "random"), ("dss", "standard"))
STUDENTS = {"tiny": "tiny T5 students", "minilm-l2": "MiniLM-L2 students"}
OUTPUT_NAMES = {"tiny": "replicate_local", "minilm-l2": "replicate_local_minilm_l2"}
# The CI run: SVAMP, 32 training and 24 test examples, a few steps, one seed.
SMOKE = (
    "output_dir=runs/benchmarks/replicate-smoke/svamp",
    "task.max_train_examples=32",
    "task.max_eval_examples=24",
    "teacher.training.max_steps=2",
    "teacher.training.warmup_steps=0",
    "students.training.max_steps=4",
    "students.training.warmup_steps=0",
    "seeds=[0]",
    "report.heatmap_examples=2",
)


def student_overrides(student: str, config: ExperimentConfig) -> list[str]:
    """Config overrides that swap the configs' tiny students for ``student``: MiniLM-L2 students start
    from MiniLM's first 2 layers and train with the teacher's recipe (its learning rates and steps)."""
    if student == "tiny":
        return []
    training = config.teacher.training.model_dump(mode="json")
    model = "{name: minilm-l2, pretrained: {name: minilm, encoder_layers: 2, decoder_layers: 1}}"
    return [f"students.models=[{model}]", f"students.training={json.dumps(training)}"]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="overrides for every task's config")
    parser.add_argument("--tasks", nargs="+", default=list(PAPER_ORDER), choices=PAPER_ORDER)
    parser.add_argument("--student", default="tiny", choices=list(STUDENTS))
    parser.add_argument("--jobs", type=int, default=2, help="stages at once (tokendistill run --jobs)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per stage")
    parser.add_argument("--output-dir", type=Path, default=None)
    parser.add_argument(
        "--name", default=None, help="results file name without .json (default: by --student)"
    )
    parser.add_argument("--smoke", action="store_true", help="SVAMP at tiny sizes for CI; results/smoke/")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.smoke:
        args.tasks, args.overrides = ["svamp"], [*SMOKE, *args.overrides]
    if args.output_dir is None:
        args.output_dir = RESULTS_DIR / "smoke" if args.smoke else RESULTS_DIR
    return args


def task_summary(run: RunResults, student: str) -> dict[str, Any]:
    """Teacher, each mode's accuracy over seeds, paired differences, teacher - standard, top-5 evidence."""
    config = run.config
    if run.teacher is None:
        raise SystemExit(f"{run.run_dir}: the teacher's evaluation did not finish")
    modes = [mode for mode in VARIANTS if mode in config.students.modes]
    by_mode = {mode: run.students.get((student, VARIANTS[mode]), {}) for mode in modes}
    teacher = run.teacher
    summary: dict[str, Any] = {
        "teacher": {"accuracy": teacher.accuracy, "ci_low": teacher.ci_low, "ci_high": teacher.ci_high},
        "accuracy": {mode: seed_summary(list(by_mode[mode].values())) for mode in modes},
        "paired": {
            f"{a} - {b}": paired_record(compare_evaluations(by_mode[a], by_mode[b]))
            for a, b in COMPARISONS
            if a in modes and b in modes
        },
    }
    if by_mode.get("standard"):
        # Does the teacher beat the standard student? Paired bootstrap over the same test examples.
        teacher_right = read_correctness(teacher.predictions)
        tables = [read_correctness(evaluation.predictions) for evaluation in by_mode["standard"].values()]
        standard = np.mean([[table[example] for example in teacher_right] for table in tables], axis=0)
        gap = paired_difference(list(teacher_right.values()), standard)
        summary["teacher_vs_standard"] = {"mean": gap.mean, "low": gap.low, "high": gap.high}
    rationales = run.rationale_files.get(("saliency", K))
    if rationales is not None:
        train = ExperimentTask(config.task).load("train")
        summary["evidence"] = {str(k): row for k, row in evidence_at_k(rationales, train, [K]).items()}
    return summary


def task_notes(config: ExperimentConfig) -> dict[str, Any]:
    """The protocol of a task's run: its splits' sizes, steps, and how many PaLM rationales DSS has."""
    task = ExperimentTask(config.task)
    train_ids = [example.id for example in task.load("train")]
    palm = palm_training_rationales(config) if "dss" in config.students.modes else None
    return {
        "title": TITLES[config.task.name],
        "train_split": config.task.train_split,
        "validation_split": config.task.validation_split or f"{config.task.validation_fraction:.0%} of train",
        "train": len(train_ids),
        "validation": len(task.load("validation")),
        "test": len(task.load("test")),
        "teacher_steps": config.teacher.training.max_steps,
        "student_steps": config.students.training.max_steps,
        "palm_rationales": None if palm is None else sum(id_ in palm for id_ in train_ids),
    }


def student_description(config: ExperimentConfig) -> str:
    """The students as the config builds and trains them."""
    (model,) = config.students.models
    training = config.students.training
    if model.pretrained is not None:
        source = model.pretrained
        built = (
            f"{source.name}'s first {source.encoder_layers} encoder layers + a {source.decoder_layers}-layer "
            f"{source.decoder_init} decoder (new cross-attention, drawn by the seed)"
        )
    else:
        tiny = model.tiny
        built = (
            f"{tiny.architecture} {tiny.size} from scratch (vocabulary of {tiny.vocab_size} from the task)"
        )
    return (
        f"{model.name}: {built}; AdamW lr {training.learning_rate:g}, batch {training.batch_size}, "
        f"alpha {config.students.alpha:g}"
    )


def markdown(report: Mapping[str, Any]) -> str:
    summary, notes, settings = report["summary"], report["tasks"], report["settings"]
    tasks = list(summary)
    modes = list(summary[tasks[0]]["accuracy"])
    lines = [
        f"# Local replication (MiniLM teacher, {settings['student_title']})",
        "",
        f"`{report['command']}` on {machine_text(report['environment'])}; "
        f"{report['wall_seconds'] / 60:.1f} min wall for this invocation (finished stages are reused), "
        f"{report['stage_minutes']:.0f} min of stage time in all (`stage_seconds`).",
        "",
        f"Configs: {', '.join(f'`{path}`' for path in settings['configs'])}. "
        f"Students: {settings['students']}.",
        "",
        f"## Test accuracy (%): students mean over seeds {settings['seeds']} [95% t-interval over seeds]; "
        "teacher [95% bootstrap interval over test examples]",
        "",
        "| Method | " + " | ".join(notes[t]["title"] for t in tasks) + " |",
        "|---|" + "---:|" * len(tasks),
    ]
    for mode in modes:
        row = [seed_summary_text(summary[t]["accuracy"][mode]) for t in tasks]
        lines.append(f"| {MODE_TITLES[mode]} | " + " | ".join(row) + " |")
    teachers = [summary[t]["teacher"] for t in tasks]
    lines.append(
        "| Teacher (MiniLM-L6 encoder-decoder) | "
        + " | ".join(interval_text(t["accuracy"], t["ci_low"], t["ci_high"]) for t in teachers)
        + " |"
    )
    if all("teacher_vs_standard" in summary[t] for t in tasks):
        gaps = []
        for t in tasks:
            g = summary[t]["teacher_vs_standard"]
            beats = "yes" if g["low"] > 0 else ("no (worse)" if g["high"] < 0 else "not resolved")
            gaps.append(f"{signed_interval_text(g['mean'], g['low'], g['high'])}: {beats}")
        lines.append("| Teacher - standard student (paired bootstrap) | " + " | ".join(gaps) + " |")
    lines += ["", "## Paired differences (percentage points)", ""]
    rows = [(notes[t]["title"], name, p) for t in tasks for name, p in summary[t]["paired"].items()]
    lines += paired_table("task", rows)
    evidence = {t: summary[t].get("evidence", {}).get(str(K)) for t in tasks}
    evidence = {t: e for t, e in evidence.items() if e}
    if evidence:
        lines += [
            "",
            f"## Does the teacher's top-{K} contain the answer? (training examples with evidence spans)",
            "",
            f"CQA: the correct choice's words; SVAMP: the equation's numbers. {EVIDENCE_NOTE}",
            "",
            f"| task | examples | {EVIDENCE_HEADER}",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {notes[t]['title']} | {e['examples']} | {evidence_row(e)} |" for t, e in evidence.items()
        ]
    lines += ["", "## Protocol per task", ""]
    for t in tasks:
        n = notes[t]
        palm = (
            f", PaLM rationales for {n['palm_rationales']} of them"
            if n["palm_rationales"] is not None
            else ""
        )
        lines.append(
            f"- **{n['title']}**: trained on its `{n['train_split']}` split (validation: "
            f"{n['validation_split']}). Examples: train {n['train']}{palm}, validation {n['validation']}, "
            f"test {n['test']}. Steps of 32: teacher {n['teacher_steps']}, students {n['student_steps']}."
        )
    lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not (DATA_DIR / "README.md").is_file():
        print(f"skipped: the staged data folder {DATA_DIR} is absent (the configs read it)")
        return 0
    if args.smoke:  # a smoke run checks the code: never reuse an earlier one
        shutil.rmtree(REPO_ROOT / "runs" / "benchmarks" / "replicate-smoke", ignore_errors=True)
    env = environment(workers=args.jobs, threads=args.threads)
    started = time.perf_counter()
    summaries, notes, seconds, configs = {}, {}, {}, []
    for name in args.tasks:
        path = CONFIGS / f"{name}.yaml"
        base = load_config(path, args.overrides, base_dir=REPO_ROOT)
        # The student kind's overrides first, so that the command line's have the last word.
        overrides = [*student_overrides(args.student, base), *args.overrides]
        run = load_run(run_config(path, overrides, jobs=args.jobs, threads=args.threads))
        (student,) = (model.name for model in run.config.students.models)
        summaries[name] = task_summary(run, student)
        notes[name] = task_notes(run.config)
        seconds[name] = stage_seconds(run.run_dir)
        configs.append(str(path.relative_to(REPO_ROOT)))
    report: dict[str, Any] = {
        "command": " ".join(["python benchmarks/replicate_local.py", *args.argv]),
        "environment": env,
        "wall_seconds": time.perf_counter() - started,
        "stage_minutes": sum(sum(task.values()) for task in seconds.values()) / 60,
        "settings": {
            "configs": configs,
            "seeds": run.config.seeds,
            "student": args.student,
            "student_title": STUDENTS[args.student],
            "students": student_description(run.config),
        },
        "tasks": notes,
        "summary": summaries,
        "stage_seconds": seconds,
    }
    write_outputs(args.output_dir, args.name or OUTPUT_NAMES[args.student], report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
