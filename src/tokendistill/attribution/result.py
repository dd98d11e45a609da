"""What the attribution engine returns for one example."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tokendistill.attribution.words import WordScore


@dataclass
class SequenceAttribution:
    """The scores of one source's tokens and words for explaining ``target``.

    ``token_ids`` equal ``tokenizer(source).input_ids`` (special tokens included, truncated like the engine
    truncates) and ``token_scores``/``signed_token_scores`` are aligned with them one-to-one. With a chat
    template they are the prompt's tokens that cover the source text (the template's are left out), and
    ``token_offsets`` are always character spans of ``source``.
    ``signed_token_scores`` is set by methods whose attributions have a sign (``input_x_gradient``,
    ``integrated_gradients``); ``token_scores`` is always non-negative. ``words`` lists every word of the
    source, template and punctuation included, in input order. ``convergence_delta`` (integrated gradients
    only) is ``sum(signed_token_scores) - (-L(input) + L(baseline))``: completeness says it is 0, so a
    large value means ``n_steps`` is too small for this model and baseline.
    """

    source: str
    target: str
    method: str
    token_ids: list[int]
    token_offsets: list[tuple[int, int]]
    token_scores: np.ndarray
    signed_token_scores: np.ndarray | None
    words: list[WordScore]
    convergence_delta: float | None = None
