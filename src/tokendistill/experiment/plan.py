"""The stage graph of an experiment, derived from its config: which stages exist and what each depends on.

The plan is pure data, so the runner (which executes it) and the report (which reads its outputs) agree on
the layout of a run folder without either knowing how a stage does its work. ``inputs`` lists exactly the
config fields that change a stage's result; together with the fingerprints of the stages it consumes they
decide whether a finished stage is still up to date. Settings that only change speed (attribution and
evaluation batch sizes) are left out on purpose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import Any, Literal, TypeVar

from tokendistill.attribution.options import METHOD_OPTIONS
from tokendistill.errors import TokendistillError
from tokendistill.experiment.config import AttributionConfig, ExperimentConfig, Method, Mode
from tokendistill.settings import declared_settings

StageKind = Literal["teacher", "rationales", "sample-rationales", "student", "evaluate", "report"]
STAGE_KINDS: tuple[StageKind, ...] = (
    "teacher",
    "rationales",
    "sample-rationales",
    "student",
    "evaluate",
    "report",
)


@dataclass(frozen=True)
class StudentVariant:
    """A student training setting (mode plus, for rationale modes, where its rationales come from).

    ``alpha`` is ``None`` at the config's main label-task weight and set only for the ``sweeps.alpha``
    repeats, so adding a sweep leaves the main settings' folders (and their finished results) as they were;
    ``train_examples`` likewise is set only for the ``sweeps.train_examples`` repeats.
    """

    mode: Mode
    method: Method | None = None
    k: int | None = None
    alpha: float | None = None
    train_examples: int | None = None

    @property
    def slug(self) -> str:
        if self.mode == "rationale":
            base = f"rationale-{self.method}-k{self.k}"
        elif self.mode == "random":
            base = f"random-k{self.k}"
        else:
            base = self.mode
        if self.alpha is not None:
            base += f"-alpha{self.alpha:g}"
        return base if self.train_examples is None else f"{base}-n{self.train_examples}"

    def at_main_alpha(self) -> StudentVariant:
        """The same setting at the config's main alpha (how the report groups an alpha sweep)."""
        return replace(self, alpha=None)


@dataclass(frozen=True)
class RationaleParams:
    """What a rationale stage (training set or test sample) attributes with."""

    method: Method
    k: int


@dataclass(frozen=True)
class StudentParams:
    """Which student model of the config a student stage trains, in which setting, with which seed."""

    student: str
    variant: StudentVariant
    seed: int


@dataclass(frozen=True)
class EvaluateParams:
    """The stage whose model an evaluation stage scores."""

    model_stage: str


StageParams = RationaleParams | StudentParams | EvaluateParams | None
ParamsKind = TypeVar("ParamsKind", RationaleParams, StudentParams, EvaluateParams)


@dataclass(frozen=True)
class Stage:
    """One unit of work. ``key`` names it and is its folder inside the run folder; ``params`` tell its
    implementation what to do (they are fixed by ``inputs``, so they stay out of the fingerprint)."""

    key: str
    kind: StageKind
    inputs: Mapping[str, Any]
    deps: tuple[str, ...] = ()
    params: StageParams = None

    def params_as(self, kind: type[ParamsKind]) -> ParamsKind:
        """``params``, which a stage of this kind must hold as ``kind``."""
        if not isinstance(self.params, kind):
            raise TypeError(f"stage {self.key!r} holds {self.params!r}, not {kind.__name__}")
        return self.params


TEACHER = "teacher"
REPORT = "report"
TEACHER_EVAL = "eval/teacher"
SAMPLE_RATIONALES = "rationales/test-sample"
# Files inside a stage folder: the trained model of a teacher or student stage, the rationale file of a
# rationale stage, the heatmap sample's rationale file.
MODEL_DIR = "model"
RATIONALE_FILE = "train.jsonl"
SAMPLE_FILE = "test.jsonl"


def rationale_key(method: Method, k: int) -> str:
    return f"rationales/{method}-k{k}"


def student_key(student: str, variant: StudentVariant, seed: int) -> str:
    return f"students/{student}/{variant.slug}/seed{seed}"


def eval_key(student: str, variant: StudentVariant, seed: int) -> str:
    return f"eval/{student}/{variant.slug}/seed{seed}"


def student_variants(config: ExperimentConfig) -> list[StudentVariant]:
    """Every student setting the run trains: rationale mode at each (method, k) pair, random at each k,
    every two-task setting again at each swept alpha, and each setting at the main k and alpha (every
    method) again at each swept training-set size."""
    variants: list[StudentVariant] = []
    for mode in config.students.modes:
        if mode == "rationale":
            variants += [StudentVariant(mode, method, k) for method, k in config.rationale_settings()]
        elif mode == "random":
            variants += [StudentVariant(mode, None, k) for k in config.k_values()]
        else:
            variants.append(StudentVariant(mode))
    swept = [alpha for alpha in config.sweeps.alpha if alpha != config.students.alpha]
    at_main_k = [variant for variant in variants if variant.k in (None, config.attribution.k)]
    return (
        variants
        + [replace(v, alpha=alpha) for v in variants if v.mode != "standard" for alpha in swept]
        + [replace(v, train_examples=size) for size in config.student_train_sizes()[1:] for v in at_main_k]
    )


