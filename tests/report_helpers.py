"""A finished run folder made without training: stub stages write the real file formats with known numbers.

The runner and plan are the real ones, so the folder has the layout, markers and ``resolved.yaml`` that
``tokendistill run`` writes; only the numbers are chosen by the test.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tokendistill.attribution import select_rationale, split_words
from tokendistill.attribution.records import RationaleRecord, write_rationale_file
from tokendistill.attribution.words import WordScore
from tokendistill.data.example import Example
from tokendistill.experiment.config import ExperimentConfig, validate_config
from tokendistill.experiment.plan import (
    MODEL_DIR,
    RATIONALE_FILE,
    SAMPLE_FILE,
    STAGE_KINDS,
    EvaluateParams,
    RationaleParams,
    StudentParams,
    StudentVariant,
    build_plan,
)
from tokendistill.experiment.runner import StageContext, run_plan
from tokendistill.experiment.splits import ExperimentTask
from tokendistill.metrics.bootstrap import bootstrap_interval
from tokendistill.report.stage import report_stage
from tokendistill.training.manifest import write_manifest

BASE: dict[str, Any] = {
    "task": {"name": "synthetic-nli", "options": {"size": 60, "validation_size": 10, "test_size": 40}},
    "teacher": {"tiny": {}},
    "students": {"models": [{"name": "tiny-t5", "tiny": {}}], "modes": ["standard", "rationale", "random"]},
    "seeds": [0, 1, 2],
    "report": {"heatmap_examples": 3},
}


def word_scores(example: Example, index: int) -> list[WordScore]:
    """Even examples: evidence words score highest; odd ones: evidence words score 0 (never in the top-k)."""
    scores = []
    for position, word in enumerate(split_words(example.source)):
        evidence = any(word.overlaps(span) for span in example.evidence_spans)
        base = 1.0 + (position % 7) / 10  # distinct-ish scores below the evidence words' 10.0
        score = (10.0 if index % 2 == 0 else 0.0) if evidence else base
        scores.append(WordScore(word.text, word.start, word.end, score))
    return scores


def rationale_file(path: Path, examples: list[Example], k: int, method: str) -> None:
    records = []
    for index, example in enumerate(examples):
        words = word_scores(example, index)
        chosen = select_rationale(words, k, excluded_spans=example.template_spans())
        rationale = " ".join(word.text for word in chosen)
        records.append(RationaleRecord(example.id, example.target, method, k, tuple(words), rationale))
    write_rationale_file(path, records)


def evaluation(folder: Path, examples: list[Example], accuracy: float) -> None:
    """predictions.jsonl and metrics.json for the first round(accuracy * n) examples correct."""
    n_correct = round(accuracy * len(examples))
    correct = [index < n_correct for index in range(len(examples))]
    rows = [
        {"id": e.id, "prediction": e.target if ok else "wrong", "target": e.target, "correct": ok}
        for e, ok in zip(examples, correct, strict=True)
    ]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "predictions.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    interval = bootstrap_interval(correct, n_resamples=200)
    metrics = {"task": "synthetic-nli", "split": "test", "n": len(examples), "accuracy": interval.mean}
    metrics.update(ci_low=interval.low, ci_high=interval.high, model=str(folder))
    (folder / "metrics.json").write_text(json.dumps(metrics))


Accuracy = Callable[[str, StudentVariant | None, int | None], float]


def fake_stages(accuracy_of: Accuracy, validation_of: Accuracy | None = None):
    """Stage functions writing known results; ``accuracy_of(student, variant, seed)`` gives the test
    accuracies (all None: the teacher), ``validation_of`` the validation accuracies that students' model
    manifests record (none without it)."""

    def stage(ctx: StageContext) -> None:
        ctx.dir.mkdir(parents=True, exist_ok=True)
        task = ExperimentTask(ctx.config.task)
        kind = ctx.stage.kind
        if kind in ("teacher", "student"):
            (ctx.dir / MODEL_DIR).mkdir()
            if kind == "student" and validation_of is not None:
                student = ctx.stage.params_as(StudentParams)
                validation = validation_of(student.student, student.variant, student.seed)
                write_manifest(ctx.dir / MODEL_DIR, {"prefix": "", "validation_accuracy": validation})
                last = {"step": 9, "loss": 0.5}
                if student.variant.mode != "standard":
                    last |= {"label_loss": 0.5, "rationale_loss": 2.5}
                evaluated = {"step": 9, "eval_accuracy": validation}
                state = {"log_history": [last, evaluated, {"step": 9, "train_loss": 1.0}]}
                (ctx.dir / MODEL_DIR / "trainer_state.json").write_text(json.dumps(state))
        elif kind == "rationales":
            attribution = ctx.stage.params_as(RationaleParams)
            rationale_file(ctx.dir / RATIONALE_FILE, task.load("train"), attribution.k, attribution.method)
        elif kind == "sample-rationales":
            attribution = ctx.stage.params_as(RationaleParams)
            examples = task.load("test")[: ctx.config.report.heatmap_examples]
            rationale_file(ctx.dir / SAMPLE_FILE, examples, attribution.k, attribution.method)
        elif kind == "evaluate":
            model_stage = ctx.stage.params_as(EvaluateParams).model_stage
            model = next(s for s in build_plan(ctx.config) if s.key == model_stage).params
            if isinstance(model, StudentParams):
                accuracy = accuracy_of(model.student, model.variant, model.seed)
            else:
                accuracy = accuracy_of(None, None, None)
            evaluation(ctx.dir, task.load("test"), accuracy)
        else:
            report_stage(ctx)

    return stage


def default_accuracy(student: str | None, variant: StudentVariant | None, seed: int | None) -> float:
    if variant is None:
        return 0.9  # the teacher
    by_mode = {"standard": 0.6, "rationale": 0.75, "random": 0.65, "dss": 0.7}[variant.mode]
    return by_mode + 0.05 * (seed or 0) + (0.025 * (variant.k or 0) / 5 if variant.mode == "rationale" else 0)


def alpha_sweep_accuracy(student: str, variant: StudentVariant | None, seed: int | None) -> float:
    """Test accuracies of a run sweeping alpha 0.9 (main 0.5): rationales at 0.9 score what standard
    students score (0.6 + 0.025 x seed) and 0.1 more at 0.5; random students 0.05 less than standard."""
    if variant is None:
        return 0.9
    bonus = {None: 0.1, 0.9: 0.0}[variant.alpha] if variant.mode == "rationale" else 0.0
    return {"standard": 0.6, "rationale": 0.6, "random": 0.55}[variant.mode] + bonus + 0.025 * (seed or 0)


def alpha_sweep_validation(student: str, variant: StudentVariant, seed: int) -> float:
    """Validation accuracies of the same run: rationales do best at alpha 0.9, random words at 0.5."""
    if variant.mode == "rationale":
        return {None: 0.7, 0.9: 0.8}[variant.alpha]
    return {None: 0.7, 0.9: 0.6}[variant.alpha] if variant.mode == "random" else 0.5


def esnli_task(tmp_path: Path) -> dict[str, Any]:
    """A task section over e-SNLI-format files in ``tmp_path``: 30 training and 20 test rows of one example
    whose explanation repeats all 8 content words of its input ("Dogs chase red balls outside" / "Animals
    play games"), so any 5 of its words score precision 1, recall 5/8 and F1 10/13."""
    folder = tmp_path / "data" / "esnli"
    folder.mkdir(parents=True)
    premise, hypothesis = "Dogs chase red balls outside", "Animals play games"
    row = {
        "premise": premise,
        "hypothesis": hypothesis,
        "label": 0,
        "explanation_1": f"{hypothesis} {premise}",
    }
    for name, count in (("valid", 30), ("test", 20)):
        with gzip.open(folder / f"{name}.jsonl.gz", "wt") as file:
            file.write("".join(json.dumps(row) + "\n" for _ in range(count)))
    return {
        "name": "esnli",
        "data_dir": str(tmp_path / "data"),
        "train_split": "validation",
        "validation_split": None,
        "test_split": "test",
    }


def make_run(
    tmp_path: Path,
    name: str = "run",
    accuracy_of: Accuracy = default_accuracy,
    validation_of: Accuracy | None = None,
    **sections: Any,
) -> ExperimentConfig:
    """A finished fake run in ``tmp_path / name``; ``sections`` replace top-level sections of ``BASE``."""
    config = validate_config({**BASE, **sections, "output_dir": str(tmp_path / name)})
    stage = fake_stages(accuracy_of, validation_of)
    run_plan(config, build_plan(config), dict.fromkeys(STAGE_KINDS, stage), log=lambda line: None)
    return config
