"""The attribution engine against independent oracles: finite differences, plain per-example autograd on the
model's own loss, the completeness axiom and Captum's IntegratedGradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients
from transformers import (
    BartConfig,
    BartForConditionalGeneration,
    BertConfig,
    BertLMHeadModel,
    BertModel,
    EncoderDecoderModel,
    PegasusConfig,
    PegasusForConditionalGeneration,
    T5Config,
    T5ForConditionalGeneration,
)

from tokendistill.attribution import METHODS, attribute
from tokendistill.models.tiny import build_model, train_tokenizer

# EncoderDecoderModel warns on every loss it computes (the reference below asks it for its loss).
pytestmark = pytest.mark.filterwarnings("ignore:Version v4.12.0 introduces:FutureWarning")

CORPUS = [
    "The cat sat on the mat while the dog slept.",
    "John has 3,000 apples and eats 2.5 of them every day.",
    "Premise: a man plays a guitar on stage. Hypothesis: a person makes music.",
    "Question: where do you keep money? Answer Choices: (a) bank (b) river (c) shoe",
    "entailment neutral contradiction yes no",
]
# Mixed lengths in one batch, deliberately not sorted by length.
SOURCES = [
    "John has 3,000 apples.",
    "Premise: a man plays a guitar on stage. Hypothesis: a person makes music.",
    "The cat sat.",
]
TARGETS = ["entailment", "a person makes music", "no"]


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(CORPUS * 4, vocab_size=150)


def _bert2bert(tokenizer):
    shape = {"vocab_size": len(tokenizer), "hidden_size": 32, "num_hidden_layers": 1}
    shape |= {"num_attention_heads": 2, "intermediate_size": 64, "pad_token_id": tokenizer.pad_token_id}
    torch.manual_seed(0)
    model = EncoderDecoderModel(
        encoder=BertModel(BertConfig(**shape)),
        decoder=BertLMHeadModel(BertConfig(**shape, is_decoder=True, add_cross_attention=True)),
    )
    for config in (model.config, model.generation_config):
        # BERT2BERT starts decoding from [CLS]; any id but pad works (the model masks pad decoder inputs)
        config.decoder_start_token_id = tokenizer.unk_token_id
        config.pad_token_id = tokenizer.pad_token_id
        config.eos_token_id = tokenizer.eos_token_id
    return model


@pytest.fixture(scope="module", params=["t5", "bart", "bert2bert"])
def model(request, tokenizer):
    if request.param == "bert2bert":
        built = _bert2bert(tokenizer)
    else:
        built = build_model(tokenizer, request.param, d_model=32, d_ff=64, num_heads=2)
    return built.eval()


def _encode(tokenizer, source: str, target: str) -> tuple[torch.Tensor, torch.Tensor]:
    ids = tokenizer(source, return_tensors="pt").input_ids
    labels = tokenizer(text_target=target, return_tensors="pt").input_ids
    return ids, labels


def _model_loss(model, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """L(e) as the contract defines it: the model's own loss for one example fed as inputs_embeds."""
    return model(inputs_embeds=embeddings, labels=labels).loss


def _reference(model, tokenizer, source: str, target: str, method: str) -> np.ndarray:
    """The method's definition computed plainly for one example alone (no padding, no batching)."""
    ids, labels = _encode(tokenizer, source, target)
    embeddings = model.get_input_embeddings()(ids).detach().requires_grad_()
    if method == "saliency_per_token":
        log_probs = model(inputs_embeds=embeddings, labels=labels).logits.log_softmax(-1)
        per_token = log_probs[0, torch.arange(labels.shape[1]), labels[0]]
        norms = [
            torch.autograd.grad(log_prob, embeddings, retain_graph=True)[0][0].norm(dim=-1)
            for log_prob in per_token
        ]
        return torch.stack(norms).mean(0).numpy()
    (gradient,) = torch.autograd.grad(_model_loss(model, embeddings, labels), embeddings)
    gradient = -gradient[0]
    if method == "saliency":
        return gradient.norm(dim=-1).numpy()
    return (gradient * embeddings[0].detach()).sum(-1).numpy()  # input_x_gradient, signed


