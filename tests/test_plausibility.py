"""Plausibility of rationales against human explanations: hand-worked scores, edge cases, e-SNLI data."""

from __future__ import annotations

import gzip
import itertools
import json
import math
import random

import pytest

from tokendistill.attribution import candidate_words, random_rationale
from tokendistill.attribution.plausibility import (
    Plausibility,
    mean_plausibility,
    plausibility,
    reference_words,
)
from tokendistill.attribution.records import RationaleRecord, write_rationale_file
from tokendistill.attribution.words import WordScore, split_words
from tokendistill.data.example import Example, own, template
from tokendistill.data.tasks import get_task
from tokendistill.report.plausibility import rationale_plausibility


def _scores(result: Plausibility) -> tuple[float, float, float]:
    return result.precision, result.recall, result.f1


def test_hand_worked_example():
    # Reference: "A man playing a guitar is making music." minus the stopwords a, is
    #   = {man, playing, guitar, making, music} (5). Rationale {man, guitar, stage, a, plays} (5).
    # Hits: man, guitar (2). P = 2/5, R = 2/5, F1 = 0.4.
    result = plausibility(
        ["man", "guitar", "stage", "a", "plays"], ["A man playing a guitar is making music."]
    )
    assert _scores(result) == pytest.approx((0.4, 0.4, 0.4))
    assert (result.rationale_words, result.reference_words) == (5, 5)


def test_explanations_are_pooled():
    # References {dog, running} and {dog, runs, grass} pool to {dog, running, runs, grass} (4).
    # Rationale {dog, runs, grass}: 3 hits. P = 3/3, R = 3/4, F1 = 2 * 0.75 / 1.75 = 6/7.
    result = plausibility(["dog", "runs", "grass"], ["The dog is running.", "A dog runs on grass."])
    assert _scores(result) == pytest.approx((1.0, 0.75, 6 / 7))
    assert result.reference_words == 4


def test_case_and_possessives_are_ignored():
    # Reference {man, hat, red}; rationale {man, hat}. P = 1, R = 2/3, F1 = 2 * (2/3) / (5/3) = 0.8.
    result = plausibility(["Man's", "HAT"], "The MAN’S hat is red.")
    assert _scores(result) == pytest.approx((1.0, 2 / 3, 0.8))


def test_template_words_leave_the_reference_and_rationale_stopwords_are_misses():
    # "Just because a man is outside does not mean he is hiking.": stopwords just, because, a, is, does,
    # not, he; template word mean. Reference {man, outside, hiking}. Rationale {mean, outside}: 1 hit.
    # P = 1/2, R = 1/3, F1 = 2 * (1/6) / (5/6) = 0.4.
    explanation = "Just because a man is outside does not mean he is hiking."
    assert reference_words(explanation) == {"man", "outside", "hiking"}
    assert _scores(plausibility(["mean", "outside"], explanation)) == pytest.approx((0.5, 1 / 3, 0.4))
    # A stopword the rationale holds counts against precision: {the, dog} vs {dog, sleeps}.
    assert _scores(plausibility(["the", "dog"], "The dog sleeps.")) == pytest.approx((0.5, 0.5, 0.5))
    # Stopwords are a parameter: without any, "the" is in the reference too.
    assert _scores(plausibility(["the", "dog"], "The dog sleeps.", stopwords=())) == pytest.approx(
        (1, 2 / 3, 0.8)
    )


def test_words_are_split_like_rationale_words():
    # split_words keeps hyphenated words whole and drops punctuation; a rationale may be given as a text.
    assert reference_words("The to-go packages, today!") == {"to-go", "packages", "today"}
    assert _scores(plausibility("to-go packages", "The to-go packages.")) == pytest.approx((1.0, 1.0, 1.0))


def test_source_restricts_the_reference_to_reachable_words():
    # {guitar, makes, music} ∩ words of the source = {guitar}: R = 1 instead of 1/3.
    explanation, source = "A guitar makes music.", "A man plays a guitar."
    assert plausibility(["guitar"], explanation).recall == pytest.approx(1 / 3)
    assert _scores(plausibility(["guitar"], explanation, source=source)) == pytest.approx((1.0, 1.0, 1.0))


def test_edge_cases():
    assert _scores(plausibility([], "The dog sleeps.")) == (0.0, 0.0, 0.0)
    assert _scores(plausibility(["cat"], "The dog sleeps.")) == (0.0, 0.0, 0.0)
    for explanations in (["It is not."], [], [""]):
        result = plausibility(["dog"], explanations)
        assert all(math.isnan(value) for value in _scores(result)) and result.reference_words == 0


