"""Words, token-to-word aggregation and rationale selection on hand-worked examples."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tokendistill.attribution import (
    Word,
    WordScore,
    candidate_words,
    random_rationale,
    rationale_text,
    select_rationale,
    split_words,
)
from tokendistill.attribution.words import aggregate_word_scores
from tokendistill.data.example import Example, own, template


def test_split_words_keeps_numbers_contractions_and_hyphenations_whole():
    source = "John's well-known 3,000 apples (2.5kg) cost $4."
    words = split_words(source)
    assert [word.text for word in words] == [
        "John's", "well-known", "3,000", "apples", "(", "2.5", "kg", ")", "cost", "$", "4", ".",
    ]  # fmt: skip
    assert all(source[word.start : word.end] == word.text for word in words)
    assert split_words("  ") == []


def test_aggregation_trims_whitespace_and_skips_special_tokens():
    source = "ab cd, e"  # words: ab (0,2), cd (3,5), "," (5,6), e (7,8)
    offsets = [(0, 1), (1, 2), (2, 5), (5, 6), (6, 7), (7, 8), (0, 0)]
    # " cd" covers the space after "ab" but must not reach it; (6, 7) is only a space; the last is </s>.
    scores = np.array([1, 2, 4, 8, 16, 32, 64], dtype=np.float32)
    special = [0, 0, 0, 0, 0, 0, 1]
    summed = aggregate_word_scores(source, offsets, scores, special, "sum")
    assert summed == [
        WordScore("ab", 0, 2, 3.0),
        WordScore("cd", 3, 5, 4.0),
        WordScore(",", 5, 6, 8.0),
        WordScore("e", 7, 8, 32.0),
    ]
    maxed = aggregate_word_scores(source, offsets, scores, special, "max")
    assert [word.score for word in maxed] == [2.0, 4.0, 8.0, 32.0]


def test_aggregation_token_spanning_two_words_scores_both_and_uncovered_word_scores_zero():
    source = "ab cd ef"
    offsets = [(0, 4), (4, 5)]  # "ab c" then "d"; "ef" was cut off by truncation
    words = aggregate_word_scores(source, offsets, np.array([5.0, 1.0]), how="sum")
    assert [(word.text, word.score) for word in words] == [("ab", 5.0), ("cd", 6.0), ("ef", 0.0)]
    words = aggregate_word_scores(source, offsets, np.array([5.0, 1.0]), how="max")
    assert [word.score for word in words] == [5.0, 5.0, 0.0]
    with pytest.raises(ValueError, match="aggregation"):
        aggregate_word_scores(source, offsets, np.array([5.0, 1.0]), how="mean")


def test_candidate_words_exclude_template_punctuation_and_stopwords():
    example = Example(
        id="q1",
        segments=(
            template("Question: "),
            own("Which animal barks?"),
            template(" Answer Choices: (a) dog (b) cat"),
        ),
        target="dog",
    )
    spans = example.template_spans()
    assert [word.text for word in candidate_words(example.source, spans)] == ["Which", "animal", "barks"]
    assert [word.text for word in candidate_words(example.source, spans, {"which"})] == ["animal", "barks"]


def _word_scores(scored: list[tuple[str, float]]) -> list[WordScore]:
    """The words of ``scored`` joined by spaces, with the given word scores."""
    source = " ".join(text for text, _ in scored)
    return [
        WordScore(word.text, word.start, word.end, score)
        for word, (_, score) in zip(split_words(source), scored, strict=True)
    ]


def test_select_rationale_top_k_ties_order_and_exclusions():
    # "Q:" is template (excluded by span), "!" punctuation: both score highest and are never chosen.
    words = _word_scores([("Q", 9.0), ("a", 1.0), ("b", 3.0), ("c", 5.0), ("d", 3.0), ("!", 10.0)])
    excluded = [(0, 1)]
    by_score = select_rationale(words, 2, excluded_spans=excluded, order="score")
    assert [word.text for word in by_score] == ["c", "b"]  # b and d tie: the earlier one wins
    by_input = select_rationale(words, 3, excluded_spans=excluded)
    assert [word.text for word in by_input] == ["b", "c", "d"]
    everything = select_rationale(words, 10, excluded_spans=excluded)
    assert [word.text for word in everything] == ["a", "b", "c", "d"]
    assert [w.text for w in select_rationale(words, 2, excluded_spans=excluded, stopwords={"C"})] == [
        "b",
        "d",
    ]
    assert rationale_text(by_input) == "b c d"
    assert select_rationale(words, 0) == []
    with pytest.raises(ValueError, match="k must be"):
        select_rationale(words, -1)
    with pytest.raises(ValueError, match="order"):
        select_rationale(words, 2, order="random")


def test_select_rationale_rejects_nan_scores():
    with pytest.raises(ValueError, match="NaN"):
        select_rationale(_word_scores([("a", float("nan")), ("b", 1.0)]), 1)


def test_random_rationale_draws_candidates_in_input_order():
    source = "Q: one two three four five six ."
    excluded = [(0, 2)]
    candidates = candidate_words(source, excluded)
    drawn = random_rationale(source, 3, random.Random(7), excluded_spans=excluded)
    assert len(drawn) == 3 and set(drawn) <= set(candidates)
    assert drawn == sorted(drawn, key=lambda word: word.start)
    assert drawn == random_rationale(source, 3, random.Random(7), excluded_spans=excluded)
    assert random_rationale(source, 50, random.Random(0), excluded_spans=excluded) == candidates
    # every candidate is reachable: 200 draws of 1 word cover all six
    rng = random.Random(1)
    seen = {random_rationale(source, 1, rng, excluded_spans=excluded)[0] for _ in range(200)}
    assert seen == set(candidates)
    assert all(isinstance(word, Word) for word in seen)
