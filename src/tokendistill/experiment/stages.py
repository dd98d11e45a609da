"""The real stage implementations: thin adapters from a stage of the plan to the training, attribution and
evaluation functions, with the stage's folder as their output. The report stage is
``tokendistill.report.stage``'s, so that this package does not import the report.

Each stage may be resumed after an interruption (the runner keeps the folder when the fingerprint matches),
so every call here resumes from what is already in the folder: Trainer checkpoints, rationale shards, a
built tiny model.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from tokendistill.attribution.sharding import MANIFEST_NAME, StaleShardsError
from tokendistill.attribution.stage import generate_rationales
from tokendistill.errors import TokendistillError
from tokendistill.experiment.config import ExperimentConfig, LoraConfig, ModelConfig, TrainingConfig
from tokendistill.experiment.plan import (
    MODEL_DIR,
    RATIONALE_FILE,
    SAMPLE_FILE,
    TEACHER,
    EvaluateParams,
    RationaleParams,
    StageKind,
    StudentParams,
    method_settings,
    rationale_key,
    variant_alpha,
    variant_train_examples,
)
from tokendistill.experiment.runner import StageContext, StageFunction
from tokendistill.experiment.splits import ExperimentTask
from tokendistill.training.config import LoraSettings, TrainConfig
from tokendistill.training.evaluation import evaluate_model
from tokendistill.training.models import build_tiny_for_task
from tokendistill.training.pretrained import build_pretrained_seq2seq
from tokendistill.training.rationale_sources import palm_rationales
from tokendistill.training.student import train_student
from tokendistill.training.teacher import train_teacher


def set_torch_threads(threads: int) -> None:
    """Set torch's CPU threads (also used to set up worker processes of parallel runs)."""
    torch.set_num_threads(threads)


def train_config(training: TrainingConfig, seed: int, spec: ModelConfig | None = None) -> TrainConfig:
    """The trainer settings of a run; a ``pretrained`` model's new weights get their faster rate unless
    ``learning_rate_multipliers`` names them itself."""
    settings = training.model_dump()
    settings["report_to"] = tuple(settings["report_to"])
    if spec is not None and spec.pretrained is not None:
        settings["learning_rate_multipliers"] = {
            **spec.pretrained.learning_rate_multipliers(),
            **settings["learning_rate_multipliers"],
        }
    return TrainConfig(**settings, seed=seed)


def lora_settings(lora: LoraConfig | None) -> LoraSettings | None:
    """The teacher's LoRA settings; an empty ``target_modules`` leaves the choice to peft, as null does."""
    if lora is None:
        return None
    settings = lora.model_dump()
    settings["target_modules"] = tuple(settings["target_modules"] or ()) or None
    return LoraSettings(**settings)


def initial_model(spec: ModelConfig, task: ExperimentTask, folder: Path, seed: int) -> str:
    """The Hub id or path to start training from; a ``tiny`` or ``pretrained`` spec is built into
    ``folder`` (once)."""
    if spec.model is not None:
        return spec.model
    if not folder.is_dir():
        # Built next to its final place and renamed, so an interruption never leaves half a model.
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        if spec.pretrained is not None:
            source = spec.pretrained
            build_pretrained_seq2seq(
                source.name,
                partial,
                encoder_layers=source.encoder_layers,
                decoder_layers=source.decoder_layers,
                decoder_init=source.decoder_init,
                seed=seed,
            )
        else:
            tiny = spec.tiny
            build_tiny_for_task(
                task,
                partial,
                architecture=tiny.architecture,
                size=tiny.size,
                vocab_size=tiny.vocab_size,
                seed=seed,
            )
        os.replace(partial, folder)
    return str(folder)


def teacher_stage(ctx: StageContext) -> None:
    teacher = ctx.config.teacher
    task = ExperimentTask(ctx.config.task)
    train_teacher(
        initial_model(teacher, task, ctx.dir / "init", teacher.seed),
        task,
        ctx.dir / MODEL_DIR,
        lora=lora_settings(teacher.lora),
        config=train_config(teacher.training, teacher.seed, teacher),
        resume=True,
        chat_template=teacher.chat_template,
    )


