"""Each setting is declared once; the YAML fields, the command-line flags and the checks agree with it."""

from __future__ import annotations

import argparse

import pytest
import yaml

from tokendistill.commands.training_options import add_training_arguments, train_config_from_args
from tokendistill.experiment.config import TrainingConfig, validate_config
from tokendistill.experiment.stages import train_config
from tokendistill.settings import declared_settings
from tokendistill.training.config import TrainConfig

TRAINING = declared_settings(TrainConfig)


def training_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_training_arguments(parser)
    return parser


def flag_defaults(parser: argparse.ArgumentParser) -> dict[str, object]:
    return {action.dest: action.default for action in parser._actions}


@pytest.mark.parametrize("item", TRAINING, ids=lambda item: item.name)
def test_every_training_setting_has_a_yaml_field_and_a_flag_with_its_default(item):
    parser = training_parser()
    assert item.name in flag_defaults(parser), f"TrainConfig.{item.name} has no flag"
    parsed = train_config_from_args(parser.parse_args([]))
    assert getattr(parsed, item.name) == item.default, f"--{item.name}'s default differs"
    if not item.setting.in_config:  # the run decides it: no YAML field, by declaration
        assert item.name not in TrainingConfig.model_fields
        return
    assert item.name in TrainingConfig.model_fields, f"TrainConfig.{item.name} has no YAML field"
    from_yaml = train_config(TrainingConfig(), seed=0)
    assert getattr(from_yaml, item.name) == item.default, f"the YAML field {item.name}'s default differs"


def test_nothing_has_a_yaml_field_or_a_flag_without_a_declaration():
    names = {item.name for item in TRAINING}
    assert set(TrainingConfig.model_fields) <= names
    dests = {action.dest for action in training_parser()._actions} - {"help", "resume"}
    assert dests == names


# A value other than the default for every setting, written once as flags and once as YAML.
FLAGS = [
    "--learning-rate", "1e-3", "--batch-size", "8", "--eval-batch-size", "16",
    "--gradient-accumulation-steps", "2", "--max-steps", "none", "--epochs", "2.5", "--eval-steps", "10",
    "--save-total-limit", "none", "--logging-steps", "5", "--warmup-steps", "3", "--weight-decay", "0.01",
    "--learning-rate-multiplier", "crossattention=10", "--learning-rate-multiplier", "decoder=2.5",
    "--task-passes", "2", "--max-input-length", "64", "--max-target-length", "16", "--max-new-tokens", "8",
    "--bf16", "--report-to", "tensorboard", "--report-to", "wandb",
    "--training-arg", "lr_scheduler_type=constant", "--training-arg", "adam_beta2=0.98",
]  # fmt: skip
YAML = """\
output_dir: runs/x
task:
  name: synthetic-nli
teacher:
  tiny: {}
  training:
    learning_rate: 1.0e-3
    batch_size: 8
    eval_batch_size: 16
    gradient_accumulation_steps: 2
    max_steps: null
    num_epochs: 2.5
    eval_steps: 10
    save_total_limit: null
    logging_steps: 5
    warmup_steps: 3
    weight_decay: 0.01
    learning_rate_multipliers: {crossattention: 10.0, decoder: 2.5}
    task_passes: 2
    max_input_length: 64
    max_target_length: 16
    max_new_tokens: 8
    bf16: true
    report_to: [tensorboard, wandb]
    training_args: {lr_scheduler_type: constant, adam_beta2: 0.98}
students:
  models: [{name: s, tiny: {}}]
"""


def test_flags_and_yaml_with_the_same_values_give_the_same_train_config(tmp_path):
    from_flags = train_config_from_args(training_parser().parse_args(FLAGS))
    config = validate_config(yaml.safe_load(YAML), base_dir=tmp_path)
    from_yaml = train_config(config.teacher.training, seed=0)
    assert from_flags == from_yaml
    # Every setting the config has is set to something other than its default, so none is left untested.
    unchanged = [item.name for item in TRAINING if getattr(from_yaml, item.name) == item.default]
    assert unchanged == [item.name for item in TRAINING if not item.setting.in_config]


def test_num_epochs_is_dumped_only_when_it_is_not_the_default():
    """It came to the config after runs were fingerprinted: at its default the dump (and so every stage
    fingerprint) is what it was before."""
    assert "num_epochs" not in TrainingConfig().model_dump(mode="json")
    assert TrainingConfig(max_steps=None, num_epochs=3.0).model_dump(mode="json")["num_epochs"] == 3.0
    assert TrainingConfig(num_epochs=3.0).model_dump()["num_epochs"] == 3.0


@pytest.mark.parametrize(
    ("flags", "problem"),
    [
        (["--batch-size", "0"], "must be at least 1, got '0'"),
        (["--max-steps", "0"], "must be at least 1, got '0'"),
        (["--learning-rate", "0"], "must be > 0, got '0'"),
        (["--warmup-steps", "-1"], "must be at least 0, got '-1'"),
        (["--learning-rate-multiplier", "decoder=0"], "must be > 0, got '0'"),
        (["--learning-rate-multiplier", "decoder"], "expected KEY=VALUE, got 'decoder'"),
        (["--training-arg", "=1"], "expected KEY=VALUE"),
        (["--eval-steps", "ten"], "expected int, got 'ten'"),
        (["--task-passes", "3"], "invalid choice"),
    ],
)
def test_flags_outside_the_declared_bounds_are_refused_by_the_parser(flags, problem):
    with pytest.raises(argparse.ArgumentError, match=problem):
        training_parser().parse_args(flags)


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"batch_size": 0}, r"TrainConfig\.batch_size must be at least 1, got 0"),
        ({"learning_rate": 0.0}, r"TrainConfig\.learning_rate must be > 0, got 0\.0"),
        ({"task_passes": 3}, r"TrainConfig\.task_passes must be 1 or 2, got 3"),
        ({"task_passes": True}, r"TrainConfig\.task_passes must be 1 or 2, got True"),
        ({"learning_rate_multipliers": {"x": 0}}, r"learning_rate_multipliers\['x'\] must be > 0, got 0"),
        ({"save_total_limit": 0}, r"TrainConfig\.save_total_limit must be at least 1, got 0"),
    ],
)
def test_train_config_checks_the_declared_bounds(settings, problem):
    with pytest.raises(ValueError, match=problem):
        TrainConfig(**settings)


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"batch_size": 0}, "greater than or equal to 1"),
        ({"learning_rate_multipliers": {"x": 0.0}}, "greater than 0"),
        ({"num_epochs": 0.0}, "greater than 0"),
    ],
)
def test_yaml_fields_take_the_declared_bounds(settings, problem):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=problem):
        TrainingConfig(**settings)