@pytest.mark.parametrize("method", ["saliency", "saliency_per_token", "input_x_gradient"])
def test_batched_engine_equals_per_example_definition(model, tokenizer, method):
    results = attribute(model, tokenizer, SOURCES, TARGETS, method=method, batch_size=3)
    for result, source, target in zip(results, SOURCES, TARGETS, strict=True):
        assert result.source == source and result.target == target and result.method == method
        assert result.token_ids == tokenizer(source).input_ids
        assert len(result.token_offsets) == len(result.token_ids) == len(result.token_scores)
        assert result.token_scores.dtype == np.float32
        expected = _reference(model, tokenizer, source, target, method)
        scale = np.abs(expected).max()
        if method == "input_x_gradient":
            np.testing.assert_allclose(result.signed_token_scores, expected, rtol=1e-4, atol=1e-5 * scale)
            expected = np.abs(expected)
        else:
            assert result.signed_token_scores is None
        np.testing.assert_allclose(result.token_scores, expected, rtol=1e-4, atol=1e-5 * scale)


def test_batch_size_does_not_change_scores(tokenizer):
    model = build_model(tokenizer, "t5", d_model=32, d_ff=64, num_heads=2).eval()
    together = attribute(model, tokenizer, SOURCES, TARGETS, batch_size=3)
    alone = attribute(model, tokenizer, SOURCES, TARGETS, batch_size=1)
    for batched, single in zip(together, alone, strict=True):
        np.testing.assert_allclose(batched.token_scores, single.token_scores, rtol=1e-5, atol=1e-8)
        assert [word.score for word in batched.words] == pytest.approx([word.score for word in single.words])


# T5's layer norm computes its variance in float32 even in a float64 model, so its loss is only smooth to
# float32 precision: a wider step and tolerance there. BART is float64 throughout.
@pytest.mark.parametrize(("architecture", "step", "rtol"), [("t5", 1e-3, 5e-3), ("bart", 1e-4, 1e-5)])
def test_saliency_and_input_x_gradient_match_finite_differences(tokenizer, architecture, step, rtol):
    model = build_model(tokenizer, architecture, d_model=16, d_ff=32, num_heads=2).double().eval()
    source, target = SOURCES[0], TARGETS[1]
    ids, labels = _encode(tokenizer, source, target)
    with torch.no_grad():
        embeddings = model.get_input_embeddings()(ids)[0]

        def loss(perturbed: torch.Tensor) -> float:
            return float(_model_loss(model, perturbed[None], labels))

        n_tokens, width = embeddings.shape
        gradient = torch.zeros_like(embeddings)  # g = -dL/de by central differences
        for i in range(n_tokens):
            for d in range(width):
                bump = torch.zeros_like(embeddings)
                bump[i, d] = step
                gradient[i, d] = -(loss(embeddings + bump) - loss(embeddings - bump)) / (2 * step)
    saliency = attribute(model, tokenizer, [source], [target])[0]
    np.testing.assert_allclose(saliency.token_scores, gradient.norm(dim=-1).numpy(), rtol=rtol)
    signed = attribute(model, tokenizer, [source], [target], method="input_x_gradient")[0]
    expected = (gradient * embeddings).sum(-1).numpy()
    atol = rtol * np.abs(expected).max()
    np.testing.assert_allclose(signed.signed_token_scores, expected, rtol=rtol, atol=atol)
    np.testing.assert_allclose(signed.token_scores, np.abs(expected), rtol=rtol, atol=atol)


def _smooth_float64_model(tokenizer, architecture: str):
    """Float64 models whose integrated-gradients integrand is smooth: a gated-GELU T5 (as Flan-T5) and a
    GELU BART with init_std 0.3 instead of 0.02, so that its loss depends visibly on the input."""
    ids = {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "decoder_start_token_id": tokenizer.pad_token_id,
    }
    torch.manual_seed(0)
    if architecture == "t5":
        config = T5Config(
            d_model=16, d_ff=32, d_kv=8, num_layers=2, num_heads=2, feed_forward_proj="gated-gelu", **ids
        )
        model = T5ForConditionalGeneration(config)
    else:
        config = BartConfig(
            d_model=16,
            encoder_layers=2,
            decoder_layers=2,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=32,
            decoder_ffn_dim=32,
            init_std=0.3,
            forced_eos_token_id=None,
            **ids,
        )
        model = BartForConditionalGeneration(config)
    return model.double().eval()


