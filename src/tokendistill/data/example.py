"""The unit every pipeline stage passes around: one example, with its template words kept apart."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Span = tuple[int, int]


@dataclass(frozen=True)
class Segment:
    """A run of source text that is either the example's own words or template words added by the task.

    Template words (``"Answer Choices:"``, ``"(a)"``, separators) are never rationale candidates, so they
    are kept as separate segments instead of being baked into one string.
    """

    text: str
    is_template: bool = False


@dataclass(frozen=True)
class Example:
    """One task example as the models see it.

    ``evidence_spans`` are character spans of ``source`` that hold the ground-truth answer (CQA: the correct
    choice's words; SVAMP: the equation's numbers; synthetic tasks: the deciding words). Empty when the
    answer is not in the input (NLI). They drive the paper's "top-k contains the answer" analysis.
    """

    id: str
    segments: tuple[Segment, ...]
    target: str
    evidence_spans: tuple[Span, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def source(self) -> str:
        return "".join(segment.text for segment in self.segments)

    def template_spans(self) -> tuple[Span, ...]:
        """Character spans of ``source`` covered by template segments."""
        spans, start = [], 0
        for segment in self.segments:
            end = start + len(segment.text)
            if segment.is_template and end > start:
                spans.append((start, end))
            start = end
        return tuple(spans)

    def evidence_text(self) -> list[str]:
        return [self.source[start:end] for start, end in self.evidence_spans]


def own(text: str) -> Segment:
    """A segment of the example's own words."""
    return Segment(text, is_template=False)


def template(text: str) -> Segment:
    """A segment of template words."""
    return Segment(text, is_template=True)
