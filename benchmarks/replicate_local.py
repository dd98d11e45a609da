"""The paper's table at a size this machine can train: four real tasks, a pretrained teacher, tiny students.

Pretrained T5 cannot be downloaded here, so the paper's own setting (Flan-T5 teacher, T5 students) cannot
run. What can: the teacher is MiniLM-L6-H384 (the only pretrained transformer available offline, turned
into an encoder-decoder by ``tokendistill.training.minilm``) fine-tuned on each task. The students
(``--student``) are tiny T5 models trained from scratch with a tokenizer trained on the task's training
text (``tiny``), or pretrained but shallower: MiniLM's first 2 encoder layers and a 1-layer decoder,
trained like the teacher (``minilm-l2``). Modes:

* ``standard``: input -> label;
* ``dss``: Distilling Step-by-Step, explaining with PaLM's chain of thought (DSS's staged files);
* ``rationale``: the paper's method, the teacher's top-5 words by saliency;
* ``random``: 5 random words of the input (does the teacher's choice matter, or only the extra task?).

Splits (``TASK_PLANS``): e-SNLI trains on its staged validation split (its training inputs are not
staged) and tests on its test split; ANLI R1 likewise trains on its dev split, which is NOT the paper's
protocol (the paper trains on the 16,946 training pairs); CQA and SVAMP use DSS's splits. Where a split
is held out for model selection it is 10% of the training split, chosen by id hash. Writes
``replicate_local.json`` and ``replicate_local.md`` (``replicate_local_minilm_l2.*`` for ``minilm-l2``).
Both student kinds share the teachers and rationales of one work folder.

    python benchmarks/replicate_local.py                    # full run (~3 h of job time on 2 cores)
    python benchmarks/replicate_local.py --student minilm-l2 --tasks esnli
    python benchmarks/replicate_local.py --tasks svamp --seeds 0
    python benchmarks/replicate_local.py --smoke            # seconds, benchmarks/results/smoke/
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from benchlib import (
    EVIDENCE_HEADER,
    EVIDENCE_NOTE,
    REPO_ROOT,
    Job,
    StudentRecipe,
    cell_text,
    check_settings,
    default_paths,
    environment,
    evidence_row,
    job_invocation_text,
    job_report_header,
    paired_summary,
    paired_table,
    rationale_cell,
    run_jobs,
    seed_summary,
    seed_summary_text,
    signed_interval_text,
    student_cell,
    teacher_cell,
    without_outcomes,
    write_outputs,
)
from tokendistill.experiment.config import TaskConfig
from tokendistill.experiment.splits import ExperimentTask
from tokendistill.metrics.bootstrap import paired_difference
from tokendistill.training.config import TrainConfig
from tokendistill.training.minilm import build_minilm_seq2seq, learning_rate_multipliers
from tokendistill.training.rationale_sources import palm_rationales

K = 5


@dataclass(frozen=True)
class StudentKind:
    """A family of students: ``minilm_encoder_layers`` None means tiny T5 from scratch."""

    title: str
    minilm_encoder_layers: int | None
    output_name: str


STUDENTS = {
    "tiny": StudentKind("tiny T5 students", None, "replicate_local"),
    # Pretrained students: MiniLM's first 2 encoder layers (a third of the teacher's) and 1 decoder layer.
    "minilm-l2": StudentKind("MiniLM-L2 students", 2, "replicate_local_minilm_l2"),
}
MODES = ("standard", "dss", "rationale", "random")
MODE_TITLES = {
    "standard": "Standard fine-tuning",
    "dss": "Distilling step-by-step (PaLM rationales)",
    "rationale": "Teacher-token rationales (saliency, k=5)",
    "random": "Random-token control (k=5)",
}
# Settings that change job results without appearing in job keys (tasks, modes and seeds are in the keys).
SHARED_SETTINGS = ("data_dir", "teacher_lr", "new_weights_lr_factor", "student_lr", "steps_scale", "max_test")
COMPARISONS = (("rationale", "standard"), ("rationale", "dss"), ("rationale", "random"), ("dss", "standard"))


@dataclass(frozen=True)
class TaskPlan:
    """Which staged split plays which role, how much of it is used, and how long each model trains."""

    title: str
    train_split: str
    validation_split: str | None  # None: hold out 10% of the training split for model selection
    max_train: int | None
    teacher_steps: int
    student_steps: int
    max_input_length: int
    max_new_tokens: int
    protocol: str


TASK_PLANS = {
    "esnli": TaskPlan(
        "e-SNLI", "validation", None, 5000, 400, 500, 128, 8,
        "trained on the first 5,000 of the 8,858 examples left of its staged validation split after a "
        "10% holdout (the 549,367 training inputs are not staged); tested on the full test split",
    ),
    "anli1": TaskPlan(
        "ANLI R1", "validation", None, None, 150, 300, 256, 8,
        "NOT the paper's protocol: trained on 900 of the 1,000 dev examples (100 held out for model "
        "selection) because the 16,946 training inputs are not staged; tested on the test split",
    ),
    "cqa": TaskPlan(
        "CQA", "train", "validation", 5000, 500, 500, 128, 16,
        "DSS's splits; trained on the first 5,000 of the 8,766 training examples; tested on the "
        "official dev set (1,221)",
    ),
    "svamp": TaskPlan(
        "SVAMP", "train", "validation", None, 400, 400, 128, 48,
        "DSS's split: 720 train, 80 validation, 200 test",
    ),
}  # fmt: skip
PAPER_ORDER = ("esnli", "anli1", "cqa", "svamp")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes for CI (< 60 s)")
    parser.add_argument(
        "--data-dir", type=Path, default=REPO_ROOT.parent / "shared" / "data", help="the staged data folder"
    )
    parser.add_argument("--tasks", nargs="+", default=list(PAPER_ORDER), choices=PAPER_ORDER)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--teacher-lr", type=float, default=1e-4, help="for the pretrained weights")
    parser.add_argument(
        "--new-weights-lr-factor", type=float, default=10.0, help="new cross-attention: this x --teacher-lr"
    )
    parser.add_argument(
        "--student",
        default="tiny",
        choices=list(STUDENTS),
        help="tiny: T5 from scratch; minilm-l2: MiniLM's first 2 layers, 1 decoder layer, teacher's recipe",
    )
    parser.add_argument("--student-lr", type=float, default=1e-3, help="for tiny students")
    parser.add_argument("--steps-scale", type=float, default=1.0, help="multiplies every plan's steps")
    parser.add_argument("--workers", type=int, default=2, help="jobs at once, one torch thread each")
    parser.add_argument("--work-dir", type=Path, default=None, help="models and caches (resumable)")
    parser.add_argument("--output-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    args.max_test = None
    if args.smoke:
        args.tasks, args.seeds, args.max_test = ["svamp"], [0], 24
    default_paths(args, "replicate_local", argv)
    return args


def plan_for(args: argparse.Namespace, name: str) -> TaskPlan:
    plan = TASK_PLANS[name]
    if args.smoke:
        return replace(plan, max_train=32, teacher_steps=2, student_steps=4, max_new_tokens=8)
    scale = args.steps_scale
    return replace(
        plan,
        teacher_steps=max(1, round(plan.teacher_steps * scale)),
        student_steps=max(1, round(plan.student_steps * scale)),
    )


def experiment_task(args: argparse.Namespace, name: str, plan: TaskPlan) -> ExperimentTask:
    """The task with its staged splits mapped to the train/validation/test roles (``--smoke`` caps them)."""
    config = TaskConfig(
        name=name,
        data_dir=args.data_dir,
        train_split=plan.train_split,
        validation_split=plan.validation_split,
        max_train_examples=plan.max_train,
        max_eval_examples=args.max_test,  # caps validation and test: only the smoke run sets it
    )
    return ExperimentTask(config)


def train_config(plan: TaskPlan, steps: int, learning_rate: float, warmup: bool) -> TrainConfig:
    return TrainConfig(
        learning_rate=learning_rate,
        batch_size=32,
        eval_batch_size=64,
        max_steps=steps,
        eval_steps=max(1, steps // 4),  # model selection on the validation split, 4 times per run
        logging_steps=max(1, steps // 4),
        save_total_limit=1,
        warmup_steps=steps // 10 if warmup else 0,
        max_train_examples=None,  # the task already caps its training split
        max_eval_examples=300,  # validation examples scored at each check
        max_input_length=plan.max_input_length,
        max_target_length=96,  # labels are short; explain targets (PaLM's chains of thought) are not
        max_new_tokens=plan.max_new_tokens,
        training_args={"disable_tqdm": True},
    )


def minilm_job(folder: Path, *, cache_dir: Path, encoder_layers: int = 6, seed: int = 0) -> dict[str, Any]:
    """A MiniLM encoder-decoder, 1 decoder layer: the teachers' start (6 encoder layers) or a student's."""
    build_minilm_seq2seq(
        folder / "model", encoder_layers=encoder_layers, decoder_layers=1, cache_dir=cache_dir, seed=seed
    )
    return {"encoder_layers": encoder_layers, "seed": seed}  # the model is <folder>/model


def build_jobs(args: argparse.Namespace) -> tuple[list[Job], dict[str, dict[str, Any]]]:
    teachers, rationales, students, notes = [], [], [], {}
    init = args.work_dir / "minilm" / "model"
    cache = args.work_dir / "minilm" / "cache"
    kind = STUDENTS[args.student]
    student_inits: list[Job] = []
    if kind.minilm_encoder_layers is not None:
        # One start per seed: the seed draws the new weights, shared by every mode (seed-paired comparisons).
        student_inits = [
            Job(
                f"{args.student}/seed{seed}",
                minilm_job,
                {"cache_dir": cache, "encoder_layers": kind.minilm_encoder_layers, "seed": seed},
                ("minilm",),
            )
            for seed in args.seeds
        ]
    for name in args.tasks:
        plan = plan_for(args, name)
        task = experiment_task(args, name, plan)
        teacher_train = replace(
            train_config(plan, plan.teacher_steps, args.teacher_lr, warmup=not args.smoke),
            learning_rate_multipliers=learning_rate_multipliers(args.new_weights_lr_factor),
        )
        teachers.append(
            Job(
                f"{name}/teacher",
                teacher_cell,
                {"task": task, "init": init, "train": teacher_train, "eval_batch_size": 64},
                ("minilm",),
            )
        )
        if "rationale" in args.modes:
            rationales.append(
                Job(
                    f"{name}/rationales",
                    rationale_cell,
                    {
                        "teacher": args.work_dir / name / "teacher" / "model",
                        "task": task,
                        "method": "saliency",
                        "options": {"max_new_tokens": plan.max_new_tokens},
                        "k": K,
                        "evidence_k": [K],
                    },
                    (f"{name}/teacher",),
                )
            )
        if student_inits:  # pretrained students are trained like the teacher
            recipe = StudentRecipe(train=teacher_train, eval_batch_size=64)
        else:
            recipe = StudentRecipe(
                train=train_config(plan, plan.student_steps, args.student_lr, warmup=not args.smoke),
                size="tiny",
                vocab_size=4000,
                eval_batch_size=256,
            )
        # DSS's PaLM rationales of the staged split the students train on (unparsable ones left out).
        palm = palm_rationales(name, args.data_dir, plan.train_split) if "dss" in args.modes else {}
        train_ids = [example.id for example in task.load("train")]
        n_train = len(train_ids)
        notes[name] = {
            "title": plan.title,
            "protocol": plan.protocol,
            "train": n_train,
            "validation": len(task.load("validation")),
            "test": len(task.load("test")),
            "teacher_steps": plan.teacher_steps,
            "student_steps": recipe.train.max_steps,
            "palm_rationales": sum(id_ in palm for id_ in train_ids) if "dss" in args.modes else None,
        }
        for mode in args.modes:
            for seed in args.seeds:
                kwargs: dict[str, Any] = {"task": task, "mode": mode, "seed": seed, "recipe": recipe, "k": K}
                deps: tuple[str, ...] = ()
                if student_inits:
                    kwargs["init"] = args.work_dir / args.student / f"seed{seed}" / "model"
                    deps = (f"{args.student}/seed{seed}",)
                if mode == "rationale":
                    kwargs["rationales_path"] = args.work_dir / name / "rationales" / f"train-k{K}.jsonl"
                    deps = (*deps, f"{name}/rationales")
                elif mode == "dss":
                    kwargs["rationales"] = palm
                key = student_key(name, args.student, mode, seed)
                students.append(Job(key, student_cell, kwargs, deps))
    # Teachers first: they are the longest jobs and every rationale student waits on one.
    jobs = [
        Job("minilm", minilm_job, {"cache_dir": cache}),
        *student_inits,
        *teachers,
        *rationales,
        *sorted(students, key=lambda j: bool(j.deps)),
    ]
    return jobs, notes


def student_key(task: str, student: str, mode: str, seed: int) -> str:
    return f"{task}/students-{student}/{mode}/seed{seed}"


def summarise(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name in args.tasks:
        cells = {
            mode: [results[student_key(name, args.student, mode, seed)] for seed in args.seeds]
            for mode in args.modes
        }
        teacher = results[f"{name}/teacher"]
        task_summary: dict[str, Any] = {
            "teacher": {k: v for k, v in teacher.items() if k != "correct"},
            "accuracy": {mode: seed_summary(cells[mode]) for mode in args.modes},
            "paired": {
                f"{a} - {b}": paired_summary(cells[a], cells[b])
                for a, b in COMPARISONS
                if a in args.modes and b in args.modes
            },
        }
        if "standard" in args.modes:
            # Does the teacher beat the standard student? Paired bootstrap over the same test examples.
            standard = np.mean([cell["correct"] for cell in cells["standard"]], axis=0)
            gap = paired_difference(teacher["correct"], standard)
            task_summary["teacher_vs_standard"] = {"mean": gap.mean, "low": gap.low, "high": gap.high}
        if f"{name}/rationales" in results:
            task_summary["rationales"] = results[f"{name}/rationales"]
        summary[name] = task_summary
    return summary


def markdown(report: dict[str, Any]) -> str:
    summary, notes = report["summary"], report["tasks"]
    tasks = list(summary)
    modes = report["settings"]["modes"]
    header = "| Method | " + " | ".join(notes[t]["title"] for t in tasks) + " |"
    lines = [
        f"# Local replication (MiniLM teacher, {report['settings']['student_title']})",
        "",
        job_invocation_text(report),
        "",
        f"Teacher: {report['settings']['teacher']}. Students: {report['settings']['students']}.",
        "",
        f"## Test accuracy (%): students mean over seeds {report['settings']['seeds']} [95% t-interval over "
        "seeds]; teacher [95% bootstrap interval over test examples]",
        "",
        header,
        "|---|" + "---:|" * len(tasks),
    ]
    for mode in modes:
        row = [seed_summary_text(summary[t]["accuracy"][mode]) for t in tasks]
        lines.append(f"| {MODE_TITLES[mode]} | " + " | ".join(row) + " |")
    lines.append(
        "| Teacher (MiniLM-L6 encoder-decoder) | "
        + " | ".join(cell_text(summary[t]["teacher"]) for t in tasks)
        + " |"
    )
    if all("teacher_vs_standard" in summary[t] for t in tasks):
        gaps = []
        for t in tasks:
            g = summary[t]["teacher_vs_standard"]
            beats = "yes" if g["low"] > 0 else ("no (worse)" if g["high"] < 0 else "not resolved")
            gaps.append(f"{signed_interval_text(g['mean'], g['low'], g['high'])}: {beats}")
        lines.append("| Teacher - standard student (paired bootstrap) | " + " | ".join(gaps) + " |")
    lines += [
        "",
        "## Paired differences (percentage points)",
        "",
    ]
    rows = [(notes[t]["title"], name, p) for t in tasks for name, p in summary[t]["paired"].items()]
    lines += paired_table("task", rows)
    evidence = {
        t: summary[t]["rationales"]["evidence"].get(str(K)) for t in tasks if "rationales" in summary[t]
    }
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
        for t, e in evidence.items():
            lines.append(f"| {notes[t]['title']} | {e['examples']} | {evidence_row(e)} |")
    lines += ["", "## Protocol per task", ""]
    for t in tasks:
        n = notes[t]
        palm = (
            f", PaLM rationales for {n['palm_rationales']} of them"
            if n["palm_rationales"] is not None
            else ""
        )
        lines.append(
            f"- **{n['title']}**: {n['protocol']}. Examples: train {n['train']}{palm}, validation "
            f"{n['validation']}, test {n['test']}. Steps of 32: teacher {n['teacher_steps']}, students "
            f"{n['student_steps']}."
        )
    lines.append("")
    return "\n".join(lines)


def student_description(args: argparse.Namespace) -> str:
    layers = STUDENTS[args.student].minilm_encoder_layers
    if layers is None:
        return (
            "T5 tiny from scratch (d_model 64, 2+2 layers, BPE vocabulary 4000 trained on the task's "
            f"training text), AdamW lr {args.student_lr}, batch 32, alpha 0.5"
        )
    return (
        f"MiniLM's first {layers} encoder layers + a 1-layer MiniLM decoder (new cross-attention, drawn by "
        "the seed), trained like the teacher (same learning rates and steps), alpha 0.5"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.smoke:  # a smoke run checks the code: never reuse results of an earlier one
        shutil.rmtree(args.work_dir, ignore_errors=True)
    if not (args.data_dir / "README.md").is_file():
        print(f"skipped: the staged data folder {args.data_dir} is absent (give it with --data-dir)")
        return 0
    started = time.perf_counter()
    env = environment(args.workers, 1)
    # Results are kept by job key; the settings every job shares must not change under the same folder.
    check_settings(args.work_dir, {key: getattr(args, key) for key in SHARED_SETTINGS})
    jobs, notes = build_jobs(args)
    results = run_jobs(jobs, args.work_dir, workers=args.workers)
    report: dict[str, Any] = {
        **job_report_header("replicate_local.py", args.argv, env, started, results),
        "settings": {
            "tasks": args.tasks,
            "seeds": args.seeds,
            "modes": args.modes,
            "teacher": f"MiniLM-L6-H384 encoder + 1-layer MiniLM decoder (new cross-attention), fine-tuned "
            f"with AdamW lr {args.teacher_lr} ({args.new_weights_lr_factor:g} x for the new weights), 10% "
            "linear warm-up then linear decay, batch 32",
            "student": args.student,
            "student_title": STUDENTS[args.student].title,
            "students": student_description(args),
        },
        "tasks": notes,
        "summary": summarise(args, results),
        "jobs": without_outcomes(results),
    }
    write_outputs(args.output_dir, STUDENTS[args.student].output_name, report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