def _completeness_gap(model, tokenizer, source: str, target: str, baseline: str) -> float:
    """(-L(e)) - (-L(b)) computed from the model's own loss."""
    ids, labels = _encode(tokenizer, source, target)
    with torch.no_grad():
        embeddings = model.get_input_embeddings()(ids)
        if baseline == "zero":
            start = torch.zeros_like(embeddings)
        else:
            start = model.get_input_embeddings()(torch.full_like(ids, tokenizer.pad_token_id))
        return float(_model_loss(model, start, labels) - _model_loss(model, embeddings, labels))


# The zero baseline is left out for T5: see IntegratedGradients (RMSNorm makes the path singular near 0).
@pytest.mark.parametrize(("architecture", "baseline"), [("t5", "pad"), ("bart", "zero"), ("bart", "pad")])
def test_integrated_gradients_completeness(tokenizer, architecture, baseline):
    model = _smooth_float64_model(tokenizer, architecture)
    results = attribute(
        model, tokenizer, SOURCES, TARGETS, method="integrated_gradients", n_steps=64, baseline=baseline
    )
    for result, source, target in zip(results, SOURCES, TARGETS, strict=True):
        gap = _completeness_gap(model, tokenizer, source, target, baseline)
        assert abs(gap) > 1e-4  # the 1% check below is not vacuous (a float64 gap far above rounding)
        assert result.signed_token_scores.sum() == pytest.approx(gap, rel=0.01)
        assert result.convergence_delta == pytest.approx(result.signed_token_scores.sum() - gap, abs=1e-6)
        np.testing.assert_allclose(result.token_scores, np.abs(result.signed_token_scores))


def test_convergence_delta_exposes_the_zero_baseline_failure_on_t5(tokenizer):
    model = build_model(tokenizer, "t5", d_model=16, d_ff=32, num_heads=2).double().eval()
    results = attribute(
        model, tokenizer, SOURCES, TARGETS, method="integrated_gradients", n_steps=64, baseline="zero"
    )
    deltas = []
    for result, source, target in zip(results, SOURCES, TARGETS, strict=True):
        gap = _completeness_gap(model, tokenizer, source, target, "zero")
        assert result.convergence_delta == pytest.approx(result.signed_token_scores.sum() - gap, abs=1e-6)
        deltas.append(abs(result.convergence_delta) / abs(gap))
    assert max(deltas) > 0.1
    assert attribute(model, tokenizer, SOURCES[:1], TARGETS[:1])[0].convergence_delta is None


