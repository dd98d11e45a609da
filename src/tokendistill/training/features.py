"""Examples turned into tokenized rows, and the collator that pads them into batches of the model's family.

A multi-task row holds both of an example's tasks: ``predict: `` + source -> target and ``explain: `` +
source -> rationale. The collator turns each row into one or two sequences and marks each with its task,
so both tasks of an example always land in the same batch (as in DSS) and one forward pass serves both.
Rows hold source and target ids apart (``input_ids``, ``labels``) for either family; the family's
``collate`` lays them out as its model reads them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import datasets
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from tokendistill.data.example import Example
from tokendistill.models import ModelFamily, family_of, source_ids

PREDICT_PREFIX = "predict: "
EXPLAIN_PREFIX = "explain: "
PREDICT, EXPLAIN = 0, 1  # values of the batch's "task" tensor


def encode_examples(
    examples: Sequence[Example],
    tokenizer: PreTrainedTokenizerBase,
    family: ModelFamily,
    *,
    max_input_length: int,
    max_target_length: int,
    prefix: str = "",
    rationales: Mapping[str, str] | None = None,
    chat_template: bool = False,
) -> datasets.Dataset:
    """Tokenize ``prefix + source -> target`` per example, plus the explain task when ``rationales`` is given.

    With ``rationales`` every row gets ``explain_input_ids``/``explain_labels``; an example whose id has
    no (or an empty) rationale gets empty lists there and trains on its predict task only. Sources become
    prompts as ``tokendistill.models.prompt`` makes them: with ``chat_template`` each (prefixed) source is a
    user message in the tokenizer's chat template.
    """
    columns: dict[str, list[Any]] = {
        "id": [example.id for example in examples],
        "source": [prefix + example.source for example in examples],
        "target": [example.target for example in examples],
    }
    if rationales is not None:
        columns["explain_source"] = [EXPLAIN_PREFIX + example.source for example in examples]
        columns["explain_target"] = [rationales.get(example.id) or "" for example in examples]

    def tokenize(batch: dict[str, list[Any]]) -> dict[str, list[list[int]]]:
        rows = {
            "input_ids": _encode(tokenizer, batch["source"], max_input_length, chat_template),
            "labels": family.encode_targets(tokenizer, batch["target"], max_target_length),
        }
        if rationales is not None:
            has_rationale = [bool(text) for text in batch["explain_target"]]
            sources = _encode(tokenizer, batch["explain_source"], max_input_length, chat_template)
            targets = family.encode_targets(tokenizer, batch["explain_target"], max_target_length)
            rows["explain_input_ids"] = [
                ids if keep else [] for ids, keep in zip(sources, has_rationale, strict=True)
            ]
            rows["explain_labels"] = [
                ids if keep else [] for ids, keep in zip(targets, has_rationale, strict=True)
            ]
        return rows

    text_columns = [name for name in columns if name != "id"]
    dataset = datasets.Dataset.from_dict(columns)
    return dataset.map(tokenize, batched=True, remove_columns=text_columns, desc="tokenizing")


def _encode(
    tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int, chat_template: bool
) -> list[list[int]]:
    return source_ids(tokenizer, texts, max_length=max_length, chat_template=chat_template)


class MultiTaskCollator:
    """Pads rows into a batch; rows with explain columns add their explain sequence and a ``task`` tensor.

    The layout (and ``IGNORE_INDEX`` wherever there is no loss) comes from the model family's ``collate``.
    Rows without explain columns (teacher, standard student) give plain single-task batches.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel) -> None:
        self.model, self.pad_token_id, self.family = model, tokenizer.pad_token_id, family_of(model)

    def __call__(self, rows: list[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        sources, targets, tasks = [], [], []
        for row in rows:
            sources.append(row["input_ids"])
            targets.append(row["labels"])
            tasks.append(PREDICT)
            if row.get("explain_labels"):
                sources.append(row["explain_input_ids"])
                targets.append(row["explain_labels"])
                tasks.append(EXPLAIN)
        batch = self.family.collate(sources, targets, self.pad_token_id, self.model)
        if "explain_labels" in rows[0]:
            batch["task"] = torch.tensor(tasks, dtype=torch.long)
        return batch
