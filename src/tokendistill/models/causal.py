"""Decoder-only models (Llama, Qwen, GPT-2): one sequence, the source followed by the target.

An example is ``tokenizer(source).input_ids`` followed by ``tokenizer(target, add_special_tokens=False)``
and the end-of-sequence token; only the target tokens carry loss. Position ids are counted from each row's
first real token, so a padded row sees the same positions as the same row alone, on either padding side
(models with learned absolute positions, like GPT-2, would otherwise shift under left padding).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from tokendistill.models.base import (
    IGNORE_INDEX,
    Batch,
    ModelFamily,
    PaddingSide,
    longest_row,
    pad,
    padded_batch,
    token_inputs,
    unpadded_columns,
)


class CausalFamily(ModelFamily):
    """Training and attribution batches are padded on ``padding_side``; generation always pads left."""

    def __init__(self, padding_side: PaddingSide = "right") -> None:
        self.padding_side = padding_side

    @property
    def auto_class(self) -> type:
        return AutoModelForCausalLM

    @property
    def peft_task_type(self) -> str:
        return "CAUSAL_LM"

    def prepare_tokenizer(self, tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
        """Decoder-only tokenizers often lack a pad token (Llama's): the end-of-sequence token serves, as the
        attention mask, not the id, marks padding here. Left padding is what batched generation needs."""
        if tokenizer.eos_token_id is None:
            raise ValueError(f"{type(tokenizer).__name__} has no end-of-sequence token to end targets with")
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"
        return tokenizer

    def encode_targets(
        self, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int | None = None
    ) -> list[list[int]]:
        limit = None if max_length is None else max_length - 1
        encoded = tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=limit)
        return [[*ids, tokenizer.eos_token_id] for ids in encoded["input_ids"]]

    def collate(
        self,
        sources: Sequence[Sequence[int]],
        targets: Sequence[Sequence[int]],
        pad_token_id: int,
        model: PreTrainedModel,
    ) -> Batch:
        sequences = [list(source) + list(target) for source, target in zip(sources, targets, strict=True)]
        labels = [
            [IGNORE_INDEX] * len(source) + list(target)
            for source, target in zip(sources, targets, strict=True)
        ]
        return _sequence_batch(sequences, pad_token_id, self.padding_side) | {
            "labels": pad(labels, IGNORE_INDEX, self.padding_side)
        }

    def forward(
        self,
        model: torch.nn.Module,
        batch: Mapping[str, torch.Tensor],
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self._call(model, batch, inputs_embeds).logits[:, :-1]  # position p predicts token p + 1

    def source_states(
        self,
        model: torch.nn.Module,
        batch: Mapping[str, torch.Tensor],
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self._call(model, batch, inputs_embeds, output_hidden_states=True).hidden_states[-1]

    @staticmethod
    def _call(
        model: torch.nn.Module,
        batch: Mapping[str, torch.Tensor],
        inputs_embeds: torch.Tensor | None,
        **options: bool,
    ) -> Any:
        return model(
            **token_inputs(batch, inputs_embeds),
            attention_mask=batch["attention_mask"],
            position_ids=batch["position_ids"],
            use_cache=False,
            **options,
        )

    def target_ids(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return batch["labels"][:, 1:]

    def target_mask(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.target_ids(batch).ne(IGNORE_INDEX)

    def source_mask(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return batch["attention_mask"].bool() & batch["labels"].eq(IGNORE_INDEX)

    def trim(self, batch: Mapping[str, torch.Tensor], rows: torch.Tensor) -> Batch:
        columns = unpadded_columns(longest_row(batch["attention_mask"], rows), self.padding_side)
        return {name: value[rows, columns] for name, value in batch.items()}

    def generation_inputs(
        self, sources: Sequence[Sequence[int]], pad_token_id: int, device: torch.device
    ) -> Batch:
        return padded_batch(sources, pad_token_id, "left", device)

    def prompt_length(self, inputs: Mapping[str, torch.Tensor]) -> int:
        return inputs["input_ids"].shape[1]  # the (left-padded) source


def _sequence_batch(sequences: Sequence[Sequence[int]], pad_token_id: int, side: PaddingSide) -> Batch:
    """Padded ids, attention mask (``padded_batch``) and position ids counted from each row's first token."""
    batch = padded_batch(sequences, pad_token_id, side)
    batch["position_ids"] = (batch["attention_mask"].cumsum(dim=1) - 1).clamp(min=0)
    return batch