@pytest.mark.parametrize(("architecture", "baseline"), [("t5", "zero"), ("bart", "pad")])
def test_integrated_gradients_agree_with_captum(tokenizer, architecture, baseline):
    model = build_model(tokenizer, architecture, d_model=32, d_ff=64, num_heads=2).eval()
    results = attribute(
        model,
        tokenizer,
        SOURCES,
        TARGETS,
        method="integrated_gradients",
        n_steps=16,
        baseline=baseline,
        internal_batch_size=7,
    )
    for result, source, target in zip(results, SOURCES, TARGETS, strict=True):
        ids, labels = _encode(tokenizer, source, target)
        embeddings = model.get_input_embeddings()(ids).detach()
        if baseline == "zero":
            start = torch.zeros_like(embeddings)
        else:
            start = model.get_input_embeddings()(torch.full_like(ids, tokenizer.pad_token_id)).detach()

        def negative_loss(inputs_embeds: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            return -_model_loss(model, inputs_embeds, labels).reshape(1)

        expected = IntegratedGradients(negative_loss).attribute(
            embeddings,
            baselines=start,
            additional_forward_args=(labels,),
            n_steps=16,
            method="gausslegendre",
            internal_batch_size=1,
        )
        expected = expected[0].sum(-1).detach().numpy()
        scale = np.abs(expected).max()
        np.testing.assert_allclose(result.signed_token_scores, expected, rtol=1e-4, atol=1e-5 * scale)


def test_generated_targets_are_the_greedy_prediction(tokenizer):
    model = build_model(tokenizer, "bart", d_model=32, d_ff=64, num_heads=2).eval()
    results = attribute(model, tokenizer, SOURCES, method="saliency", max_new_tokens=6, batch_size=2)
    for result, source in zip(results, SOURCES, strict=True):
        ids = tokenizer(source, return_tensors="pt").input_ids
        greedy = model.generate(input_ids=ids, max_new_tokens=6, do_sample=False, num_beams=1)
        assert result.target == tokenizer.decode(greedy[0], skip_special_tokens=True)
    assert any(result.target for result in results)  # the check above is not vacuous
    explicit = attribute(model, tokenizer, SOURCES, [result.target for result in results])
    for generated, given in zip(results, explicit, strict=True):
        np.testing.assert_allclose(generated.token_scores, given.token_scores, rtol=1e-5, atol=1e-9)


def test_bfloat16_scores_are_float32_and_close_to_float32(tokenizer):
    model = build_model(tokenizer, "t5", d_model=32, d_ff=64, num_heads=2).eval()
    full = attribute(model, tokenizer, SOURCES, TARGETS)
    half = attribute(model.to(torch.bfloat16), tokenizer, SOURCES, TARGETS)
    for precise, rough in zip(full, half, strict=True):
        assert rough.token_scores.dtype == np.float32
        correlation = np.corrcoef(precise.token_scores, rough.token_scores)[0, 1]
        assert correlation > 0.95


def test_model_is_left_as_it_was(tokenizer):
    model = build_model(tokenizer, "t5", d_model=32, d_ff=64, num_heads=2, dropout_rate=0.5)
    model.train()
    model.lm_head.requires_grad_(False)
    flags = [parameter.requires_grad for parameter in model.parameters()]
    first = attribute(model, tokenizer, SOURCES, TARGETS)
    second = attribute(model, tokenizer, SOURCES, TARGETS)  # dropout would make these differ
    assert model.training
    assert [parameter.requires_grad for parameter in model.parameters()] == flags
    assert all(parameter.grad is None for parameter in model.parameters())
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.token_scores, b.token_scores)


def test_words_carry_the_token_scores(tokenizer):
    model = build_model(tokenizer, "t5", d_model=32, d_ff=64, num_heads=2).eval()
    summed = attribute(model, tokenizer, SOURCES[:1], TARGETS[:1])[0]
    maxed = attribute(model, tokenizer, SOURCES[:1], TARGETS[:1], word_aggregation="max")[0]
    assert [word.text for word in summed.words] == ["John", "has", "3,000", "apples", "."]
    # every word gets >= its best token and the sums never exceed all tokens but </s>
    assert all(s.score >= m.score > 0 for s, m in zip(summed.words, maxed.words, strict=True))
    assert sum(word.score for word in summed.words) <= summed.token_scores[:-1].sum() * (1 + 1e-6)
    assert max(word.score for word in maxed.words) <= summed.token_scores[:-1].max()


def test_bad_arguments_are_refused_before_any_work(tokenizer):
    model = build_model(tokenizer, "t5", d_model=32, d_ff=64, num_heads=2)
    assert set(METHODS) == {"saliency", "saliency_per_token", "input_x_gradient", "integrated_gradients"}
    with pytest.raises(ValueError, match="unknown attribution method"):
        attribute(model, tokenizer, SOURCES, TARGETS, method="lime")
    with pytest.raises(ValueError, match="'saliency' takes no option 'n_steps'"):
        attribute(model, tokenizer, SOURCES, TARGETS, method="saliency", n_steps=5)
    with pytest.raises(ValueError, match="baseline"):
        attribute(model, tokenizer, SOURCES, TARGETS, method="integrated_gradients", baseline="blur")
    with pytest.raises(ValueError, match="2 targets"):
        attribute(model, tokenizer, SOURCES, TARGETS[:2])
    with pytest.raises(ValueError, match="word aggregation"):
        attribute(model, tokenizer, SOURCES, TARGETS, word_aggregation="mean")
    assert attribute(model, tokenizer, [], []) == []


def test_models_that_rescale_embeddings_given_as_ids_are_refused(tokenizer):
    config = PegasusConfig(
        vocab_size=len(tokenizer),
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        scale_embedding=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    with pytest.raises(ValueError, match="rescales embeddings"):
        attribute(PegasusForConditionalGeneration(config), tokenizer, SOURCES, TARGETS)
