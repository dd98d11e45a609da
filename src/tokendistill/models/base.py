"""What every model family offers the layers above it: one interface, so nothing else branches on the family.

A family turns (source ids, target ids) pairs into a padded batch, scores the target tokens of such a batch
(``target_log_probs``: the one model call that both attribution and the two-task loss go through) and
generates greedily. Training rows, attribution and evaluation all describe an example the same way: the
source as ``tokenizer(source).input_ids`` (or, for a model given its chat template, the source's prompt:
``tokendistill.models.prompt``) and the target as ``encode_targets`` gives it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Literal

import torch
from torch.nn.utils.rnn import pad_sequence
from transformers import PreTrainedModel, PreTrainedTokenizerBase

# The label value of tokens that carry no loss (source and padding): the Hugging Face convention, and
# torch's cross_entropy default. Defined here only; everything else imports it.
IGNORE_INDEX = -100

PaddingSide = Literal["left", "right"]
Batch = dict[str, torch.Tensor]


def pad(
    sequences: Sequence[Sequence[int]],
    value: int,
    side: PaddingSide = "right",
    device: torch.device | None = None,
) -> torch.Tensor:
    """The sequences as one (B, longest) tensor, filled with ``value`` on ``side``."""
    tensors = [torch.tensor(sequence, dtype=torch.long) for sequence in sequences]
    return pad_sequence(tensors, batch_first=True, padding_value=value, padding_side=side).to(device)


def padded_batch(
    sequences: Sequence[Sequence[int]],
    pad_token_id: int,
    side: PaddingSide = "right",
    device: torch.device | None = None,
) -> Batch:
    """``input_ids`` padded on ``side`` and their ``attention_mask``, made from the lengths, not the ids (the
    pad id may be a real token's too: a decoder-only tokenizer's end of sequence)."""
    return {
        "input_ids": pad(sequences, pad_token_id, side, device),
        "attention_mask": pad([[1] * len(sequence) for sequence in sequences], 0, side, device),
    }


def token_inputs(batch: Mapping[str, torch.Tensor], inputs_embeds: torch.Tensor | None) -> Batch:
    """The tokens as a model call takes them: ``batch``'s ids, or ``inputs_embeds`` in their place (given by
    attribution, which differentiates the embeddings)."""
    return {"input_ids": batch["input_ids"]} if inputs_embeds is None else {"inputs_embeds": inputs_embeds}


def longest_row(mask: torch.Tensor, rows: torch.Tensor) -> int:
    """How many positions the fullest of ``rows`` of a (B, T) mask of 0/1 or bools sets."""
    return int(mask[rows].sum(dim=1).max())


def unpadded_columns(length: int, side: PaddingSide) -> slice:
    """The ``length`` columns of a batch padded on ``side`` that lie at the unpadded end of each row."""
    return slice(None, length) if side == "right" else slice(-length, None)


@contextmanager
def eval_mode(model: PreTrainedModel) -> Iterator[None]:
    """Eval mode (no dropout) for the block; the model's mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


