"""The rationale stage: teacher + task + split -> rationale file, in resumable shards, on many processes.

Run under ``accelerate launch`` (or ``torchrun``), every process takes whole shards (shard i -> process
i % world size) and the main process merges them once all are written. A shard's records depend only on its
own examples (its batches are cut inside it), so the merged file is the same for any number of processes and
for any number of interruptions.

On a machine without GPUs, ``accelerate launch --cpu --num_processes N`` starts one process unless MPI is
set up; ``accelerate launch --multi_gpu --num_processes N`` (torchrun underneath) starts N, and the stage
joins them in a CPU (gloo) group.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
import transformers
from accelerate import PartialState
from accelerate.utils import parse_flag_from_env
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

import tokendistill
from tokendistill.attribution.engine import attribute
from tokendistill.attribution.methods import METHODS
from tokendistill.attribution.options import result_option_defaults
from tokendistill.attribution.rationale import rationale_text, select_rationale
from tokendistill.attribution.records import (
    RationaleRecord,
    encode_records,
    example_fingerprint,
    read_rationale_file,
)
from tokendistill.attribution.sharding import (
    Shard,
    check_manifest,
    is_finished,
    mark_finished,
    merge_shards,
    plan_shards,
    prepare_shards_dir,
    remove_shards_dir,
    shards_dir_for,
    shards_of_process,
)
from tokendistill.data.errors import DataError, TaskError
from tokendistill.data.example import Example
from tokendistill.data.tasks import Task, get_task
from tokendistill.files import write_atomically
from tokendistill.models import DTYPES, load_model_and_tokenizer
from tokendistill.training.manifest import uses_chat_template

logger = logging.getLogger(__name__)

TargetChoice = Literal["prediction", "gold"]
TARGET_CHOICES: tuple[str, ...] = ("prediction", "gold")
# Bump when a change to this stage changes the bytes it writes, so old shards are not mixed with new ones.
# 2: records carry ``example_sha256`` (issue 11). 3: the settings name a local teacher folder by its path from
# the output's folder (``model_reference``), no longer as given.
STAGE_FORMAT_VERSION = 3


def _check_choice(name: str, value: str, choices: Collection[str]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; use one of {', '.join(choices)}")


def distributed_state() -> PartialState:
    """The process group ``accelerate launch`` / ``torchrun`` set up, or a single process.

    On a machine without an accelerator, Accelerate only forms a multi-process CPU group when asked for the
    CPU explicitly, so it is asked whenever no accelerator is present (or ``--cpu`` was given).
    """
    cpu = parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.accelerator.is_available()
    state = PartialState(cpu=cpu)
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched != state.num_processes:
        # Processes that do not know about each other would all write every shard.
        raise RuntimeError(
            f"launched as {launched} processes but Accelerate formed a group of {state.num_processes}; "
            "on a CPU-only machine use `accelerate launch --multi_gpu --num_processes N` or `torchrun`"
        )
    return state


def load_examples(
    task: str | Task,
    split: str,
    data_dir: str | Path | None = None,
    task_options: Mapping[str, Any] | None = None,
    limit: int | None = None,
) -> list[Example]:
    """The first ``limit`` examples (all when None) of ``split``; example ids must be unique, and there must
    be some (an empty rationale file would only fail later, in the student that reads it)."""
    if isinstance(task, str):
        task = get_task(task, **dict(task_options or {}))
    elif task_options:
        raise ValueError("task_options only apply when the task is given by name")
    examples = task.load(split, Path(data_dir) if data_dir is not None else None)
    if limit is not None:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        examples = examples[:limit]
    if not examples:
        limited = f" (limit {limit})" if limit is not None else ""
        raise TaskError(f"task {task.name!r} split {split!r} has no examples to explain{limited}")
    seen: set[str] = set()
    for example in examples:
        if example.id in seen:
            raise ValueError(f"task {task.name!r} split {split!r}: example id {example.id!r} occurs twice")
        seen.add(example.id)
    return examples


def load_teacher(
    model_name_or_path: str | Path, dtype: str = "float32", device: torch.device | str = "cpu"
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A model of either family (Hub name or local folder) in eval mode on ``device``, and its tokenizer."""
    _check_choice("dtype", dtype, DTYPES)
    model, tokenizer = load_model_and_tokenizer(model_name_or_path, dtype=dtype)
    return model.to(device).eval(), tokenizer


