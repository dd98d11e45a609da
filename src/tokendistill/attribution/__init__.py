"""Gradient attribution of a teacher's output to its input words (either model family), and rationales.

The names below load on first use, so the torch-free parts (``tokendistill.attribution.options``, which the
experiment config reads) import without torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokendistill.attribution.engine import attribute
    from tokendistill.attribution.methods import METHODS
    from tokendistill.attribution.rationale import (
        candidate_words,
        random_rationale,
        rationale_text,
        select_rationale,
    )
    from tokendistill.attribution.result import SequenceAttribution
    from tokendistill.attribution.words import Word, WordScore, split_words

_SOURCES = {
    "METHODS": "methods",
    "SequenceAttribution": "result",
    "Word": "words",
    "WordScore": "words",
    "attribute": "engine",
    "candidate_words": "rationale",
    "random_rationale": "rationale",
    "rationale_text": "rationale",
    "select_rationale": "rationale",
    "split_words": "words",
}

__all__ = [
    "METHODS",
    "SequenceAttribution",
    "Word",
    "WordScore",
    "attribute",
    "candidate_words",
    "random_rationale",
    "rationale_text",
    "select_rationale",
    "split_words",
]


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_SOURCES[name]}"), name)
    globals()[name] = value
    return value
