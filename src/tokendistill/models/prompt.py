"""The prompt a model reads for a source text: the text itself, or the text as a user message in the
tokenizer's chat template.

Training rows, greedy generation (evaluation, model selection, attribution's own predictions) and attribution
all tokenize sources here, so a model conditions on the same prompt everywhere. With ``chat_template=True``
the text becomes ``tokenizer.apply_chat_template([{"role": "user", "content": text}],
add_generation_prompt=True, tokenize=False)``, tokenized without adding special tokens (the template writes
its own, as ``apply_chat_template(tokenize=True)`` does). The template's tokens are inputs like any other,
but they are not the source: ``EncodedSource.text_mask`` marks the tokens that cover the source text, and
their offsets are given in the source text's own characters. Attribution scores only those tokens, so a
template's words never become rationale words.

The source's place inside the rendered prompt is found exactly, not searched for: the template is rendered
once with a marker as the message, which splits the prompt into the text before and after the message; the
prompt for a text must then be ``before + text + after`` (templates that ``trim`` the message, as Llama 3's
does, give ``before + text.strip() + after``), or the template rewrites messages and is refused.
Truncation to ``max_length`` shortens the source's tokens only, so the template (and its generation prompt,
which the model's answer follows) is always whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

Span = tuple[int, int]

# Rendered as the message to find where a template puts it; no template writes this itself.
_MARKER = "\ue000tokendistill-source\ue001"


@dataclass(frozen=True)
class EncodedSource:
    """One source's prompt tokens.

    ``offsets`` are character spans of the source text (``(0, 0)`` for tokens outside it: special tokens,
    the chat template's); ``text_mask`` is true for the tokens covering the source text, one contiguous run
    (all tokens without a chat template); ``special_tokens_mask`` is the tokenizer's.
    """

    input_ids: list[int]
    offsets: list[Span]
    text_mask: list[bool]
    special_tokens_mask: list[int]


def _user_message(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def render_chat_prompts(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]) -> list[str]:
    """Each text as a user message in ``tokenizer``'s chat template, followed by the generation prompt."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(
            f"{type(tokenizer).__name__} has no chat template (tokenizer.chat_template is not set); "
            "turn the chat template option off for this model, or give its tokenizer a template"
        )
    if not texts:
        return []
    return tokenizer.apply_chat_template(
        [_user_message(text) for text in texts], add_generation_prompt=True, tokenize=False
    )


def chat_source_spans(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]
) -> list[tuple[str, Span, int]]:
    """``(prompt, span, shift)`` per text: the rendered prompt, the characters of the prompt that hold
    the text, and how far right of its place in the text each of them is (``prompt[i] == text[i - shift]``
    for ``i`` in the span)."""
    prompts = render_chat_prompts(tokenizer, texts)
    (marked,) = render_chat_prompts(tokenizer, [_MARKER])
    if marked.count(_MARKER) != 1:
        raise ValueError(
            "the chat template changes the user message (or writes it other than once), so the source "
            "cannot be found in the prompt exactly"
        )
    before, _, after = marked.partition(_MARKER)
    spans = []
    for text, prompt in zip(texts, prompts, strict=True):
        written = text if prompt == before + text + after else text.strip()
        if prompt != before + written + after:
            raise ValueError(
                "the chat template changes the user message's text (more than trimming it), so the source "
                f"cannot be found in the prompt exactly: {text[:60]!r}"
            )
        lead = text.index(written) if written else 0
        spans.append((prompt, (len(before), len(before) + len(written)), len(before) - lead))
    return spans


def encode_sources(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    *,
    max_length: int | None = None,
    chat_template: bool = False,
) -> list[EncodedSource]:
    """The prompt tokens of each text, truncated to ``max_length`` tokens (``None``: the tokenizer's
    ``model_max_length``). Needs a fast tokenizer (for character offsets)."""
    if not tokenizer.is_fast:
        raise ValueError(f"{type(tokenizer).__name__} is a slow tokenizer; source offsets need a fast one")
    texts = list(texts)
    if not chat_template:
        encoded = tokenizer(
            texts,
            truncation=True,
            max_length=max_length,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
        )
        return [
            EncodedSource(ids, [tuple(span) for span in offsets], [True] * len(ids), list(special))
            for ids, offsets, special in zip(
                encoded["input_ids"], encoded["offset_mapping"], encoded["special_tokens_mask"], strict=True
            )
        ]
    limit = tokenizer.model_max_length if max_length is None else max_length
    placed = chat_source_spans(tokenizer, texts)
    encoded = tokenizer(
        [prompt for prompt, _, _ in placed],
        add_special_tokens=False,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
    )
    return [
        _truncated(_locate(ids, offsets, special, span, shift), limit)
        for ids, offsets, special, (_, span, shift) in zip(
            encoded["input_ids"],
            encoded["offset_mapping"],
            encoded["special_tokens_mask"],
            placed,
            strict=True,
        )
    ]


def _locate(
    ids: list[int], offsets: Sequence[Sequence[int]], special: list[int], span: Span, shift: int
) -> EncodedSource:
    """Mark the run of tokens that overlap ``span`` as the text's and move their offsets into it."""
    start, end = span
    overlapping = [index for index, (first, last) in enumerate(offsets) if max(first, start) < min(last, end)]
    text_mask = [False] * len(ids)
    text_offsets: list[Span] = [(0, 0)] * len(ids)
    if overlapping:
        for index in range(overlapping[0], overlapping[-1] + 1):
            first, last = offsets[index]
            text_mask[index] = True
            clipped = (min(max(first, start), end), max(min(last, end), start))
            text_offsets[index] = (clipped[0] - shift, clipped[1] - shift)
    return EncodedSource(list(ids), text_offsets, text_mask, list(special))


def _truncated(source: EncodedSource, limit: int) -> EncodedSource:
    """``source`` cut to ``limit`` tokens by dropping the text's last tokens; the template stays whole."""
    excess = len(source.input_ids) - limit
    if excess <= 0:
        return source
    text = [index for index, inside in enumerate(source.text_mask) if inside]
    if len(text) <= excess:
        raise ValueError(
            f"the chat template alone takes {len(source.input_ids) - len(text)} tokens, which leaves no room "
            f"for the source within {limit}; raise the input length limit"
        )
    cut = slice(text[-1] + 1 - excess, text[-1] + 1)

    def keep(values: list) -> list:
        return values[: cut.start] + values[cut.stop :]

    return EncodedSource(
        keep(source.input_ids), keep(source.offsets), keep(source.text_mask), keep(source.special_tokens_mask)
    )


def source_ids(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    *,
    max_length: int | None = None,
    chat_template: bool = False,
) -> list[list[int]]:
    """Only the prompt ids of ``encode_sources``; without a chat template exactly
    ``tokenizer(texts, truncation=True, max_length=max_length).input_ids`` (any tokenizer, slow ones too)."""
    if not chat_template:
        return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    return [
        encoded.input_ids
        for encoded in encode_sources(tokenizer, texts, max_length=max_length, chat_template=True)
    ]
