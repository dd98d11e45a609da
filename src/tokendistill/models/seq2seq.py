"""Encoder-decoder models (T5, BART, ``EncoderDecoderModel``): source to encoder, target to decoder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from transformers import AutoModelForSeq2SeqLM, PreTrainedModel, PreTrainedTokenizerBase

from tokendistill.models.base import (
    IGNORE_INDEX,
    Batch,
    ModelFamily,
    longest_row,
    pad,
    padded_batch,
    token_inputs,
    unpadded_columns,
)

SOURCE_KEYS = ("input_ids", "attention_mask")  # the encoder's inputs; every other tensor is the decoder's


class Seq2SeqFamily(ModelFamily):
    """Sources right-padded into the encoder; the decoder reads the labels shifted right, as in training."""

    @property
    def auto_class(self) -> type:
        return AutoModelForSeq2SeqLM

    @property
    def peft_task_type(self) -> str:
        return "SEQ_2_SEQ_LM"

    def encode_targets(
        self, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int | None = None
    ) -> list[list[int]]:
        return tokenizer(text_target=list(texts), truncation=True, max_length=max_length)["input_ids"]

    def collate(
        self,
        sources: Sequence[Sequence[int]],
        targets: Sequence[Sequence[int]],
        pad_token_id: int,
        model: PreTrainedModel,
    ) -> Batch:
        if not hasattr(model, "prepare_decoder_input_ids_from_labels"):
            raise ValueError(
                f"{type(model).__name__} is not a seq2seq model with a decoder fed shifted labels"
            )
        # Right padding keeps absolute positions (BART's) of the encoder inputs intact.
        batch = padded_batch(sources, pad_token_id)
        labels = pad(targets, IGNORE_INDEX, device=batch["input_ids"].device)
        batch["labels"] = labels
        batch["decoder_input_ids"] = model.prepare_decoder_input_ids_from_labels(labels=labels)
        return batch

    def forward(
        self,
        model: torch.nn.Module,
        batch: Mapping[str, torch.Tensor],
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return model(
            **token_inputs(batch, inputs_embeds),
            attention_mask=batch["attention_mask"],
            decoder_input_ids=batch["decoder_input_ids"],
            use_cache=False,
        ).logits

    def source_states(
        self,
        model: torch.nn.Module,
        batch: Mapping[str, torch.Tensor],
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        tokens = token_inputs(batch, inputs_embeds)
        return model.get_encoder()(**tokens, attention_mask=batch["attention_mask"]).last_hidden_state

    def target_mask(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return batch["labels"].ne(IGNORE_INDEX)

    def target_ids(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return batch["labels"]

    def source_mask(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return batch["attention_mask"].bool()

    def trim(self, batch: Mapping[str, torch.Tensor], rows: torch.Tensor) -> Batch:
        source = unpadded_columns(longest_row(batch["attention_mask"], rows), "right")
        target = unpadded_columns(longest_row(self.target_mask(batch), rows), "right")
        return {name: value[rows, source if name in SOURCE_KEYS else target] for name, value in batch.items()}

    def generation_inputs(
        self, sources: Sequence[Sequence[int]], pad_token_id: int, device: torch.device
    ) -> Batch:
        return padded_batch(sources, pad_token_id, device=device)

    def prompt_length(self, inputs: Mapping[str, torch.Tensor]) -> int:
        return 1  # the decoder's start token