def _rationales(ctx: StageContext, split: str, output: str, limit: int | None) -> None:
    attribution = ctx.config.attribution
    params = ctx.stage.params_as(RationaleParams)
    method, k = params.method, params.k
    options = method_settings(attribution, method)
    try:
        generate_rationales(
            ctx.output_of(TEACHER) / MODEL_DIR,
            ExperimentTask(ctx.config.task),
            split,
            ctx.dir / output,
            method=method,
            k=k,
            batch_size=attribution.batch_size,
            target=attribution.target,
            dtype=attribution.dtype,
            limit=limit,
            chat_template=ctx.config.teacher.chat_template,
            **options,
        )
    except StaleShardsError as error:
        # The stage's config is unchanged (its fingerprint matched), so what changed is the machine or the
        # installed versions; the runner has no --overwrite, and the user may prefer to resume.
        raise TokendistillError(
            f"{error.shards_dir} {error.problem}: this stage was started with other library versions, device "
            f"or teacher files (its {MANIFEST_NAME} lists them); to resume, run again with those; "
            f"to start the stage over, delete {ctx.dir} and run again"
        ) from error


def rationales_stage(ctx: StageContext) -> None:
    _rationales(ctx, "train", RATIONALE_FILE, ctx.config.rationale_examples())


def sample_rationales_stage(ctx: StageContext) -> None:
    _rationales(ctx, "test", SAMPLE_FILE, ctx.config.report.heatmap_examples)


def palm_training_rationales(config: ExperimentConfig) -> dict[str, str]:
    """DSS's PaLM rationales of the split the students train on (unparsable ones left out)."""
    return palm_rationales(config.task.name, config.task.palm_folder, config.task.train_split)


def student_stage(ctx: StageContext) -> None:
    config, params = ctx.config, ctx.stage.params_as(StudentParams)
    variant = params.variant
    spec = next(model for model in config.students.models if model.name == params.student)
    task = ExperimentTask(config.task, variant_train_examples(config, variant))
    extra: dict[str, object] = {}
    if variant.mode == "rationale":
        extra["rationales_path"] = ctx.output_of(rationale_key(variant.method, variant.k)) / RATIONALE_FILE
    elif variant.mode == "random":
        extra["k"] = variant.k
    elif variant.mode == "dss":
        extra["rationales"] = palm_training_rationales(config)
    train_student(
        initial_model(spec, task, ctx.dir / "init", params.seed),
        task,
        ctx.dir / MODEL_DIR,
        mode=variant.mode,
        alpha=variant_alpha(config, variant),
        config=train_config(config.students.training, params.seed, spec),
        resume=True,
        chat_template=spec.chat_template,
        **extra,
    )


def evaluate_stage(ctx: StageContext) -> None:
    """The prompt (prefix, chat template) is the one the model's folder records it was trained with."""
    config = ctx.config
    model_stage = ctx.stage.params_as(EvaluateParams).model_stage
    training = config.teacher.training if model_stage == TEACHER else config.students.training
    evaluate_model(
        ctx.output_of(model_stage) / MODEL_DIR,
        ExperimentTask(config.task),
        "test",
        ctx.dir,
        batch_size=config.evaluation.batch_size,
        max_new_tokens=training.max_new_tokens,
        max_input_length=training.max_input_length,
        bootstrap_samples=config.evaluation.bootstrap_samples,
    )


# Every stage kind but "report": its implementation is tokendistill.report.stage.report_stage (this package
# never imports the report); tokendistill.commands.run adds it.
COMPUTE_IMPLEMENTATIONS: dict[StageKind, StageFunction] = {
    "teacher": teacher_stage,
    "rationales": rationales_stage,
    "sample-rationales": sample_rationales_stage,
    "student": student_stage,
    "evaluate": evaluate_stage,
}