class ModelFamily(ABC):
    """Encoder-decoder or decoder-only: how a model of the family is loaded, fed, scored and decoded."""

    @property
    @abstractmethod
    def auto_class(self) -> type:
        """The ``transformers`` auto class that loads models of this family."""

    @property
    @abstractmethod
    def peft_task_type(self) -> str:
        """peft's ``TaskType`` value for LoRA adapters on this family."""

    def prepare_tokenizer(self, tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
        """The tokenizer, completed with what batches need (a pad token); returned for chaining."""
        if tokenizer.pad_token_id is None:
            raise ValueError(f"{type(tokenizer).__name__} has no pad token")
        return tokenizer

    @abstractmethod
    def encode_targets(
        self, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int | None = None
    ) -> list[list[int]]:
        """Target texts as the ids the model is trained on and explained against, end of sequence included."""

    @abstractmethod
    def collate(
        self,
        sources: Sequence[Sequence[int]],
        targets: Sequence[Sequence[int]],
        pad_token_id: int,
        model: PreTrainedModel,
    ) -> Batch:
        """A padded batch of (source, target) pairs; ``labels`` is ``IGNORE_INDEX`` where there is no loss."""

    @abstractmethod
    def forward(
        self,
        model: torch.nn.Module,
        batch: Mapping[str, torch.Tensor],
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits aligned with ``target_mask(batch)``: row ``t`` predicts target position ``t``."""

    @abstractmethod
    def source_states(
        self,
        model: torch.nn.Module,
        batch: Mapping[str, torch.Tensor],
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Hidden states computed from the source (the encoder's output, or a decoder's last layer): a place
        where embeddings that the model rescales only when given ids show up clearly."""

    @abstractmethod
    def target_mask(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """(B, T) bool: the positions of ``forward``'s output that predict a target token."""

    @abstractmethod
    def target_ids(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """(B, T) the token each position of ``forward``'s output is scored on, else ``IGNORE_INDEX``."""

    @abstractmethod
    def source_mask(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """(B, N) bool: the positions of ``input_ids`` holding source tokens (the ones attribution scores)."""

    @abstractmethod
    def trim(self, batch: Mapping[str, torch.Tensor], rows: torch.Tensor) -> Batch:
        """The batch of ``rows`` alone, without the columns that are padding in all of them."""

    @abstractmethod
    def generation_inputs(
        self, sources: Sequence[Sequence[int]], pad_token_id: int, device: torch.device
    ) -> Batch:
        """``generate``'s inputs for a batch of sources."""

    @abstractmethod
    def prompt_length(self, inputs: Mapping[str, torch.Tensor]) -> int:
        """How many leading positions of ``generate``'s output for ``inputs`` the model did not produce."""

    def target_log_probs(
        self,
        model: torch.nn.Module,
        batch: Mapping[str, torch.Tensor],
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``log p(y_t | x, y_<t)`` at every position of ``target_mask``, 0 elsewhere, shape (B, T).

        The model is called without ``labels`` (its own loss averages over the whole batch, which would
        couple the examples); the log-softmax runs in float32 or wider.
        """
        logits = self.forward(model, batch, inputs_embeds)
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        labels = self.target_ids(batch)
        nll = torch.nn.functional.cross_entropy(
            logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX, reduction="none"
        )
        return -nll.view(labels.shape)

    def generate(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        sources: Sequence[Sequence[int]],
        *,
        batch_size: int = 64,
        max_new_tokens: int = 64,
        progress: object | None = None,
    ) -> list[str]:
        """Greedy continuations of tokenized ``sources``, only the new text, decoded without special tokens.

        Batches go longest first (little padding; the largest batch, the one that could run out of memory,
        comes first); results are in input order. ``progress`` (a tqdm bar) is advanced per batch.
        """
        device = model.get_input_embeddings().weight.device
        order = sorted(range(len(sources)), key=lambda index: -len(sources[index]))
        texts = [""] * len(sources)
        with eval_mode(model), torch.inference_mode():
            for first in range(0, len(order), batch_size):
                indices = order[first : first + batch_size]
                inputs = self.generation_inputs([sources[i] for i in indices], tokenizer.pad_token_id, device)
                prompt_length = self.prompt_length(inputs)
                # The limit as max_length with max_new_tokens cleared: given as max_new_tokens next to the
                # max_length a saved generation config may hold, generate warns on every batch.
                generated = model.generate(
                    **inputs,
                    max_length=prompt_length + max_new_tokens,
                    max_new_tokens=None,
                    do_sample=False,
                    num_beams=1,
                    pad_token_id=tokenizer.pad_token_id,
                )
                decoded = tokenizer.batch_decode(generated[:, prompt_length:], skip_special_tokens=True)
                for index, text in zip(indices, decoded, strict=True):
                    texts[index] = text
                if progress is not None:
                    progress.update(len(indices))
        return texts
