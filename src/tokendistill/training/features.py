"""Examples turned into tokenized seq2seq rows, and the collator that pads them into batches.

A multi-task row holds both of an example's tasks: ``predict: `` + source -> target and ``explain: `` +
source -> rationale. The collator turns each row into one or two sequences and marks each with its task,
so both tasks of an example always land in the same batch (as in DSS) and one forward pass serves both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import datasets
import torch
from transformers import DataCollatorForSeq2Seq, PreTrainedModel, PreTrainedTokenizerBase

from tokendistill.data.example import Example

PREDICT_PREFIX = "predict: "
EXPLAIN_PREFIX = "explain: "
PREDICT, EXPLAIN = 0, 1  # values of the batch's "task" tensor


def encode_examples(
    examples: Sequence[Example],
    tokenizer: PreTrainedTokenizerBase,
    *,
    max_input_length: int,
    max_target_length: int,
    prefix: str = "",
    rationales: Mapping[str, str] | None = None,
) -> datasets.Dataset:
    """Tokenize ``prefix + source -> target`` per example, plus the explain task when ``rationales`` is given.

    With ``rationales`` every row gets ``explain_input_ids``/``explain_labels``; an example whose id has
    no (or an empty) rationale gets empty lists there and trains on its predict task only.
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
            "input_ids": _encode(tokenizer, batch["source"], max_input_length),
            "labels": _encode(tokenizer, batch["target"], max_target_length, target=True),
        }
        if rationales is not None:
            has_rationale = [bool(text) for text in batch["explain_target"]]
            sources = _encode(tokenizer, batch["explain_source"], max_input_length)
            targets = _encode(tokenizer, batch["explain_target"], max_target_length, target=True)
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
    tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int, *, target: bool = False
) -> list[list[int]]:
    if target:
        encoded = tokenizer(text_target=texts, truncation=True, max_length=max_length)
    else:
        encoded = tokenizer(texts, truncation=True, max_length=max_length)
    return encoded["input_ids"]


class MultiTaskCollator:
    """Pads rows into a batch; rows with explain columns add their explain sequence and a ``task`` tensor.

    Padding and ``decoder_input_ids`` come from ``DataCollatorForSeq2Seq`` (labels padded with -100).
    Rows without explain columns (teacher, standard student, evaluation) give plain seq2seq batches.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel) -> None:
        self.pad = DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100)

    def __call__(self, rows: list[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        features, tasks = [], []
        for row in rows:
            features.append({"input_ids": row["input_ids"], "labels": row["labels"]})
            tasks.append(PREDICT)
            if row.get("explain_labels"):
                features.append({"input_ids": row["explain_input_ids"], "labels": row["explain_labels"]})
                tasks.append(EXPLAIN)
        batch = dict(self.pad(features))
        if "explain_labels" in rows[0]:
            batch["task"] = torch.tensor(tasks, dtype=torch.long)
        return batch