def test_mean_is_a_macro_average_over_examples_with_a_reference():
    first = plausibility(["man", "guitar", "stage", "a", "plays"], "A man playing a guitar is making music.")
    second = plausibility(["dog", "runs", "grass"], ["The dog is running.", "A dog runs on grass."])
    empty = plausibility(["dog"], "It is.")
    summary = mean_plausibility([first, second, empty])
    # P = (0.4 + 1) / 2, R = (0.4 + 0.75) / 2, F1 = (0.4 + 6/7) / 2.
    assert (summary.precision, summary.recall, summary.f1) == pytest.approx((0.7, 0.575, (0.4 + 6 / 7) / 2))
    assert (summary.examples, summary.skipped) == (2, 1)
    assert math.isnan(mean_plausibility([empty]).f1) and mean_plausibility([]).examples == 0


def test_esnli_random_words_are_far_from_the_explanations(shared_data):
    """On real e-SNLI validation rows: 5 random input words match the explanations poorly, while an
    explanation's own content words recall it fully."""
    examples = get_task("esnli").load("validation", shared_data)[:500]
    with gzip.open(shared_data / "esnli" / "valid.jsonl.gz", "rt") as rows:
        explanations = [
            [row[f"explanation_{i}"] for i in (1, 2, 3)]
            for row, _ in zip(map(json.loads, rows), range(500), strict=False)
        ]
    rng = random.Random(0)
    chance, own = [], []
    for example, texts in zip(examples, explanations, strict=True):
        words = random_rationale(example.source, 5, rng, excluded_spans=example.template_spans())
        chance.append(plausibility([word.text for word in words], texts))
        own.append(plausibility(sorted(reference_words(texts[0])), texts[0]))
    random_summary, own_summary = mean_plausibility(chance), mean_plausibility(own)
    assert random_summary.examples > 450
    assert 0.05 < random_summary.f1 < 0.6
    assert (own_summary.precision, own_summary.recall, own_summary.f1) == (1.0, 1.0, 1.0)


def test_a_rationale_files_plausibility_against_explanations_and_random_words(tmp_path):
    """Hand-worked: premise "A dog chases a red ball", hypothesis "An animal plays"; the explanation's content
    words are {dog, chases, ball, plays}. The rationale {dog, red} hits one of its two words (P 1/2) and one
    of four reference words (R 1/4): F1 = 1/3. Random pairs of the 9 candidate words score the mean precision
    over all 36 pairs (words compared lowercased, as sets: "A" and "a" are one word)."""
    example = Example(
        "e1",
        (own("A dog chases a red ball"), template("</s>"), own("An animal plays")),
        "entailment",
        meta={"explanations": ["The dog chases a ball, so it plays."]},
    )
    unexplained = Example("e2", (own("Cats sleep"),), "neutral")  # no explanations: left out
    scores = {"dog": 3.0, "red": 2.0}
    words = tuple(
        WordScore(word.text, word.start, word.end, scores.get(word.text, 0.1))
        for word in candidate_words(example.source, example.template_spans())
    )
    cats = tuple(WordScore(w.text, w.start, w.end, 1.0) for w in split_words("Cats sleep"))
    records = [
        RationaleRecord("e1", "entailment", "saliency", 2, words, "dog red"),
        RationaleRecord("e2", "neutral", "saliency", 2, cats, "Cats sleep"),
    ]
    path = write_rationale_file(tmp_path / "train.jsonl", records)
    result = rationale_plausibility(path, [example, unexplained], draws=4000, seed=0)
    assert (result.rationales.examples, result.rationales.skipped) == (1, 0)
    assert _summary(result.rationales) == pytest.approx((1 / 2, 1 / 4, 1 / 3))
    reference = {"dog", "chases", "ball", "plays"}
    candidates = ["a", "dog", "chases", "a", "red", "ball", "an", "animal", "plays"]
    pairs = [{x, y} for x, y in itertools.combinations(candidates, 2)]
    expected = sum(len(pair & reference) / len(pair) for pair in pairs) / len(pairs)
    assert result.random_words.precision == pytest.approx(expected, abs=0.015)
    assert rationale_plausibility(path, [unexplained, Example("e1", example.segments, "entailment")]) is None


def _summary(summary) -> tuple[float, float, float]:
    return summary.precision, summary.recall, summary.f1
