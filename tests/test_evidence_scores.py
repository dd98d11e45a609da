"""The evidence metric (``attribution.evidence``) on hand-worked examples, and the report's and benchmarks'
evidence tables, which both score with it, on the same rationale file.

Every expected number below is worked out by hand from the texts, never by the code under test.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

from tokendistill.attribution.evidence import (
    EvidenceScore,
    evidence_score,
    evidence_words,
    mean_evidence,
    random_hit_probability,
)
from tokendistill.attribution.records import RationaleRecord, write_rationale_file
from tokendistill.attribution.words import Word, WordScore, split_words
from tokendistill.data.example import Example, own, template
from tokendistill.report.analysis import evidence_overlap

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from benchlib import evidence_at_k

# Own words (characters 0-43): Ann gave Bob 5 red apples and 3 green pears .
# Template (characters 44-60):  How many apples ?
APPLES = Example(
    "apples",
    (own("Ann gave Bob 5 red apples and 3 green pears."), template(" How many apples?")),
    "2",
    # The space before "Bob" (touches the word, does not overlap it), "5", the "les" of "apples", "3", and
    # the template's "apples" (template words are never candidates).
    ((8, 9), (13, 14), (22, 25), (30, 31), (54, 60)),
)
# Candidates: Ann gave Bob 5 red apples and 3 green pears (n = 10); evidence words: 5 apples 3 (m = 3).
APPLES_SCORES = {"Bob": 0.9, "5": 0.8, "red": 0.7, "apples": 0.6, "3": 0.3, "green": 0.25, "pears": 0.15}
# Punctuation and template words score highest and are never chosen: top-4 = Bob 5 red apples, top-1 = Bob.
APPLES_SCORES |= {".": 5.0, "How": 9.0, "many": 8.0, "?": 6.0}

# Candidates: The cat sat on the mat (n = 6); its only evidence is the template's "Where" (m = 0).
CAT = Example("cat", (own("The cat sat on the mat."), template(" Where?")), "mat", ((24, 29),))
CAT_SCORES = {"cat": 0.9, "mat": 0.8}

DOG = Example("dog", (own("A dog runs."),), "yes")  # no evidence spans (NLI): left out of every table
DOG_SCORES = {"dog": 1.0}


def test_the_hand_worked_spans_are_the_intended_characters():
    source = APPLES.source
    assert [source[start:end] for start, end in APPLES.evidence_spans] == [" ", "5", "les", "3", "apples"]
    assert APPLES.template_spans() == ((44, 61),)
    assert CAT.source[24:29] == "Where" and CAT.template_spans() == ((23, 30),)


def _words(example: Example, *texts: str) -> list[Word]:
    """The words of ``example`` with these texts (the first occurrence of each)."""
    words = split_words(example.source)
    return [next(word for word in words if word.text == text) for text in texts]


def test_evidence_words_are_candidates_overlapping_an_evidence_span():
    assert [word.text for word in evidence_words(APPLES)] == ["5", "apples", "3"]
    assert evidence_words(CAT) == [] and evidence_words(DOG) == []


def test_evidence_score_of_a_top_4_rationale():
    score = evidence_score(APPLES, _words(APPLES, "Bob", "5", "red", "apples"), 4)
    assert score == EvidenceScore(k=4, candidates=10, evidence=3, chosen=4, found=2)
    assert score.hit is True
    assert score.precision == pytest.approx(2 / 4)
    assert score.recall == pytest.approx(2 / 3)
    assert score.precision_chance == pytest.approx(3 / 10)  # m / n
    assert score.recall_chance == pytest.approx(4 / 10)  # k / n
    # 1 - C(7, 4) / C(10, 4) = 1 - 35 / 210
    assert score.hit_chance == pytest.approx(5 / 6)


def test_evidence_score_of_a_miss_and_of_an_example_without_evidence_words():
    miss = evidence_score(APPLES, _words(APPLES, "Bob"), 1)
    assert miss == EvidenceScore(k=1, candidates=10, evidence=3, chosen=1, found=0)
    assert miss.hit is False and miss.precision == 0 and miss.recall == 0
    assert miss.recall_chance == pytest.approx(1 / 10)
    assert miss.hit_chance == pytest.approx(3 / 10)  # 1 - C(7, 1) / C(10, 1)
    none = evidence_score(CAT, _words(CAT, "cat", "mat"), 2)
    assert none == EvidenceScore(k=2, candidates=6, evidence=0, chosen=2, found=0)
    assert none.hit is False and none.hit_chance == 0.0  # 1 - C(6, 2) / C(6, 2)
    with pytest.raises(ZeroDivisionError):
        _ = none.recall


def test_mean_evidence_averages_each_metric():
    scores = [
        EvidenceScore(k=4, candidates=10, evidence=3, chosen=4, found=2),
        EvidenceScore(k=1, candidates=10, evidence=3, chosen=1, found=0),
    ]
    assert mean_evidence(scores) == pytest.approx(
        {
            "precision": (1 / 2 + 0) / 2,
            "recall": (2 / 3 + 0) / 2,
            "hit": (1 + 0) / 2,
            "precision_chance": 3 / 10,
            "recall_chance": (4 / 10 + 1 / 10) / 2,
            "hit_chance": (5 / 6 + 3 / 10) / 2,
        }
    )
    assert list(mean_evidence(scores)) == [
        "precision", "recall", "hit", "precision_chance", "recall_chance", "hit_chance",
    ]  # fmt: skip
    assert mean_evidence(scores, ("hit",)) == {"hit": 0.5}
    with pytest.raises(ValueError, match="no evidence scores"):
        mean_evidence([])


@pytest.mark.parametrize(("n", "m", "k"), [(6, 2, 3), (5, 1, 5), (7, 0, 2), (4, 3, 6), (8, 3, 1)])
def test_chance_level_matches_enumerating_every_draw(n, m, k):
    draws = list(itertools.combinations(range(n), min(k, n)))
    hitting = sum(any(index < m for index in draw) for draw in draws)
    assert random_hit_probability(n, m, k) == pytest.approx(hitting / len(draws))


def _record(example: Example, scores: dict[str, float], k: int, rationale: str) -> RationaleRecord:
    words = tuple(
        WordScore(word.text, word.start, word.end, scores.get(word.text, 0.0))
        for word in split_words(example.source)
    )
    return RationaleRecord(example.id, example.target, "saliency", k, words, rationale)


@pytest.fixture
def rationale_file(tmp_path):
    return write_rationale_file(
        tmp_path / "rationales.jsonl",
        [
            _record(APPLES, APPLES_SCORES, 4, "Bob 5 red apples"),
            _record(CAT, CAT_SCORES, 2, "cat mat"),
            _record(DOG, DOG_SCORES, 1, "dog"),
        ],
    )


def test_the_reports_evidence_overlap_counts_examples_with_evidence_spans(rationale_file):
    overlap = evidence_overlap(rationale_file, [APPLES, CAT, DOG])
    # APPLES (hit, chance 5/6) and CAT (evidence only in the template: miss, chance 0); DOG left out.
    assert (overlap.examples, overlap.hits) == (2, 1)
    assert overlap.share == 0.5
    assert overlap.chance == pytest.approx((5 / 6 + 0) / 2)


def test_the_benchmarks_evidence_table_counts_examples_with_evidence_words(rationale_file):
    table = evidence_at_k(rationale_file, [APPLES, CAT, DOG], [4, 1])
    # Only APPLES has an evidence word among its candidates; its top-4 and top-1 are scored as above.
    assert table[4] == pytest.approx(
        {
            "precision": 1 / 2,
            "recall": 2 / 3,
            "hit": 1.0,
            "precision_chance": 3 / 10,
            "recall_chance": 4 / 10,
            "hit_chance": 5 / 6,
            "examples": 1,
        }
    )
    assert table[1] == pytest.approx(
        {
            "precision": 0.0,
            "recall": 0.0,
            "hit": 0.0,
            "precision_chance": 3 / 10,
            "recall_chance": 1 / 10,
            "hit_chance": 3 / 10,
            "examples": 1,
        }
    )
