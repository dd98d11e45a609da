"""Teacher fine-tuning: full, and LoRA whose merged save is a plain model with the adapted model's outputs."""

from __future__ import annotations

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForSeq2SeqLM, T5ForConditionalGeneration

from tokendistill.models import load_model_and_tokenizer
from tokendistill.training.config import LoraSettings
from tokendistill.training.manifest import read_manifest
from tokendistill.training.models import build_tiny_for_task
from tokendistill.training.teacher import train_teacher
from training_helpers import ColourTask, quick_config


@pytest.fixture(scope="module")
def task():
    return ColourTask()


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, task):
    return build_tiny_for_task(task, tmp_path_factory.mktemp("tiny"), vocab_size=300)


def test_full_fine_tuning_learns_the_task(task, tiny_dir, tmp_path):
    result = train_teacher(tiny_dir, task, tmp_path / "teacher", config=quick_config())
    assert result.validation_accuracy >= 0.8  # chance: 1/6
    manifest = read_manifest(result.output_dir)
    assert (manifest["role"], manifest["prefix"], manifest["task"]) == ("teacher", "", "test-colour")


def test_lora_teacher_saves_merged_weights_that_load_as_a_plain_model(task, tiny_dir, tmp_path):
    lora = LoraSettings(r=4, alpha=8, dropout=0.0)
    config = quick_config(learning_rate=1e-2, max_steps=20, eval_steps=10)
    result = train_teacher(tiny_dir, task, tmp_path / "teacher", lora=lora, config=config)
    assert not (result.output_dir / "adapter_config.json").exists()
    assert (result.output_dir / result.best_checkpoint / "adapter_config.json").is_file()

    merged = AutoModelForSeq2SeqLM.from_pretrained(result.output_dir)
    assert type(merged) is T5ForConditionalGeneration
    base, tokenizer = load_model_and_tokenizer(tiny_dir)
    base_weights = {name: value.clone() for name, value in base.state_dict().items()}
    adapted = PeftModel.from_pretrained(base, result.output_dir / result.best_checkpoint)

    # Only T5's attention q and v projections (peft's default targets) changed, and they did change.
    changed = {name for name, value in merged.state_dict().items() if not value.equal(base_weights[name])}
    assert changed and all(name.endswith((".q.weight", ".v.weight")) for name in changed)

    sources = [e.source for e in task.load("validation")[:8]]
    batch = tokenizer(sources, padding=True, return_tensors="pt")
    decoder_input_ids = torch.zeros((len(sources), 3), dtype=torch.long)
    with torch.no_grad():
        merged_logits = merged.eval()(**batch, decoder_input_ids=decoder_input_ids).logits
        adapted_logits = adapted.eval()(**batch, decoder_input_ids=decoder_input_ids).logits
        with adapted.disable_adapter():
            base_logits = adapted(**batch, decoder_input_ids=decoder_input_ids).logits
    torch.testing.assert_close(merged_logits, adapted_logits, rtol=1e-5, atol=1e-5)
    assert (merged_logits - base_logits).abs().max() > 1e-3


def test_training_args_may_not_send_checkpoints_elsewhere(tmp_path):
    """Issue 11: output_dir in training_args would write checkpoints outside the model folder, where
    resuming never finds them."""
    import argparse

    from tokendistill.commands.training_options import add_training_arguments, train_config_from_args
    from tokendistill.errors import TokendistillError
    from tokendistill.training.config import TrainConfig, training_arguments

    elsewhere = str(tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="may not set 'output_dir'"):
        TrainConfig(training_args={"output_dir": elsewhere})
    config = TrainConfig(training_args={"lr_scheduler_type": "constant"})
    assert training_arguments(config, tmp_path / "model").output_dir == str(tmp_path / "model")
    config.training_args["output_dir"] = elsewhere  # changed after construction: still refused
    with pytest.raises(ValueError, match="may not set 'output_dir'"):
        training_arguments(config, tmp_path / "model")

    parser = argparse.ArgumentParser()
    add_training_arguments(parser)
    with pytest.raises(TokendistillError, match=r"--training-arg output_dir: not allowed.*--output"):
        train_config_from_args(parser.parse_args(["--training-arg", f"output_dir={elsewhere}"]))
    args = parser.parse_args(["--training-arg", "lr_scheduler_type=constant"])
    assert train_config_from_args(args).training_args == {"lr_scheduler_type": "constant"}
    assert not (tmp_path / "elsewhere").exists()
    # A setting with a flag of its own is refused too: applied last, it would silently replace the flag.
    with pytest.raises(TokendistillError, match=r"--training-arg learning_rate: .*use learning_rate"):
        train_config_from_args(parser.parse_args(["--training-arg", "learning_rate=0.1"]))
    with pytest.raises(ValueError, match="may not set 'seed'"):
        TrainConfig(training_args={"seed": 3})
