"""The PaLM chain-of-thought rationales that Distilling Step-by-Step trains its students on.

DSS's files (``<task>/palm/`` in a folder laid out like the shared data folder) hold raw PaLM completions
in JSON arrays ``llm/<split>_CoT_<k>.json``. Element ``j`` of file ``k`` belongs to line ``k * B + j`` of
DSS's input file ``<task>_<split>.json``, with a batch size ``B`` per task. Each completion runs on into
the next few-shot example, so it is cut at that example's marker and split into rationale and answer the
way DSS's data_utils.py does; when that fails the answer is ``None`` and the rationale is DSS's fallback.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from tokendistill.data.errors import DataError, UnknownTaskError
from tokendistill.data.example import Example
from tokendistill.data.io import Row, iter_rows, read_json
from tokendistill.data.tasks import get_task
from tokendistill.data.tasks.base import check_split
from tokendistill.data.tasks.common import staged_file


@dataclass(frozen=True)
class PalmRationale:
    """The rationale the student learns to explain, and PaLM's answer (None: unparsed)."""

    rationale: str
    answer: str | None


def _parse_anli(completion: str) -> PalmRationale:
    parts = completion.split("Premise:")[0].rstrip().split("So the answer is")
    if len(parts) != 2:
        return PalmRationale("", None)
    rationale, answer = parts
    return PalmRationale(rationale.rstrip(), answer.lstrip()[:-1])  # DSS drops the final character, a "."


def _parse_esnli(completion: str) -> PalmRationale:
    rationale = completion.split("Answer:")[0].rstrip()
    if "Answer: " not in completion:
        return PalmRationale(rationale, None)
    return PalmRationale(rationale, completion.split("Answer: ")[1].split("Premise")[0].rstrip())


def _parse_cqa(completion: str) -> PalmRationale:
    parts = completion.split("Q:")[0].rstrip().split("So the answer is")
    if len(parts) != 2:
        return PalmRationale(
            "", None
        )  # DSS has no fallback here (it would crash); no staged output needs one
    rationale, tail = parts
    pieces = re.split(r"\(.\)", tail)  # "So the answer is (c) train station." -> "train station"
    answer = pieces[1].strip().removesuffix(".") if len(pieces) > 1 else ""
    return PalmRationale(rationale.rstrip(), answer or None)


def _parse_svamp(completion: str) -> PalmRationale:
    parts = completion.split("Q:")[0].rstrip().split("The answer is")
    if len(parts) != 2:
        return PalmRationale(" ", None)
    rationale, tail = parts
    equation = re.search(r"\(.*\)", tail)  # "The answer is (84 / 2)." -> "(84 / 2)"
    return PalmRationale(rationale.rstrip(), equation.group(0) if equation else None)


@dataclass(frozen=True)
class _Source:
    """How one task's DSS files are laid out and parsed."""

    batch_size: int
    parse: Callable[[str], PalmRationale]
    # The join key of a DSS input row (given our split name) and of one of our examples.
    row_key: Callable[[Row, str], str]
    example_key: Callable[[Example], str] = lambda example: example.id


_SOURCES: dict[str, _Source] = {
    "anli1": _Source(5000, _parse_anli, lambda row, split: row.text("uid")),
    "esnli": _Source(5500, _parse_esnli, lambda row, split: f"{split}-{row.line - 1}"),
    "cqa": _Source(1000, _parse_cqa, lambda row, split: row.text("id")),
    # svamp_<split>.json has no ids; its "input" is our source text, which is unique per problem.
    "svamp": _Source(500, _parse_svamp, lambda row, split: row.text("input"), lambda example: example.source),
}
_DSS_SPLIT = {"train": "train", "validation": "valid", "test": "test"}
# cqa and svamp have no validation split in DSS: our validation is a holdout of DSS's train files.
_HELD_OUT = ("cqa", "svamp")


def parse_completion(task_name: str, completion: str) -> PalmRationale:
    """Split one raw PaLM completion for ``task_name`` into rationale and answer as DSS does."""
    return _source(task_name).parse(completion)


def read_completions(task_name: str, dss_split: str, data_dir: Path) -> list[str]:
    """All raw completions of DSS split ``dss_split`` (train/valid/test), in input-file order."""
    source = _source(task_name)
    folder = Path(data_dir) / task_name / "palm" / "llm"
    paths = []
    while (folder / f"{dss_split}_CoT_{len(paths)}.json.gz").is_file():
        paths.append(folder / f"{dss_split}_CoT_{len(paths)}.json.gz")
    if not paths:
        raise FileNotFoundError(f"{folder / f'{dss_split}_CoT_0.json.gz'} not found")
    completions: list[str] = []
    for index, path in enumerate(paths):
        batch = read_json(path)
        if not isinstance(batch, list) or not all(isinstance(item, str) for item in batch):
            raise DataError(path, None, None, "expected a JSON array of strings")
        last = index == len(paths) - 1
        if len(batch) > source.batch_size or (not last and len(batch) != source.batch_size):
            raise DataError(
                path, None, None, f"{len(batch)} completions; DSS batches hold {source.batch_size}"
            )
        completions += batch
    return completions


def load_palm_rationales(task_name: str, split: str, data_dir: Path) -> dict[str, PalmRationale]:
    """PaLM rationales for the examples of ``split``, keyed by ``Example.id``.

    The completions are aligned with DSS's input file line by line and joined to our examples by id
    (by source text for SVAMP, whose DSS files have no ids). Every example of the split must get one.
    """
    check_split(split)
    source = _source(task_name)
    dss_split = "train" if split == "validation" and task_name in _HELD_OUT else _DSS_SPLIT[split]
    inputs = staged_file(
        data_dir,
        f"{task_name}/palm/{task_name}_{dss_split}.json.gz",
        f"DSS's {task_name} {dss_split} inputs are not staged, so its PaLM outputs match no examples",
    )
    keys = [_key(row, source, split) for row in iter_rows(inputs, "jsonl")]
    completions = read_completions(task_name, dss_split, data_dir)
    if len(completions) != len(keys):
        raise DataError(inputs, None, None, f"{len(keys)} inputs but {len(completions)} PaLM completions")
    by_key = dict(zip(keys, map(source.parse, completions), strict=True))
    examples = get_task(task_name).load(split, data_dir)
    return {example.id: _lookup(by_key, source.example_key(example), inputs) for example in examples}


def _key(row: Row | DataError, source: _Source, split: str) -> str:
    if isinstance(row, DataError):
        raise row
    return source.row_key(row, split)


def _lookup(by_key: dict[str, PalmRationale], key: str, inputs: Path) -> PalmRationale:
    if key not in by_key:
        raise DataError(inputs, None, None, f"no PaLM completion for example {key[:80]!r}")
    return by_key[key]


def _source(task_name: str) -> _Source:
    if task_name not in _SOURCES:
        raise UnknownTaskError(
            f"no DSS PaLM rationales for task {task_name!r}; they exist for {', '.join(_SOURCES)}"
        )
    return _SOURCES[task_name]


def parse_failures(rationales: Iterable[PalmRationale]) -> int:
    """How many completions had no parsable answer (DSS trains on its fallback rationale for those)."""
    return sum(rationale.answer is None for rationale in rationales)
