"""``attribute``: which source tokens and words a model's output depends on, many examples at once."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from tokendistill.attribution.methods import METHODS, AttributionBatch, AttributionMethod
from tokendistill.attribution.options import METHOD_OPTIONS
from tokendistill.attribution.result import SequenceAttribution
from tokendistill.attribution.words import WORD_AGGREGATIONS, WordAggregation, aggregate_word_scores
from tokendistill.models import Batch, EncodedSource, ModelFamily, encode_sources, family_of


@contextmanager
def _attribution_mode(model: PreTrainedModel) -> Iterator[None]:
    """Eval mode (no dropout) and no parameter gradients (only the input embeddings are differentiated,
    which saves the weight-gradient work and the activations kept for it); the model is restored after."""
    was_training = model.training
    requires_grad = [parameter.requires_grad for parameter in model.parameters()]
    model.eval()
    model.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in zip(model.parameters(), requires_grad, strict=True):
            parameter.requires_grad_(flag)
        model.train(was_training)


def _embedding_device(model: PreTrainedModel) -> torch.device:
    return model.get_input_embeddings().weight.device


def _collate(
    model: PreTrainedModel,
    family: ModelFamily,
    sources: Sequence[Sequence[int]],
    targets: Sequence[Sequence[int]],
    pad_token_id: int,
) -> Batch:
    device = _embedding_device(model)
    return {
        name: value.to(device)
        for name, value in family.collate(sources, targets, pad_token_id, model).items()
    }


def _check_embedding_contract(model: PreTrainedModel, family: ModelFamily, batch: Batch) -> None:
    """Refuse models that treat ``inputs_embeds`` differently from ``input_ids``.

    Some architectures (e.g. Pegasus, Marian) multiply the token embeddings by sqrt(d_model) inside the
    encoder only when given ids; gradients w.r.t. ``get_input_embeddings()`` outputs fed as ``inputs_embeds``
    would then explain a different computation than the model's. T5, BART (transformers 5 scales inside its
    embedding module), Llama and GPT-2 pass. One forward pass each way on one example decides.
    """
    with torch.no_grad():
        from_ids = family.source_states(model, batch).float()
        embeddings = model.get_input_embeddings()(batch["input_ids"])
        from_embeddings = family.source_states(model, batch, embeddings).float()
    scale = from_ids.abs().max().clamp_min(1e-6)
    if not torch.allclose(from_ids, from_embeddings, rtol=1e-3, atol=1e-3 * float(scale)):
        raise ValueError(
            f"{type(model).__name__}: the output for inputs_embeds=get_input_embeddings()(input_ids) differs "
            "from the output for input_ids (the model probably rescales embeddings given as ids), "
            "so input-embedding gradients would not explain this model"
        )


def _build_method(name: str, options: dict[str, object]) -> AttributionMethod:
    """The method ``name`` with ``options`` (its ``METHOD_OPTIONS`` declaration), naming any option it does
    not take and any value outside the declared bounds."""
    options_class = METHOD_OPTIONS[name]
    accepted = [field.name for field in dataclasses.fields(options_class)]
    for option in options:
        if option not in accepted:
            raise ValueError(
                f"method {name!r} takes no option {option!r}; its options: {', '.join(accepted) or 'none'}"
            )
    return METHODS[name](options_class(**options))


def _length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Example indices grouped longest first, so batches hold similar lengths (little padding) and the
    largest batch, the one that could run out of memory, comes first."""
    order = sorted(range(len(lengths)), key=lambda index: -lengths[index])
    return [order[first : first + batch_size] for first in range(0, len(order), batch_size)]


