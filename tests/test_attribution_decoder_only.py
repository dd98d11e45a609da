"""Attribution of decoder-only models (tiny Llama and GPT-2) against independent oracles: the model's own
loss on one unpadded example (source then target in one sequence), finite differences, completeness and
Captum's IntegratedGradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients

from test_attribution_engine import CORPUS, SOURCES, TARGETS
from tokendistill.attribution import attribute
from tokendistill.attribution import engine as engine_module
from tokendistill.models import IGNORE_INDEX, CausalFamily
from tokendistill.models.tiny import build_model, train_tokenizer

ARCHITECTURES = ["llama", "gpt2"]


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(CORPUS * 4, vocab_size=150, decoder_only=True)


@pytest.fixture(params=["right", "left"])
def padding_side(request, monkeypatch):
    """Batches padded on either side (GPT-2's learned positions would shift under left padding)."""
    monkeypatch.setattr(engine_module, "family_of", lambda model: CausalFamily(request.param))
    return request.param


def _tiny(tokenizer, architecture: str, **shape: int):
    return build_model(
        tokenizer, architecture, **({"d_model": 32, "d_ff": 64, "num_heads": 2} | shape)
    ).eval()


def _sequence(tokenizer, source: str, target: str) -> tuple[torch.Tensor, torch.Tensor, int]:
    """One example as the contract defines it: source ids, then target ids and end of sequence."""
    source_ids = tokenizer(source).input_ids
    target_ids = [*tokenizer(target, add_special_tokens=False).input_ids, tokenizer.eos_token_id]
    labels = [IGNORE_INDEX] * len(source_ids) + target_ids
    return torch.tensor([source_ids + target_ids]), torch.tensor([labels]), len(source_ids)


def _model_loss(model, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """L(e): the model's own (shifted, mean over labelled tokens) loss for one unpadded example."""
    return model(inputs_embeds=embeddings, labels=labels).loss


def _reference(model, tokenizer, source: str, target: str, method: str) -> np.ndarray:
    ids, labels, n_source = _sequence(tokenizer, source, target)
    embeddings = model.get_input_embeddings()(ids).detach().requires_grad_()
    if method == "saliency_per_token":
        log_probs = model(inputs_embeds=embeddings).logits[0, :-1].log_softmax(-1)
        positions = (labels[0, 1:] != IGNORE_INDEX).nonzero().flatten()
        norms = [
            torch.autograd.grad(log_probs[p, labels[0, p + 1]], embeddings, retain_graph=True)[0][0].norm(
                dim=-1
            )
            for p in positions
        ]
        return torch.stack(norms).mean(0)[:n_source].numpy()
    (gradient,) = torch.autograd.grad(_model_loss(model, embeddings, labels), embeddings)
    gradient = -gradient[0, :n_source]
    if method == "saliency":
        return gradient.norm(dim=-1).numpy()
    return (gradient * embeddings[0, :n_source].detach()).sum(-1).numpy()  # input_x_gradient, signed


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("method", ["saliency", "saliency_per_token", "input_x_gradient"])
def test_padded_batch_equals_each_example_alone(tokenizer, architecture, method, padding_side):
    model = _tiny(tokenizer, architecture)
    results = attribute(model, tokenizer, SOURCES, TARGETS, method=method, batch_size=3)
    for result, source, target in zip(results, SOURCES, TARGETS, strict=True):
        assert result.token_ids == tokenizer(source).input_ids
        assert len(result.token_scores) == len(result.token_ids)
        expected = _reference(model, tokenizer, source, target, method)
        scale = np.abs(expected).max()
        if method == "input_x_gradient":
            np.testing.assert_allclose(result.signed_token_scores, expected, rtol=1e-4, atol=1e-5 * scale)
            expected = np.abs(expected)
        np.testing.assert_allclose(result.token_scores, expected, rtol=1e-4, atol=1e-5 * scale)


def _float64_loss(model, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The same loss written out in float64 (Hugging Face's loss upcasts logits to float32 only)."""
    logits = model(inputs_embeds=embeddings).logits[0, :-1]
    return torch.nn.functional.cross_entropy(logits, labels[0, 1:], ignore_index=IGNORE_INDEX)


# Llama's RMSNorm computes in float32 even in a float64 model, so its loss is only smooth to float32
# precision: a wider step and tolerance there. GPT-2 is float64 throughout.
@pytest.mark.parametrize(("architecture", "step", "rtol"), [("llama", 1e-3, 5e-3), ("gpt2", 1e-4, 1e-6)])
def test_saliency_matches_finite_differences(tokenizer, architecture, step, rtol):
    model = _tiny(tokenizer, architecture, d_model=16, d_ff=32).double()
    source, target = SOURCES[0], TARGETS[1]
    ids, labels, n_source = _sequence(tokenizer, source, target)
    with torch.no_grad():
        embeddings = model.get_input_embeddings()(ids)[0]
        gradient = torch.zeros(n_source, embeddings.shape[1], dtype=embeddings.dtype)
        for i in range(n_source):
            for d in range(embeddings.shape[1]):
                bump = torch.zeros_like(embeddings)
                bump[i, d] = step
                up = _float64_loss(model, (embeddings + bump)[None], labels)
                down = _float64_loss(model, (embeddings - bump)[None], labels)
                gradient[i, d] = -(up - down) / (2 * step)
    saliency = attribute(model, tokenizer, [source], [target])[0]
    np.testing.assert_allclose(saliency.token_scores, gradient.norm(dim=-1).numpy(), rtol=rtol)


def _start(model, tokenizer, ids: torch.Tensor, n_source: int, baseline: str) -> torch.Tensor:
    """The baseline: zero or pad embeddings at the source positions, the target's own embeddings after."""
    embeddings = model.get_input_embeddings()(ids).detach()
    start = embeddings.clone()
    if baseline == "zero":
        start[:, :n_source] = 0
    else:
        start[:, :n_source] = model.get_input_embeddings()(torch.tensor([tokenizer.pad_token_id])).detach()
    return start


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("baseline", ["zero", "pad"])
def test_integrated_gradients_completeness(tokenizer, architecture, baseline, padding_side):
    model = _tiny(tokenizer, architecture, d_model=16, d_ff=32).double()
    results = attribute(
        model, tokenizer, SOURCES, TARGETS, method="integrated_gradients", n_steps=64, baseline=baseline
    )
    for result, source, target in zip(results, SOURCES, TARGETS, strict=True):
        ids, labels, n_source = _sequence(tokenizer, source, target)
        with torch.no_grad():
            embeddings = model.get_input_embeddings()(ids)
            start = _start(model, tokenizer, ids, n_source, baseline)
            gap = float(_model_loss(model, start, labels) - _model_loss(model, embeddings, labels))
        assert abs(gap) > 1e-4
        assert result.signed_token_scores.sum() == pytest.approx(gap, rel=0.01)
        assert result.convergence_delta == pytest.approx(result.signed_token_scores.sum() - gap, abs=1e-6)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_integrated_gradients_agree_with_captum(tokenizer, architecture):
    model = _tiny(tokenizer, architecture)
    results = attribute(
        model,
        tokenizer,
        SOURCES,
        TARGETS,
        method="integrated_gradients",
        n_steps=16,
        baseline="zero",
        internal_batch_size=5,
    )
    for result, source, target in zip(results, SOURCES, TARGETS, strict=True):
        ids, labels, n_source = _sequence(tokenizer, source, target)
        embeddings = model.get_input_embeddings()(ids).detach()
        target_embeddings = embeddings[:, n_source:]

        def negative_loss(
            source_embeddings: torch.Tensor, target_embeddings: torch.Tensor, labels: torch.Tensor
        ) -> torch.Tensor:
            """One model pass per path point (Captum repeats the extra arguments along with the points)."""
            full = torch.cat([source_embeddings, target_embeddings], dim=1)
            return torch.stack(
                [
                    -_model_loss(model, row[None], row_labels[None])
                    for row, row_labels in zip(full, labels, strict=True)
                ]
            )

        expected = IntegratedGradients(negative_loss).attribute(
            embeddings[:, :n_source],
            baselines=torch.zeros_like(embeddings[:, :n_source]),
            additional_forward_args=(target_embeddings, labels),
            n_steps=16,
            method="gausslegendre",
        )
        expected = expected[0].sum(-1).detach().numpy()
        scale = np.abs(expected).max()
        np.testing.assert_allclose(result.signed_token_scores, expected, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_targets_none_explains_the_greedy_continuation(tokenizer, architecture):
    model = _tiny(tokenizer, architecture)
    results = attribute(model, tokenizer, SOURCES, max_new_tokens=6, batch_size=3)
    for result, source in zip(results, SOURCES, strict=True):
        ids = tokenizer(source, return_tensors="pt").input_ids
        greedy = model.generate(input_ids=ids, max_new_tokens=6, do_sample=False, num_beams=1)
        assert result.target == tokenizer.decode(greedy[0, ids.shape[1] :], skip_special_tokens=True)
    assert all(result.target for result in results)  # not vacuous: random models rarely stop at once
    explicit = attribute(model, tokenizer, SOURCES, [result.target for result in results])
    for generated, given in zip(results, explicit, strict=True):
        np.testing.assert_allclose(generated.token_scores, given.token_scores, rtol=1e-5, atol=1e-9)


def test_special_tokens_are_never_words(tokenizer):
    model = _tiny(tokenizer, "llama")
    result = attribute(model, tokenizer, SOURCES[:1], TARGETS[:1])[0]
    assert result.token_ids[0] == tokenizer.bos_token_id
    assert [word.text for word in result.words] == ["John", "has", "3,000", "apples", "."]


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_saliency_per_token_equals_inseqs_decoder_only_saliency(tokenizer, architecture):
    """Inseq attributes each generated step of a decoder-only model on its own; its default objective is
    the token's probability p_t, so its per-step gradient norm divided by p_t is ``||d log p_t / de_i||``,
    and the mean over steps is our ``saliency_per_token`` (computed in one padded batch)."""
    inseq = pytest.importorskip("inseq")
    model = _tiny(tokenizer, architecture)
    wrapped = inseq.load_model(model, "saliency", tokenizer=tokenizer)
    results = attribute(model, tokenizer, SOURCES, TARGETS, method="saliency_per_token", batch_size=3)
    for result, source, target in zip(results, SOURCES, TARGETS, strict=True):
        full_text = f"{source} {target}{tokenizer.eos_token}"
        ids, _, n_source = _sequence(tokenizer, source, target)
        assert tokenizer(full_text).input_ids == ids[0].tolist()  # Inseq sees exactly our sequence
        output = wrapped.attribute(
            source, full_text, show_progress=False, skip_special_tokens=False, step_scores=["probability"]
        ).sequence_attributions[0]
        per_step = output.target_attributions[:n_source].norm(dim=-1) / output.step_scores["probability"]
        np.testing.assert_allclose(result.token_scores, per_step.mean(dim=1).numpy(), rtol=1e-4, atol=1e-7)
