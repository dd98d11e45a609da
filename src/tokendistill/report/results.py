"""Reading a run folder back: its config, and the finished evaluations and rationale files in it.

The layout comes from the plan of the run's ``resolved.yaml``, so the report reads exactly what the runner
wrote; a stage that has not finished with the current config's fingerprint is absent from the results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tokendistill.data.errors import DataError
from tokendistill.experiment.config import ExperimentConfig, Method, load_config
from tokendistill.experiment.plan import (
    MODEL_DIR,
    RATIONALE_FILE,
    SAMPLE_FILE,
    SAMPLE_RATIONALES,
    TEACHER_EVAL,
    EvaluateParams,
    RationaleParams,
    StudentParams,
    StudentVariant,
    build_plan,
)
from tokendistill.experiment.runner import RESOLVED_CONFIG, plan_fingerprints, stage_status
from tokendistill.training.manifest import read_manifest

METRIC_FIELDS = ("accuracy", "ci_low", "ci_high", "n")
TRAINER_STATE = "trainer_state.json"  # written by transformers' Trainer.save_state


@dataclass(frozen=True)
class TrainingLog:
    """What the Trainer logged while training a model: the per-token losses of its last logging window
    (how well it fits each task when training ends: a decoder that cannot write the rationales shows
    here) and its validation accuracy at each evaluation (whether the schedule was long enough for it to
    level off). A single-task model's ``loss`` is its label loss."""

    label_loss: float | None = None
    rationale_loss: float | None = None
    validation_curve: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class Evaluation:
    """One model's test accuracy (fractions) with its bootstrap interval over test examples."""

    accuracy: float
    ci_low: float
    ci_high: float
    n: int
    predictions: Path
    # The trained model's accuracy on the validation split (its manifest), by which an alpha is chosen;
    # None for the teacher's evaluation and for models trained before manifests recorded it.
    validation_accuracy: float | None = None
    # How training went, from the trainer's log (``read_training_log``); empty for the teacher's evaluation.
    training: TrainingLog = field(default_factory=TrainingLog)


def read_training_log(model_dir: Path) -> TrainingLog:
    """The ``TrainingLog`` of the Trainer's own ``trainer_state.json`` in ``model_dir`` (empty if none)."""
    path = model_dir / TRAINER_STATE
    if not path.is_file():
        return TrainingLog()
    try:
        history = json.loads(path.read_text(encoding="utf-8"))["log_history"]
        windows = [entry for entry in history if "loss" in entry]
        curve = tuple((int(e["step"]), float(e["eval_accuracy"])) for e in history if "eval_accuracy" in e)
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as error:
        raise DataError(path, None, "log_history", f"cannot read the training log: {error!r}") from error
    last = windows[-1] if windows else {}
    return TrainingLog(last.get("label_loss", last.get("loss")), last.get("rationale_loss"), curve)


@dataclass
class RunResults:
    run_dir: Path
    config: ExperimentConfig
    teacher: Evaluation | None = None
    # (student name, variant) -> seed -> evaluation
    students: dict[tuple[str, StudentVariant], dict[int, Evaluation]] = field(default_factory=dict)
    rationale_files: dict[tuple[Method, int], Path] = field(default_factory=dict)
    sample_file: Path | None = None

    @property
    def task_name(self) -> str:
        return self.config.task.name

    def evaluations(self, student: str, variant: StudentVariant) -> list[Evaluation]:
        """The finished seeds of one student setting, in seed order."""
        by_seed = self.students.get((student, variant), {})
        return [by_seed[seed] for seed in sorted(by_seed)]

    def mean_validation(self, student: str, variant: StudentVariant) -> float | None:
        """Mean validation accuracy over the setting's finished seeds; None unless every one records it."""
        validation = [evaluation.validation_accuracy for evaluation in self.evaluations(student, variant)]
        if not validation or None in validation:
            return None
        return sum(validation) / len(validation)

    def selected_variant(self, student: str, variant: StudentVariant) -> StudentVariant:
        """``variant`` at the alpha with the best mean validation accuracy over its finished seeds.

        Only settings that differ from ``variant`` in alpha compete, and only those whose every seed
        records a validation accuracy; the main alpha wins ties and stands when nothing else qualifies.
        """
        candidates = [variant] + [
            other
            for (name, other) in self.students
            if name == student and other.alpha is not None and other.at_main_alpha() == variant
        ]
        scored = [
            (score, candidate)
            for candidate in candidates
            if (score := self.mean_validation(student, candidate)) is not None
        ]
        if not scored:
            return variant
        best = max(score for score, _ in scored)
        return next(candidate for score, candidate in scored if score == best)


def read_evaluation(folder: Path, model_dir: Path | None = None) -> Evaluation:
    """The metrics an evaluate stage wrote in ``folder``, with the validation accuracy recorded in the
    manifest of the evaluated model in ``model_dir``."""
    path = folder / "metrics.json"
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise DataError(path, None, None, f"cannot read metrics: {error}") from error
    for name in METRIC_FIELDS:
        if not isinstance(metrics.get(name), int | float):
            raise DataError(path, None, name, "missing or not a number")
    manifest = read_manifest(model_dir) if model_dir is not None else None
    validation = manifest.get("validation_accuracy") if manifest else None
    return Evaluation(
        float(metrics["accuracy"]),
        float(metrics["ci_low"]),
        float(metrics["ci_high"]),
        int(metrics["n"]),
        folder / "predictions.jsonl",
        float(validation) if isinstance(validation, int | float) else None,
        read_training_log(model_dir) if model_dir is not None else TrainingLog(),
    )


def load_run(run_dir: str | Path) -> RunResults:
    """The finished results of the run in ``run_dir`` (a folder written by ``tokendistill run``)."""
    run_dir = Path(run_dir).resolve()
    config = load_config(run_dir / RESOLVED_CONFIG)
    results = RunResults(run_dir, config)
    plan = build_plan(config)
    by_key = {stage.key: stage for stage in plan}
    fingerprints = plan_fingerprints(plan)
    for stage in plan:
        folder = run_dir / stage.key
        # Only results made by this config count: a folder left by an earlier config is not reported.
        if stage.kind == "report" or stage_status(folder, fingerprints[stage.key]) != "done":
            continue
        if stage.key == TEACHER_EVAL:
            results.teacher = read_evaluation(folder)
        elif stage.kind == "evaluate":
            model_stage = stage.params_as(EvaluateParams).model_stage
            student = by_key[model_stage].params_as(StudentParams)
            results.students.setdefault((student.student, student.variant), {})[student.seed] = (
                read_evaluation(folder, run_dir / model_stage / MODEL_DIR)
            )
        elif stage.kind == "rationales":
            attribution = stage.params_as(RationaleParams)
            results.rationale_files[attribution.method, attribution.k] = folder / RATIONALE_FILE
        elif stage.key == SAMPLE_RATIONALES:
            results.sample_file = folder / SAMPLE_FILE
    return results