def _check_inputs(
    tokenizer: PreTrainedTokenizerBase,
    n_sources: int,
    targets: Sequence[str] | None,
    batch_size: int,
    word_aggregation: str,
) -> None:
    if word_aggregation not in WORD_AGGREGATIONS:
        raise ValueError(f"unknown word aggregation {word_aggregation!r}; use one of {WORD_AGGREGATIONS}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not tokenizer.is_fast:
        raise ValueError(
            f"{type(tokenizer).__name__} is a slow tokenizer; attribution needs a fast one "
            "(for character offsets)"
        )
    if targets is not None and len(targets) != n_sources:
        raise ValueError(f"{n_sources} sources but {len(targets)} targets")


def _check_nonempty(token_ids: Sequence[Sequence[int]], what: str) -> None:
    """Refuse texts that tokenize to nothing (an empty target would have no loss to differentiate)."""
    for index, ids in enumerate(token_ids):
        if not ids:
            raise ValueError(f"{what}[{index}] tokenizes to no tokens")


def _text_positions(prompt_mask: torch.Tensor, text_masks: Sequence[Sequence[bool]]) -> torch.Tensor:
    """``prompt_mask`` (the family's source positions, whatever the padding) narrowed to the positions of
    each row's source-text tokens: the row's ``i``-th prompt position is its prompt's ``i``-th token."""
    if all(all(mask) for mask in text_masks):
        return prompt_mask
    narrowed = prompt_mask.clone()
    for row, mask in enumerate(text_masks):
        positions = prompt_mask[row].nonzero().flatten()
        if len(positions) != len(mask):
            raise AssertionError(f"{len(positions)} source positions for a prompt of {len(mask)} tokens")
        keep = torch.tensor(mask, dtype=torch.bool, device=positions.device)
        narrowed[row, positions[~keep]] = False
    return narrowed


class _BatchScores(NamedTuple):
    """Per-example results of the attribution passes, in input order."""

    token_scores: list[np.ndarray]
    signed: list[np.ndarray | None]
    convergence_deltas: list[float | None]


def _score_batches(
    model: PreTrainedModel,
    family: ModelFamily,
    attribution_method: AttributionMethod,
    token_ids: Sequence[Sequence[int]],
    text_masks: Sequence[Sequence[bool]],
    label_ids: Sequence[Sequence[int]],
    batches: list[list[int]],
    pad_token_id: int,
    progress: tqdm,
) -> _BatchScores:
    """Run ``attribution_method`` over ``batches`` and keep each example's scores at its source positions.

    ``text_masks`` mark, per example, the prompt tokens that are the source text's: the others (a chat
    template's) are inputs held fixed, like a decoder-only model's target, and get no score. Results move
    to the CPU once per batch (no per-example device syncs)."""
    n_examples = len(token_ids)
    results = _BatchScores(
        [np.empty(0, dtype=np.float32)] * n_examples, [None] * n_examples, [None] * n_examples
    )
    for indices in batches:
        inputs = _collate(
            model, family, [token_ids[i] for i in indices], [label_ids[i] for i in indices], pad_token_id
        )
        with torch.no_grad():
            embeddings = model.get_input_embeddings()(inputs["input_ids"])
        source_mask = _text_positions(family.source_mask(inputs), [text_masks[i] for i in indices])
        batch = AttributionBatch(
            model=model,
            family=family,
            inputs=inputs,
            embeddings=embeddings,
            source_mask=source_mask,
            pad_token_id=pad_token_id,
        )
        scores, signed, delta = attribution_method(batch)
        source_mask = source_mask.cpu().numpy()
        scores = scores.float().cpu().numpy()
        signed = None if signed is None else signed.float().cpu().numpy()
        delta = None if delta is None else delta.tolist()
        for row, index in enumerate(indices):
            positions = source_mask[row]
            results.token_scores[index] = scores[row, positions]
            results.signed[index] = None if signed is None else signed[row, positions]
            results.convergence_deltas[index] = None if delta is None else delta[row]
        progress.update(len(indices))
    return results


def attribute(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    sources: Sequence[str],
    targets: Sequence[str] | None = None,
    *,
    method: str = "saliency",
    batch_size: int = 16,
    word_aggregation: WordAggregation = "sum",
    max_new_tokens: int = 64,
    show_progress: bool = False,
    max_source_length: int | None = None,
    max_target_length: int | None = None,
    chat_template: bool = False,
    **method_options: object,
) -> list[SequenceAttribution]:
    """Attribute each target to its source's tokens and words with ``method`` (a key of ``METHODS``).

    Works for both families (``tokendistill.models``): a decoder-only model conditions on the source's
    tokens followed by the target's, and only the source tokens are scored; its tokenizer gets a pad token
    if it has none (``ModelFamily.prepare_tokenizer``). ``targets=None`` explains the model's own greedy
    continuation (``max_new_tokens`` at most), decoded with ``skip_special_tokens=True`` and then tokenized
    again like a gold target, so the explained token sequence is the canonical tokenization of that text.
    Sources are truncated to ``max_source_length`` tokens and targets to ``max_target_length`` (default:
    the tokenizer's ``model_max_length``). Examples are batched by length and returned in input order;
    ``method_options`` go to the method (e.g. ``n_steps``, ``baseline`` and ``internal_batch_size`` for
    integrated gradients, declared in ``tokendistill.attribution.options``); left out, they keep their
    declared defaults.
    ``chat_template=True`` wraps each source as a user message in the tokenizer's chat template
    (``tokendistill.models.prompt``): the model conditions on (and generates after) the templated prompt,
    but only the tokens of the source text are scored, so ``token_ids``, ``token_offsets`` and the scores
    cover the source text alone and no template token reaches a word.
    The model is used in eval mode and left as it was.
    """
    if method not in METHODS:
        raise ValueError(f"unknown attribution method {method!r}; known: {', '.join(METHODS)}")
    attribution_method = _build_method(method, method_options)
    _check_inputs(tokenizer, len(sources), targets, batch_size, word_aggregation)
    family = family_of(model)
    family.prepare_tokenizer(tokenizer)
    sources = list(sources)
    if not sources:
        return []
    encoded = encode_sources(tokenizer, sources, max_length=max_source_length, chat_template=chat_template)
    token_ids = [prompt.input_ids for prompt in encoded]
    _check_nonempty(token_ids, "sources")
    batches = _length_sorted_batches([len(ids) for ids in token_ids], batch_size)

    with _attribution_mode(model):
        if targets is None:
            with tqdm(
                total=len(sources), unit="ex", desc="generating targets", disable=not show_progress
            ) as bar:
                targets = family.generate(
                    model,
                    tokenizer,
                    token_ids,
                    batch_size=batch_size,
                    max_new_tokens=max_new_tokens,
                    progress=bar,
                )
        targets = list(targets)
        label_ids = family.encode_targets(tokenizer, targets, max_target_length)
        _check_nonempty(label_ids, "targets")
        longest = batches[0][0]
        _check_embedding_contract(
            model,
            family,
            _collate(model, family, [token_ids[longest]], [label_ids[longest]], tokenizer.pad_token_id),
        )
        with (
            torch.enable_grad(),
            tqdm(total=len(sources), unit="ex", desc=method, disable=not show_progress) as progress,
        ):
            scored = _score_batches(
                model,
                family,
                attribution_method,
                token_ids,
                [prompt.text_mask for prompt in encoded],
                label_ids,
                batches,
                tokenizer.pad_token_id,
                progress,
            )

    return [
        _sequence_attribution(source, targets[index], method, encoded[index], scored, index, word_aggregation)
        for index, source in enumerate(sources)
    ]


def _sequence_attribution(
    source: str,
    target: str,
    method: str,
    prompt: EncodedSource,
    scored: _BatchScores,
    index: int,
    word_aggregation: WordAggregation,
) -> SequenceAttribution:
    """One example's result, over the tokens of its source text (scores come for exactly those)."""
    text = [position for position, inside in enumerate(prompt.text_mask) if inside]
    offsets = [prompt.offsets[position] for position in text]
    special = [prompt.special_tokens_mask[position] for position in text]
    return SequenceAttribution(
        source=source,
        target=target,
        method=method,
        token_ids=[prompt.input_ids[position] for position in text],
        token_offsets=offsets,
        token_scores=scored.token_scores[index],
        signed_token_scores=scored.signed[index],
        words=aggregate_word_scores(source, offsets, scored.token_scores[index], special, word_aggregation),
        convergence_delta=scored.convergence_deltas[index],
    )
