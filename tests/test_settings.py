"""Each setting is declared once; the YAML fields, the command-line flags and the checks agree with it."""

from __future__ import annotations

import argparse

import pytest
import yaml

from tokendistill.attribution.options import METHOD_OPTIONS, IntegratedGradientsOptions
from tokendistill.commands import rationales as rationales_command
from tokendistill.commands.rationales import method_options_from_args
from tokendistill.commands.training_options import add_training_arguments, train_config_from_args
from tokendistill.errors import TokendistillError
from tokendistill.experiment.config import AttributionConfig, LoraConfig, TrainingConfig, validate_config
from tokendistill.experiment.plan import method_options, method_settings
from tokendistill.experiment.stages import train_config
from tokendistill.settings import declared_settings, settings_from_args
from tokendistill.training.config import LoraSettings, TrainConfig

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
MINIMAL = """\
output_dir: runs/x
task:
  name: synthetic-nli
teacher:
  tiny: {}
students:
  models: [{name: s, tiny: {}}]
"""
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


# Each attribution method's options: declared once (tokendistill.attribution.options).

OPTIONS = [(method, item) for method, cls in METHOD_OPTIONS.items() for item in declared_settings(cls)]


def rationales_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(exit_on_error=False)
    rationales_command.add_arguments(parser)
    return parser


def rationales_args(*flags: str) -> argparse.Namespace:
    return rationales_parser().parse_args(["--model", "m", "--task", "t", "--output", "o.jsonl", *flags])


def test_every_method_is_declared_with_its_options():
    from typing import get_args

    from tokendistill.attribution import METHODS
    from tokendistill.experiment.config import Method

    assert set(METHOD_OPTIONS) == set(METHODS) == set(get_args(Method))


@pytest.mark.parametrize(("method", "item"), OPTIONS, ids=lambda value: getattr(value, "name", value))
def test_every_method_option_has_a_yaml_field_and_a_flag_with_its_default(method, item):
    from tokendistill.attribution.engine import _build_method

    assert _build_method(method, {}).options == METHOD_OPTIONS[method]()  # what attribute() uses by default
    assert AttributionConfig.model_fields[item.name].get_default() == item.default
    flag = next(action for action in rationales_parser()._actions if action.dest == item.name)
    assert f"default: {'none' if item.default is None else item.default}" in flag.help
    # A flag left out passes nothing, so the method's own default applies.
    assert method_options_from_args(rationales_args("--method", method)) == {}


def test_integrated_gradients_defaults_to_the_pad_baseline_everywhere():
    """The config and the library used to disagree (pad in configs, zero in attribute() and the CLI)."""
    from tokendistill.attribution.methods import IntegratedGradients

    assert IntegratedGradients().options.baseline == "pad"
    assert AttributionConfig().baseline == "pad"


def test_method_flags_and_yaml_with_the_same_values_give_the_same_options(tmp_path):
    flags = ["--method", "integrated_gradients", "--n-steps", "8", "--baseline", "zero"]
    from_flags = method_options_from_args(rationales_args(*flags, "--internal-batch-size", "3"))
    attribution = (
        "attribution: {method: integrated_gradients, n_steps: 8, baseline: zero, internal_batch_size: 3}"
    )
    config = validate_config(yaml.safe_load(MINIMAL + attribution), base_dir=tmp_path)
    assert from_flags == method_settings(config.attribution, "integrated_gradients")
    assert from_flags == {"n_steps": 8, "baseline": "zero", "internal_batch_size": 3}
    # What changes only speed or memory stays out of the rationale stage's fingerprint inputs.
    assert method_options(config.attribution, "integrated_gradients") == {"n_steps": 8, "baseline": "zero"}
    assert method_settings(AttributionConfig(), "integrated_gradients") == {"n_steps": 50, "baseline": "pad"}
    assert (
        method_options(config.attribution, "saliency")
        == method_settings(config.attribution, "saliency")
        == {}
    )


def test_method_options_may_still_come_as_method_option_pairs():
    args = rationales_args("--method", "integrated_gradients", "--method-option", "n_steps=8",
                           "--method-option", "word_aggregation=max", "--baseline", "zero")  # fmt: skip
    assert method_options_from_args(args) == {"n_steps": 8, "word_aggregation": "max", "baseline": "zero"}


@pytest.mark.parametrize(
    ("flags", "problem"),
    [
        (["--n-steps", "8"], "--n-steps: method 'saliency' takes no option 'n_steps'"),
        (["--method", "integrated_gradients", "--n-steps", "8", "--method-option", "n_steps=9"],
         "--n-steps: n_steps is also given as --method-option"),
    ],
)  # fmt: skip
def test_method_flags_the_method_does_not_take_are_refused(flags, problem):
    with pytest.raises(TokendistillError, match=problem):
        method_options_from_args(rationales_args(*flags))


@pytest.mark.parametrize(
    ("flags", "problem"),
    [(["--n-steps", "0"], "must be at least 1, got '0'"), (["--baseline", "blur"], "invalid choice")],
)
def test_method_flags_outside_the_declared_bounds_are_refused_by_the_parser(flags, problem):
    with pytest.raises(argparse.ArgumentError, match=problem):
        rationales_args(*flags)


def test_method_options_are_checked_against_their_declaration():
    from pydantic import ValidationError

    with pytest.raises(ValueError, match=r"IntegratedGradientsOptions\.n_steps must be at least 1, got 0"):
        IntegratedGradientsOptions(n_steps=0)
    with pytest.raises(ValueError, match=r"IntegratedGradientsOptions\.baseline must be 'zero' or 'pad'"):
        IntegratedGradientsOptions(baseline="blur")
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        AttributionConfig(n_steps=0)


# LoRA: declared once (LoraSettings), as --lora-* flags of train-teacher and a config's teacher.lora.


def teacher_parser() -> argparse.ArgumentParser:
    from tokendistill.commands import train_teacher

    parser = argparse.ArgumentParser(exit_on_error=False)
    train_teacher.add_arguments(parser)
    return parser


def lora_from_flags(*flags: str) -> LoraSettings:
    args = teacher_parser().parse_args(["--model", "m", "--task", "t", "--output", "o", "--lora", *flags])
    return LoraSettings(**settings_from_args(args, LoraSettings, prefix="lora_"))


@pytest.mark.parametrize("item", declared_settings(LoraSettings), ids=lambda item: item.name)
def test_every_lora_setting_has_a_yaml_field_and_a_flag_with_its_default(item):
    assert LoraConfig.model_fields[item.name].get_default() == item.default
    assert getattr(lora_from_flags(), item.name) == item.default


def test_lora_flags_and_yaml_with_the_same_values_give_the_same_settings(tmp_path):
    from tokendistill.experiment.stages import lora_settings

    flags = ["--lora-r", "4", "--lora-alpha", "8", "--lora-dropout", "0", "--lora-target-module", "q",
             "--lora-target-module", "v"]  # fmt: skip
    lora = "  lora: {r: 4, alpha: 8, dropout: 0.0, target_modules: [q, v]}\n"
    config = validate_config(yaml.safe_load(MINIMAL.replace("  tiny: {}\n", "  tiny: {}\n" + lora, 1)))
    assert lora_from_flags(*flags) == lora_settings(config.teacher.lora)
    assert lora_settings(config.teacher.lora).target_modules == ("q", "v")
    with pytest.raises(argparse.ArgumentError, match="must be < 1"):
        lora_from_flags("--lora-dropout", "1")