def variant_train_examples(config: ExperimentConfig, variant: StudentVariant) -> int | None:
    """How many training examples (the first ones) a student setting learns from; None: all of them."""
    return config.students.train_examples if variant.train_examples is None else variant.train_examples


def variant_alpha(config: ExperimentConfig, variant: StudentVariant) -> float:
    """The label-task weight a two-task student setting trains with."""
    return config.students.alpha if variant.alpha is None else variant.alpha


def method_options(attribution: AttributionConfig, method: Method) -> dict[str, Any]:
    """The options of ``method`` that change its result, as the config sets them (integrated gradients'
    path length and baseline): part of the rationale stages' inputs."""
    return {
        item.name: getattr(attribution, item.name)
        for item in declared_settings(METHOD_OPTIONS[method])
        if item.setting.changes_result
    }


def method_settings(attribution: AttributionConfig, method: Method) -> dict[str, Any]:
    """What a rationale stage passes to ``method``: ``method_options`` and the options that change only
    speed or memory where the config sets them to other than their default."""
    settings = method_options(attribution, method)
    for item in declared_settings(METHOD_OPTIONS[method]):
        if not item.setting.changes_result and getattr(attribution, item.name) != item.default:
            settings[item.name] = getattr(attribution, item.name)
    return settings


def _attribution_inputs(config: ExperimentConfig, method: Method, k: int) -> dict[str, Any]:
    attribution = config.attribution
    return {
        "method": method,
        "k": k,
        "target": attribution.target,
        "dtype": attribution.dtype,
        **method_options(attribution, method),
    }


def build_plan(config: ExperimentConfig) -> list[Stage]:
    """All stages of ``config`` in an order where every stage comes after the stages it consumes."""
    task = config.task.model_dump(mode="json")
    evaluation = {"split": config.task.test_split, "bootstrap_samples": config.evaluation.bootstrap_samples}
    teacher = Stage(TEACHER, "teacher", {"task": task, "teacher": config.teacher.model_dump(mode="json")})
    stages = [teacher, Stage(TEACHER_EVAL, "evaluate", evaluation, (TEACHER,), EvaluateParams(TEACHER))]

    rationale_examples = config.rationale_examples()
    for method, k in config.rationale_settings():
        inputs = {**_attribution_inputs(config, method, k), "split": config.task.train_split}
        if rationale_examples is not None:  # left out otherwise: older runs keep their fingerprints
            inputs["examples"] = rationale_examples
        stages.append(
            Stage(rationale_key(method, k), "rationales", inputs, (TEACHER,), RationaleParams(method, k))
        )
    if config.report.heatmap_examples:
        main = (config.attribution.method, config.attribution.k)
        inputs = {
            **_attribution_inputs(config, *main),
            "split": config.task.test_split,
            "examples": config.report.heatmap_examples,
        }
        params = RationaleParams(*main)
        stages.append(Stage(SAMPLE_RATIONALES, "sample-rationales", inputs, (TEACHER,), params))

    training = config.students.training.model_dump(mode="json")
    for student in config.students.models:
        model = student.model_dump(mode="json")
        for variant in student_variants(config):
            for seed in config.seeds:
                inputs: dict[str, Any] = {"task": task, "model": model, "training": training, "seed": seed}
                inputs["mode"] = variant.mode
                if variant.mode != "standard":
                    inputs["alpha"] = variant_alpha(config, variant)
                if variant.mode == "random":
                    inputs["k"] = variant.k
                train_examples = variant_train_examples(config, variant)
                if train_examples is not None:
                    inputs["train_examples"] = train_examples
                deps = (rationale_key(variant.method, variant.k),) if variant.mode == "rationale" else ()
                params = StudentParams(student.name, variant, seed)
                key = student_key(student.name, variant, seed)
                stages.append(Stage(key, "student", inputs, deps, params))
                stages.append(
                    Stage(
                        eval_key(student.name, variant, seed),
                        "evaluate",
                        evaluation,
                        (key,),
                        EvaluateParams(key),
                    )
                )

    consumed = tuple(
        stage.key for stage in stages if stage.kind in ("evaluate", "rationales", "sample-rationales")
    )
    stages.append(Stage(REPORT, "report", config.report.model_dump(mode="json"), consumed))
    return stages


class StageSelectionError(TokendistillError, ValueError):
    """A ``--only`` pattern that names no stage of the plan."""


def select_stages(plan: Sequence[Stage], patterns: Sequence[str]) -> list[Stage]:
    """The stages whose key matches one of the glob ``patterns`` (``eval/teacher``, ``students/*/standard/*``)
    and every stage they consume, in plan order: what ``tokendistill run --only`` brings up to date, so a
    teacher can be checked before rationales and students are paid for."""
    by_key = {stage.key: stage for stage in plan}
    wanted: set[str] = set()
    for pattern in patterns:
        matched = [key for key in by_key if fnmatchcase(key, pattern)]
        if not matched:
            examples = ", ".join(list(by_key)[:4])
            raise StageSelectionError(
                f"--only {pattern!r} matches no stage of the plan (its stages: {examples}, ...)"
            )
        wanted.update(matched)
    pending = list(wanted)
    while pending:
        for dep in by_key[pending.pop()].deps:
            if dep not in wanted:
                wanted.add(dep)
                pending.append(dep)
    return [stage for stage in plan if stage.key in wanted]
