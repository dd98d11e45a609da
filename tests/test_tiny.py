"""The tiny model builder: tokenizer conventions, forward/generate for T5 and BART, save/load by path."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from tokendistill.data.synthetic import SyntheticMath, SyntheticNLI
from tokendistill.models.tiny import SIZES, build_and_save, build_model, train_tokenizer

CORPUS = [example.source for example in SyntheticNLI(size=200).load("train")] + [
    example.source for example in SyntheticMath(size=200).load("train")
]
TEXTS = [
    "the red box is on the shelf.",
    "Ann had 84 pens. Ann found 47 more pens.",
    "How many kites are near the window? a blue cup.",
]


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(CORPUS, vocab_size=300)


def test_special_token_layout_is_t5s(tokenizer) -> None:
    assert tokenizer.convert_ids_to_tokens([0, 1, 2]) == ["<pad>", "</s>", "<unk>"]
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)


def test_eos_is_appended_once_and_unknown_characters_map_to_unk(tokenizer) -> None:
    for text in TEXTS:
        ids = tokenizer(text).input_ids
        assert ids[-1] == 1 and ids.count(1) == 1
        assert 2 not in ids
    assert 2 in tokenizer("the ☃ box").input_ids


def test_whole_words_of_the_corpus_are_single_tokens(tokenizer) -> None:
    """A small corpus must not end up spelt letter by letter (the unigram trainer's failure here)."""
    assert tokenizer.tokenize("there is a yellow ball. Ann lost 12 coins.") == [
        "▁there",
        "▁is",
        "▁a",
        "▁yellow",
        "▁ball",
        ".",
        "▁Ann",
        "▁lost",
        "▁12",
        "▁coins",
        ".",
    ]


@pytest.mark.parametrize("text", [*TEXTS, "two  spaces", CORPUS[-1], *CORPUS[0].split("</s>")])
def test_decoding_gives_back_the_text(tokenizer, text: str) -> None:
    assert tokenizer.decode(tokenizer(text).input_ids, skip_special_tokens=True) == text


def test_inline_separator_is_one_token_and_words_after_it_get_a_word_mark(tokenizer) -> None:
    """DSS's NLI input has "</s>" inside the text: it stays one token, and decoding reads it as a word."""
    tokens = tokenizer.tokenize("the red box.</s>the box is red.")
    assert tokens == ["▁the", "▁red", "▁box", ".", "</s>", "▁the", "▁box", "▁is", "▁red", "."]


@pytest.mark.parametrize("text", [*TEXTS, CORPUS[0], CORPUS[-1]])
def test_offsets_map_every_character_to_the_token_that_spells_it(tokenizer, text: str) -> None:
    """A token's span is its text, plus at most the one space its "▁" stands for; every other character
    of the text is in exactly one token. (A lone "▁" the tokenizer prepends has no character of its own.)"""
    encoding = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
    owners = [0] * len(text)
    for token, (start, end) in zip(
        tokenizer.convert_ids_to_tokens(encoding.input_ids), encoding.offset_mapping, strict=True
    ):
        spelt = token if token in tokenizer.all_special_tokens else token.lstrip("▁")
        if not spelt:
            continue
        assert text[start:end] in (spelt, " " + spelt), (token, text[start:end])
        for position in range(end - len(spelt), end):
            owners[position] += 1
    assert all(count == 1 for char, count in zip(text, owners, strict=True) if char != " ")


@pytest.mark.parametrize("architecture", ["t5", "bart"])
def test_forward_generate_and_save_load_round_trip(tokenizer, architecture: str, tmp_path: Path) -> None:
    model = build_model(tokenizer, architecture=architecture, seed=0).eval()
    assert model.config.d_model == SIZES["tiny"]["d_model"]
    assert model.config.vocab_size == len(tokenizer)
    assert (model.config.pad_token_id, model.config.eos_token_id, model.config.decoder_start_token_id) == (
        0,
        1,
        0,
    )
    inputs = tokenizer(TEXTS, return_tensors="pt", padding=True)
    labels = tokenizer(
        ["entailment", "neutral", "( 84.0 + 47.0 )"], return_tensors="pt", padding=True
    ).input_ids
    with torch.no_grad():
        output = model(**inputs, labels=labels)
        generated = model.generate(**inputs, max_new_tokens=6, do_sample=False)
    assert output.logits.shape == (len(TEXTS), labels.shape[1], len(tokenizer))
    assert torch.isfinite(output.loss)
    assert generated.shape[0] == len(TEXTS) and 2 <= generated.shape[1] <= 7
    assert (generated[:, 0] == 0).all()  # decoding starts from the pad token, as in T5

    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
    loaded_tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    loaded_inputs = loaded_tokenizer(TEXTS, return_tensors="pt", padding=True)
    assert torch.equal(loaded_inputs.input_ids, inputs.input_ids)
    with torch.no_grad():
        assert torch.equal(loaded(**loaded_inputs, labels=labels).logits, output.logits)
        assert torch.equal(loaded.generate(**loaded_inputs, max_new_tokens=6, do_sample=False), generated)


def test_same_seed_same_weights_and_overrides_apply(tokenizer) -> None:
    first, second = build_model(tokenizer, seed=3), build_model(tokenizer, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(first.parameters(), second.parameters(), strict=True))
    other = build_model(tokenizer, seed=4)
    assert not torch.equal(first.shared.weight, other.shared.weight)
    assert build_model(tokenizer, size="small", num_layers=1).config.num_layers == 1


def test_unknown_architecture_is_refused(tokenizer) -> None:
    with pytest.raises(ValueError, match="unknown architecture 'gpt'"):
        build_model(tokenizer, architecture="gpt")  # type: ignore[arg-type]


def test_build_and_save_loads_by_path(tmp_path: Path) -> None:
    path = build_and_save(CORPUS, tmp_path / "model", architecture="bart", vocab_size=300, seed=1)
    model = AutoModelForSeq2SeqLM.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert model.config.model_type == "bart"
    assert tokenizer.tokenize("the red box") == ["▁the", "▁red", "▁box"]
    assert model.config.vocab_size == len(tokenizer)


@pytest.mark.parametrize("architecture", ["llama", "gpt2"])
def test_decoder_only_build_tiny_loads_with_its_family_and_continues_a_prompt(
    tmp_path: Path, architecture
) -> None:
    """``build-tiny --architecture llama|gpt2``: a decoder-only model whose tokenizer prepends ``<s>``,
    appends nothing (the target follows the source in one sequence) and pads left for batched generation."""
    from tokendistill.cli import main
    from tokendistill.models import CausalFamily, family_of, load_model_and_tokenizer

    output = tmp_path / architecture
    assert (
        main(
            [
                "build-tiny",
                "--task",
                "synthetic-nli",
                "--output",
                str(output),
                "--architecture",
                architecture,
                "--vocab-size",
                "300",
            ]
        )
        == 0
    )
    model, tokenizer = load_model_and_tokenizer(output)
    assert model.config.model_type == architecture and not model.config.is_encoder_decoder
    assert isinstance(family_of(model), CausalFamily)
    ids = tokenizer("the red box").input_ids
    assert ids[0] == tokenizer.bos_token_id and tokenizer.eos_token_id not in ids
    assert tokenizer.pad_token_id is not None and tokenizer.padding_side == "left"
    texts = family_of(model).generate(model, tokenizer, [ids, tokenizer("a cup").input_ids], max_new_tokens=3)
    alone = model.generate(torch.tensor([ids]), max_new_tokens=3, do_sample=False)
    assert texts[0] == tokenizer.decode(alone[0, len(ids) :], skip_special_tokens=True)