def rationale_records(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    *,
    method: str = "saliency",
    k: int = 5,
    batch_size: int = 16,
    target: TargetChoice = "prediction",
    stopwords: Collection[str] | None = None,
    chat_template: bool = False,
    **method_options: Any,
) -> list[RationaleRecord]:
    """Attribute ``examples`` (in batches of ``batch_size``) and pick each one's top-``k`` rationale.

    ``target="prediction"`` explains the teacher's own greedy output, ``"gold"`` the example's target.
    ``chat_template``: the teacher reads each source as a user message in its tokenizer's chat template
    (the template's words are never rationale words).
    """
    _check_choice("target", target, TARGET_CHOICES)
    targets = [example.target for example in examples] if target == "gold" else None
    attributions = attribute(
        model,
        tokenizer,
        [example.source for example in examples],
        targets,
        method=method,
        batch_size=batch_size,
        chat_template=chat_template,
        **method_options,
    )
    records = []
    for example, attribution in zip(examples, attributions, strict=True):
        try:
            chosen = select_rationale(
                attribution.words, k, excluded_spans=example.template_spans(), stopwords=stopwords
            )
        except ValueError as error:
            raise ValueError(
                f"{attribution.method} attribution of {attribution.source!r}: {error}"
            ) from error
        records.append(
            RationaleRecord(
                example.id,
                attribution.target,
                attribution.method,
                k,
                tuple(attribution.words),
                rationale_text(chosen),
                example_fingerprint(example),
            )
        )
    return records


def model_fingerprint(model_name_or_path: str | Path) -> list[list[Any]] | None:
    """(file, size, mtime) of a local model folder's files, so retraining into the same folder is noticed.

    None for a Hub name, which stands for itself.
    """
    folder = Path(model_name_or_path)
    if not folder.is_dir():
        return None
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    return [[str(path.relative_to(folder)), path.stat().st_size, path.stat().st_mtime_ns] for path in files]


def model_reference(model_name_or_path: str | Path, output_folder: Path) -> str:
    """How the settings name the teacher: a Hub name as given, a local folder by its path from the folder of
    the output, so that a run folder holding both, moved or copied whole mid-run, still resumes its shards."""
    if not Path(model_name_or_path).is_dir():
        return str(model_name_or_path)
    return os.path.relpath(os.path.abspath(model_name_or_path), os.path.abspath(output_folder))


def examples_fingerprint(examples: Sequence[Example]) -> str:
    """A digest of the examples' ids, sources, template spans and targets, in order."""
    digest = hashlib.sha256()
    for example in examples:
        row = [example.id, example.source, example.template_spans(), example.target]
        digest.update(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
    return digest.hexdigest()


def run_settings(
    model_name_or_path: str | Path,
    output_path: Path,
    task_name: str,
    split: str,
    examples: Sequence[Example],
    device_type: str,
    **options: Any,
) -> dict[str, Any]:
    """Everything that decides the output bytes: the manifest a resumed run must match.

    The number of processes is deliberately absent (it does not change the output); the device type and
    library versions are present (they change the floats).
    """
    settings = {
        "stage_format": STAGE_FORMAT_VERSION,
        "model": model_reference(model_name_or_path, output_path.parent),
        "model_files": model_fingerprint(model_name_or_path),
        "task": task_name,
        "split": split,
        "n_examples": len(examples),
        "examples_sha256": examples_fingerprint(examples),
        "device_type": device_type,
        "versions": {
            "tokendistill": tokendistill.__version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
        **options,
    }
    try:
        json.dumps(settings, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TypeError(f"rationale stage settings must be plain JSON values: {error}") from error
    return settings


def check_shard(shard: Shard, examples: Sequence[Example]) -> None:
    """A finished shard must hold exactly its examples, in order (guards against a hand-edited folder)."""
    found = [record.id for record in read_rationale_file(shard.path)]
    expected = [example.id for example in examples[shard.start : shard.stop]]
    if found != expected:
        raise DataError(
            shard.path,
            None,
            "id",
            f"holds ids {found[:3]}... but examples {shard.start}:{shard.stop} are "
            f"{expected[:3]}...; delete this shard file and rerun",
        )


def generate_rationales(
    model_name_or_path: str | Path,
    task: str | Task,
    split: str,
    output_path: str | Path,
    *,
    data_dir: str | Path | None = None,
    task_options: Mapping[str, Any] | None = None,
    method: str = "saliency",
    k: int = 5,
    batch_size: int = 16,
    shard_size: int = 256,
    target: TargetChoice = "prediction",
    stopwords: Collection[str] | None = None,
    dtype: str = "float32",
    limit: int | None = None,
    overwrite: bool = False,
    show_progress: bool = True,
    chat_template: bool | None = None,
    **method_options: Any,
) -> Path:
    """Write the rationale file of ``split`` of ``task`` as explained by the teacher ``model_name_or_path``.

    Shards of ``shard_size`` examples are written under ``<output_path>.shards/`` and merged into
    ``output_path`` (then the folder is removed). Rerunning after an interruption skips finished shards and
    gives the same bytes as an uninterrupted run; rerunning a finished job with the same settings returns at
    once. Shards left by a run with other settings raise
    ``StaleShardsError`` unless ``overwrite=True``, which deletes them and starts over. ``method_options``
    go to ``tokendistill.attribution.attribute`` (e.g. ``n_steps``, ``word_aggregation``).
    ``chat_template`` wraps each source in the teacher tokenizer's chat template; ``None`` does so when the
    teacher's folder records that it was trained that way (``tokendistill.json``).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    _check_choice("method", method, METHODS)
    _check_choice("target", target, TARGET_CHOICES)
    _check_choice("dtype", dtype, DTYPES)
    output_path = Path(output_path)
    if chat_template is None:
        chat_template = uses_chat_template(model_name_or_path)
    state = distributed_state()
    examples = load_examples(task, split, data_dir, task_options, limit)
    # The options that change the output are recorded with their defaults, so a file made before a default
    # changed is not taken for one made with the new default.
    method_options = {**result_option_defaults(method), **method_options}
    settings = run_settings(
        model_name_or_path,
        output_path,
        task if isinstance(task, str) else task.name,
        split,
        examples,
        state.device.type,
        task_options=dict(task_options or {}),
        limit=limit,
        method=method,
        method_options=method_options,
        k=k,
        batch_size=batch_size,
        shard_size=shard_size,
        target=target,
        stopwords=sorted(stopwords) if stopwords is not None else None,
        dtype=dtype,
        # Only when set, so files made before the option existed still match their settings.
        **({"chat_template": True} if chat_template else {}),
    )
    if not overwrite and is_finished(output_path, settings):
        logger.info("%s is up to date (made with the same settings): nothing to compute", output_path)
        return output_path
    shards_dir = shards_dir_for(output_path)
    shards = plan_shards(len(examples), shard_size, shards_dir)

    # Every process checks the manifest before the first barrier, so a mismatch fails them all at once.
    if not overwrite:
        check_manifest(shards_dir, settings)
    if state.is_main_process:
        prepare_shards_dir(shards_dir, settings, overwrite=overwrite)
    state.wait_for_everyone()
    pending = [shard for shard in shards if not shard.is_done()]
    state.wait_for_everyone()  # all processes agree on `pending` before any new shard appears
    mine = shards_of_process(pending, state.process_index, state.num_processes)

    started = time.perf_counter()
    if mine:
        model, tokenizer = load_teacher(model_name_or_path, dtype, state.device)
        where = f" [process {state.process_index}/{state.num_processes}]" if state.num_processes > 1 else ""
        with tqdm(
            total=sum(shard.stop - shard.start for shard in mine),
            desc=f"rationales{where}",
            unit="ex",
            position=state.local_process_index,
            disable=not show_progress,
        ) as progress:
            for shard in mine:
                records = rationale_records(
                    model,
                    tokenizer,
                    examples[shard.start : shard.stop],
                    method=method,
                    k=k,
                    batch_size=batch_size,
                    target=target,
                    stopwords=stopwords,
                    chat_template=chat_template,
                    **method_options,
                )
                write_atomically(shard.path, encode_records(records))
                progress.update(shard.stop - shard.start)
    state.wait_for_everyone()

    if state.is_main_process:
        for shard in shards:
            check_shard(shard, examples)
        merge_shards(shards, output_path)
        mark_finished(output_path, settings)
        remove_shards_dir(shards_dir)
        seconds = time.perf_counter() - started
        computed = sum(shard.stop - shard.start for shard in pending)
        logger.info(
            "wrote %s: %d examples, %d computed in %.1f s (%.1f examples/s)%s",
            output_path,
            len(examples),
            computed,
            seconds,
            computed / seconds if seconds > 0 else float("nan"),
            f" on {state.num_processes} processes" if state.num_processes > 1 else "",
        )
    state.wait_for_everyone()
    return output_path
