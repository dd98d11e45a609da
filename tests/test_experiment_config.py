"""The experiment config: defaults, overrides, and errors that name the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tokendistill.data.errors import DataError
from tokendistill.experiment.config import apply_overrides, config_to_yaml, load_config, validate_config
from tokendistill.experiment.demo import demo_config
from tokendistill.experiment.plan import build_plan, method_options
from tokendistill.experiment.runner import plan_fingerprints

REPO_ROOT = Path(__file__).resolve().parents[1]

MINIMAL = """\
output_dir: runs/x
task:
  name: synthetic-nli
teacher:
  tiny: {size: tiny}
students:
  models:
    - name: s
      tiny: {}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str, overrides: list[str] | None = None) -> DataError:
    with pytest.raises(DataError) as caught:
        load_config(write(tmp_path, text), overrides, base_dir=tmp_path)
    return caught.value


def test_minimal_config_gets_dss_defaults_and_absolute_paths(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), base_dir=tmp_path)
    assert config.output_dir == tmp_path / "runs" / "x"
    assert config.students.training.learning_rate == 5e-5 and config.students.training.batch_size == 64
    assert config.students.training.max_steps == 10_000 and config.students.training.max_input_length == 1024
    assert (
        config.students.alpha == 0.5 and config.attribution.k == 5 and config.attribution.method == "saliency"
    )
    assert config.seeds == [0] and config.task.validation_split == "validation"


def test_resolved_yaml_reloads_to_an_equal_config(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), ["sweeps.k=[1,3]"], base_dir=tmp_path)
    again = validate_config(yaml.safe_load(config_to_yaml(config)))
    assert again == config


TEACHER = "  tiny: {size: tiny}"
TASK = "  name: synthetic-nli"


def edit(old: str, new: str) -> str:
    return MINIMAL.replace(old, new)


@pytest.mark.parametrize(
    ("text", "field", "line", "problem"),
    [
        (edit(TEACHER, TEACHER + "\n  trainng: {}"), "teacher.trainng", 6, "unknown field"),
        (MINIMAL + "students_alpha: 0.3\n", "students_alpha", 10, "unknown field"),
        (edit("      tiny: {}", "      tiny: {}\n  alpha: lots"), "students.alpha", 10, "valid number"),
        (edit(TEACHER, "  tiny: {size: huge}"), "teacher.tiny.size", 5, "huge"),
        (MINIMAL + "seeds: [0, zero]\n", "seeds.1", 10, "valid integer"),
        # numpy's seeding takes 0 .. 2**32 - 1: anything else failed only once the teacher trained
        (MINIMAL + "seeds: [0, -1]\n", "seeds.1", 10, "greater than or equal to 0"),
        (MINIMAL + "seeds: [4294967296]\n", "seeds.0", 10, "less than or equal to 4294967295"),
        (edit(TEACHER, TEACHER + "\n  seed: -3"), "teacher.seed", 6, "greater than or equal to 0"),
        (edit(TASK, TASK + "\n  data_dir: nowhere"), "task.data_dir", 4, "folder not found"),
        (edit(TEACHER, "  model: ./no-such-model"), "teacher.model", 5, "not found"),
        (edit(TASK, "  name: no-such-task"), "task.name", 3, "unknown task"),
        (edit("output_dir: runs/x\n", ""), "output_dir", 1, "required field is missing"),
        # '' and '.' are the working folder: the run's stage folders would land among the user's files
        (edit("output_dir: runs/x", "output_dir: ''"), "output_dir", 1, "working folder itself"),
        (edit("output_dir: runs/x", "output_dir: ."), "output_dir", 1, "working folder itself"),
        (
            edit(TEACHER, TEACHER + "\n  training: {learning_rate: .inf}"),
            "teacher.training.learning_rate",
            6,
            "less than inf",
        ),
        (edit(TEACHER, TEACHER + "\n  model: google/flan-t5-xl"), "teacher", 4, "exactly one of"),
        (edit(TEACHER, TEACHER + "\n  pretrained: {name: minilm}"), "teacher", 4, "exactly one of"),
        (edit(TEACHER, "  pretrained: {name: bert}"), "teacher.pretrained.name", 5, "minilm"),
        (
            edit(TEACHER, "  pretrained: {name: minilm, encoder_layers: 7}"),
            "teacher.pretrained.encoder_layers",
            5,
            "6 layers",
        ),
        (
            edit(TEACHER, "  pretrained: {name: mpnet, decoder_layers: 13}"),
            "teacher.pretrained.decoder_layers",
            5,
            "12 layers",
        ),
        (MINIMAL + "  modes: [standard, dss]\n", "students", 6, "palm_dir"),
        (edit(TASK, TASK + "\n  test_split: train"), "task", 2, "also used for training"),
    ],
)
def test_bad_config_fails_naming_file_line_and_field(tmp_path, text, field, line, problem):
    error = error_of(tmp_path, text)
    assert error.field == field
    assert error.line == line
    assert problem in error.problem
    assert str(tmp_path / "config.yaml") in str(error)


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(DataError, match="config file not found") as caught:
        load_config(tmp_path / "absent.yaml")
    assert caught.value.path == str(tmp_path / "absent.yaml")


def test_a_config_that_is_not_utf8_names_the_line(tmp_path):
    """A DataError, not a UnicodeDecodeError traceback."""
    path = tmp_path / "config.yaml"
    path.write_bytes(MINIMAL.encode() + "# caf\u00e9\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8 text") as caught:
        load_config(path, base_dir=tmp_path)
    assert (caught.value.path, caught.value.line) == (str(path), 10)


def test_invalid_yaml_names_the_line(tmp_path):
    error = error_of(tmp_path, MINIMAL + "students: [unclosed\n")
    assert "invalid YAML" in error.problem and error.line is not None


def test_overrides_set_nested_fields_lists_and_yaml_scalars(tmp_path):
    overrides = [
        "students.alpha=0.3",
        "seeds=[1, 2]",
        "teacher.lora.r=8",  # lora is absent: the mapping is created
        "students.models.0.tiny.size=small",
        "task.options.size=50",
        "teacher.training.bf16=true",
        "attribution.method=integrated_gradients",
    ]
    config = load_config(write(tmp_path, MINIMAL), overrides, base_dir=tmp_path)
    assert config.students.alpha == 0.3 and config.seeds == [1, 2]
    assert config.teacher.lora.r == 8 and config.teacher.lora.alpha == 32
    assert config.students.models[0].tiny.size == "small"
    assert config.task.options == {"size": 50} and config.teacher.training.bf16 is True
    assert config.attribution.method == "integrated_gradients"


def test_overrides_do_not_change_the_input_mapping():
    data = {"a": {"b": 1}}
    assert apply_overrides(data, ["a.b=2", "a.c.d=x"]) == {"a": {"b": 2, "c": {"d": "x"}}}
    assert data == {"a": {"b": 1}}


@pytest.mark.parametrize(
    ("override", "field", "problem"),
    [
        ("students.alpah=0.3", "students.alpah", "unknown field"),
        ("students.alpha=2", "students.alpha", "less than or equal to 1"),
        ("attribution.k=many", "attribution.k", "valid integer"),
    ],
)
def test_bad_override_is_blamed_on_the_override(tmp_path, override, field, problem):
    error = error_of(tmp_path, MINIMAL, [override])
    assert error.path == f"command line override {override!r}" and error.line is None
    assert error.field == field and problem in error.problem


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ("students.alpha", "not of the form"),
        ("students.models.3.name=x", "out of range"),
        ("=1", "not of the form"),
    ],
)
def test_malformed_override_fails_at_once(tmp_path, override, problem):
    assert problem in error_of(tmp_path, MINIMAL, [override]).problem


def test_sweeps_run_the_union_of_k_values_and_methods(tmp_path):
    config = load_config(
        write(tmp_path, MINIMAL),
        ["sweeps.k=[1, 5, 10]", "sweeps.methods=[integrated_gradients]"],
        base_dir=tmp_path,
    )
    assert config.k_values() == [5, 1, 10]
    assert config.methods() == ["saliency", "integrated_gradients"]
    assert config.rationale_settings() == [
        ("saliency", 5),
        ("saliency", 1),
        ("saliency", 10),
        ("integrated_gradients", 5),
    ]


def test_alpha_sweep_repeats_two_task_students_and_leaves_the_main_stages_as_they_were(tmp_path):
    path = write(tmp_path, MINIMAL)
    plain = load_config(path, ["students.modes=[standard, rationale, random]"], base_dir=tmp_path)
    swept = load_config(
        path, ["students.modes=[standard, rationale, random]", "sweeps.alpha=[0.5, 0.9]"], base_dir=tmp_path
    )
    plain_prints, swept_prints = plan_fingerprints(build_plan(plain)), plan_fingerprints(build_plan(swept))
    # Every stage of the run without the sweep is still there, with the same fingerprint (nothing reruns
    # but the report, which reads the new students too).
    kept = {key: value for key, value in plain_prints.items() if key != "report"}
    assert {key: swept_prints[key] for key in kept} == kept
    added = {stage.key: stage.inputs for stage in build_plan(swept) if stage.key not in plain_prints}
    students = {key: inputs for key, inputs in added.items() if key.startswith("students/")}
    # 0.5 is the main alpha: only 0.9 adds settings, and only for the two-task modes.
    assert sorted(students) == [
        "students/s/random-k5-alpha0.9/seed0",
        "students/s/rationale-saliency-k5-alpha0.9/seed0",
    ]
    assert all(inputs["alpha"] == 0.9 for inputs in students.values())
    main = next(stage for stage in build_plan(swept) if stage.key == "students/s/random-k5/seed0")
    assert main.inputs["alpha"] == 0.5


def test_each_student_stage_trains_with_its_own_alpha(tmp_path, monkeypatch):
    """The stage implementation hands the trainer the alpha of its setting, not the config's main one."""
    from tokendistill.experiment import stages
    from tokendistill.experiment.runner import StageContext

    overrides = ["students.modes=[standard, random]", "sweeps.alpha=[0.9]"]
    config = load_config(write(tmp_path, MINIMAL), overrides, base_dir=tmp_path)
    trained = {}
    monkeypatch.setattr(stages, "initial_model", lambda *args: "model")
    monkeypatch.setattr(stages, "train_student", lambda *args, **kwargs: trained.update(kwargs))
    for key, alpha in (("students/s/random-k5/seed0", 0.5), ("students/s/random-k5-alpha0.9/seed0", 0.9)):
        stage = next(stage for stage in build_plan(config) if stage.key == key)
        stages.student_stage(StageContext(config, stage, tmp_path))
        assert (trained["mode"], trained["alpha"]) == ("random", alpha)


@pytest.mark.parametrize("alphas", ["[0.5, 0.5]", "[1.5]"])
def test_bad_alpha_sweep_is_named(tmp_path, alphas):
    assert error_of(tmp_path, MINIMAL, [f"sweeps.alpha={alphas}"]).field.startswith("sweeps.alpha")


def test_train_size_sweep_repeats_each_mode_at_the_main_settings_and_keeps_the_main_stages(tmp_path):
    path = write(tmp_path, MINIMAL)
    modes = "students.modes=[standard, rationale, random]"
    plain = load_config(path, [modes, "sweeps.k=[1]"], base_dir=tmp_path)
    swept = load_config(
        path,
        [modes, "sweeps.k=[1]", "sweeps.alpha=[0.9]", "sweeps.train_examples=[50, 200]"],
        base_dir=tmp_path,
    )
    plain_prints, swept_prints = plan_fingerprints(build_plan(plain)), plan_fingerprints(build_plan(swept))
    kept = {key: value for key, value in plain_prints.items() if key != "report"}
    assert {key: swept_prints[key] for key in kept} == kept
    students = {
        stage.key: stage.inputs
        for stage in build_plan(swept)
        if stage.kind == "student" and stage.key.endswith(("-n50/seed0", "-n200/seed0"))
    }
    # Each mode at the main k and alpha, at each size; neither the k=1 nor the alpha=0.9 settings repeat.
    assert sorted(students) == [
        f"students/s/{slug}-n{n}/seed0"
        for slug in ("random-k5", "rationale-saliency-k5", "standard")
        for n in (200, 50)
    ]
    assert {inputs["train_examples"] for key, inputs in students.items() if "-n50/" in key} == {50}
    assert all("train_examples" not in stage.inputs for stage in build_plan(plain))


def test_rationales_cover_the_largest_student_training_set_only_when_every_student_is_capped(
    tmp_path, monkeypatch
):
    path = write(tmp_path, MINIMAL)
    capped = load_config(
        path, ["students.train_examples=100", "sweeps.train_examples=[300, 50]"], base_dir=tmp_path
    )
    assert capped.student_train_sizes() == [100, 300, 50] and capped.rationale_examples() == 300
    (stage,) = [stage for stage in build_plan(capped) if stage.kind == "rationales"]
    assert stage.inputs["examples"] == 300
    main = next(stage for stage in build_plan(capped) if stage.key == "students/s/standard/seed0")
    assert main.inputs["train_examples"] == 100
    from tokendistill.experiment import stages
    from tokendistill.experiment.runner import StageContext

    asked = {}
    monkeypatch.setattr(stages, "generate_rationales", lambda *args, **kwargs: asked.update(kwargs))
    stages.rationales_stage(StageContext(capped, stage, tmp_path))
    assert asked["limit"] == 300
    whole = load_config(path, ["sweeps.train_examples=[300]"], base_dir=tmp_path)
    assert whole.rationale_examples() is None
    assert all("examples" not in stage.inputs for stage in build_plan(whole) if stage.kind == "rationales")


def test_each_student_stage_trains_on_its_own_prefix_of_the_training_split(tmp_path, monkeypatch):
    from tokendistill.experiment import stages
    from tokendistill.experiment.runner import StageContext

    overrides = ["students.modes=[standard]", "task.options={size: 40}", "sweeps.train_examples=[10]"]
    config = load_config(write(tmp_path, MINIMAL), overrides, base_dir=tmp_path)
    seen = {}
    monkeypatch.setattr(
        stages, "initial_model", lambda spec, task, *args: seen.update(init=task.load("train"))
    )
    monkeypatch.setattr(
        stages, "train_student", lambda model, task, *a, **k: seen.update(train=task.load("train"))
    )
    full = stages.ExperimentTask(config.task).load("train")
    for key, size in (("students/s/standard/seed0", 40), ("students/s/standard-n10/seed0", 10)):
        stage = next(stage for stage in build_plan(config) if stage.key == key)
        stages.student_stage(StageContext(config, stage, tmp_path))
        # The tiny model's tokenizer and the training both see only the first ``size`` examples.
        assert [e.id for e in seen["init"]] == [e.id for e in seen["train"]] == [e.id for e in full[:size]]


def test_a_student_training_set_larger_than_the_split_is_refused(tmp_path):
    from tokendistill.data.errors import TaskError
    from tokendistill.experiment.splits import ExperimentTask

    config = load_config(write(tmp_path, MINIMAL), ["task.options={size: 40}"], base_dir=tmp_path)
    with pytest.raises(TaskError, match=r"asked to train on 41 examples.*has 40"):
        ExperimentTask(config.task, 41).load("train")
    assert len(ExperimentTask(config.task, 40).load("train")) == 40


@pytest.mark.parametrize("sizes", ["[10, 10]", "[0]"])
def test_bad_train_size_sweep_is_named(tmp_path, sizes):
    assert error_of(tmp_path, MINIMAL, [f"sweeps.train_examples={sizes}"]).field.startswith(
        "sweeps.train_examples"
    )


@pytest.mark.parametrize(("overrides", "baseline"), [([], "pad"), (["attribution.baseline=zero"], "zero")])
def test_integrated_gradients_stages_carry_their_baseline(tmp_path, overrides, baseline):
    """IG rationales start from the pad embedding unless the config says otherwise (the zero baseline is
    degenerate on T5); the baseline is part of the stage's inputs, so changing it recomputes the stage."""
    config = load_config(
        write(tmp_path, MINIMAL), ["sweeps.methods=[integrated_gradients]", *overrides], base_dir=tmp_path
    )
    rationale_stages = [stage for stage in build_plan(config) if stage.kind == "rationales"]
    by_method = {stage.inputs["method"]: stage.inputs for stage in rationale_stages}
    assert by_method["integrated_gradients"]["baseline"] == baseline
    assert by_method["integrated_gradients"]["n_steps"] == config.attribution.n_steps
    assert "baseline" not in by_method["saliency"]
    assert method_options(config.attribution, "integrated_gradients") == {"n_steps": 50, "baseline": baseline}


def test_unknown_baseline_is_named(tmp_path):
    error = error_of(tmp_path, MINIMAL, ["attribution.baseline=blur"])
    assert error.field == "attribution.baseline" and "'zero' or 'pad'" in error.problem


def test_demo_config_is_valid_and_overridable():
    config = demo_config(["seeds=[0]"])
    assert config.task.name.startswith("synthetic") and config.seeds == [0]
    assert config.teacher.tiny is not None and all(model.tiny is not None for model in config.students.models)
    assert set(config.students.modes) == {"standard", "rationale", "random"}


BENCHMARKS = ("anli1", "cqa", "esnli", "svamp")
PAPER = sorted((REPO_ROOT / "configs" / "paper").glob("*.yaml"))
LOCAL = sorted(path for path in (REPO_ROOT / "configs" / "local").glob("*.yaml") if path.stem in BENCHMARKS)
MODERN = sorted((REPO_ROOT / "configs" / "modern").glob("*.yaml"))


def test_paper_and_local_configs_cover_the_four_benchmarks():
    names = {"anli1.yaml", "esnli.yaml", "cqa.yaml", "svamp.yaml"}
    assert {path.name for path in PAPER} == names and {path.name for path in LOCAL} == names


@pytest.mark.parametrize("path", PAPER, ids=lambda path: path.stem)
def test_paper_config_is_the_papers_setup(path, tmp_path):
    config = load_config(path, [f"task.palm_dir={tmp_path}"], base_dir=REPO_ROOT)
    assert config.task.name == path.stem and config.task.data_dir is None  # from the Hub
    assert config.teacher.model == "google/flan-t5-xl"
    assert [model.model for model in config.students.models] == ["google-t5/t5-small", "google/flan-t5-small"]
    assert (config.attribution.method, config.attribution.k, config.students.alpha) == ("saliency", 5, 0.5)
    training = config.students.training
    assert (training.learning_rate, training.batch_size, training.max_input_length, training.max_steps) == (
        5e-5,
        64,
        1024,
        10_000,
    )
    assert set(config.students.modes) == {"standard", "rationale", "dss", "random"}


@pytest.mark.parametrize("path", LOCAL, ids=lambda path: path.stem)
def test_local_config_validates_against_the_shared_data(path, shared_data):
    # As written, the data folder is the repository's sibling shared/data (the fixture may point elsewhere).
    assert yaml.safe_load(path.read_text())["task"]["data_dir"] == "../shared/data"
    config = load_config(path, [f"task.data_dir={shared_data}"], base_dir=REPO_ROOT)
    assert config.task.name == path.stem and config.task.data_dir == shared_data.resolve()
    assert config.teacher.tiny is not None and all(model.tiny is not None for model in config.students.models)
    assert set(config.students.modes) == {"standard", "rationale", "dss", "random"}


@pytest.mark.parametrize("path", MODERN, ids=lambda path: path.stem)
def test_modern_configs_pair_decoder_only_models(path, tmp_path):
    config = load_config(path, [f"task.palm_dir={tmp_path}"], base_dir=REPO_ROOT)
    assert config.task.name in BENCHMARKS and config.task.data_dir is None  # from the Hub
    assert config.teacher.model in ("Qwen/Qwen2.5-7B-Instruct", "google/flan-t5-xl")
    assert config.teacher.lora is not None and config.teacher.training.bf16
    assert [model.model for model in config.students.models] == ["Qwen/Qwen2.5-0.5B"]
    assert set(config.students.modes) == {"standard", "rationale", "dss", "random"}


def test_modern_configs_cover_the_four_benchmarks_with_qwen_teachers(tmp_path):
    configs = [load_config(path, [f"task.palm_dir={tmp_path}"], base_dir=REPO_ROOT) for path in MODERN]
    qwen = [config.task.name for config in configs if config.teacher.model == "Qwen/Qwen2.5-7B-Instruct"]
    assert sorted(qwen) == sorted(BENCHMARKS)


def test_local_decoder_only_config_builds_tiny_llamas():
    config = load_config(REPO_ROOT / "configs" / "local" / "synthetic-causal.yaml", base_dir=REPO_ROOT)
    assert config.task.name == "synthetic-nli"
    assert config.teacher.tiny.architecture == "llama"
    assert [model.tiny.architecture for model in config.students.models] == ["llama"]


def test_training_section_maps_onto_the_trainers_settings():
    """The config's training section is TrainConfig less what the run decides, so the two cannot drift."""
    from dataclasses import fields

    from tokendistill.experiment.config import TrainingConfig
    from tokendistill.experiment.stages import train_config
    from tokendistill.training.config import TrainConfig

    section = TrainingConfig(learning_rate=1e-3, max_steps=7, report_to=["tensorboard"], bf16=True)
    settings = train_config(section, seed=3)
    assert isinstance(settings, TrainConfig) and settings.seed == 3
    assert settings.learning_rate == 1e-3 and settings.max_steps == 7 and settings.bf16
    assert settings.report_to == ("tensorboard",)
    # The run sets the seed and caps examples in the task section.
    not_exposed = {"seed", "max_train_examples", "max_eval_examples"}
    assert set(TrainingConfig.model_fields) == {f.name for f in fields(TrainConfig)} - not_exposed


def test_config_choices_match_the_engines():
    from typing import get_args

    from tokendistill.attribution import METHODS
    from tokendistill.experiment.config import Method, Mode
    from tokendistill.training.student import STUDENT_MODES

    assert set(get_args(Method)) == set(METHODS)
    assert set(get_args(Mode)) == set(STUDENT_MODES)


# Issue 11: what used to pass loading and fail later, or was silently coerced, is refused at load time.

ATTRIBUTION = "attribution:\n  k: {}\n"


@pytest.mark.parametrize(
    ("text", "field", "line", "problem"),
    [
        (MINIMAL + ATTRIBUTION.format("true"), "attribution.k", 11, "valid integer"),
        (MINIMAL + ATTRIBUTION.format('"5"'), "attribution.k", 11, "valid integer"),
        (MINIMAL + ATTRIBUTION.format("5.0"), "attribution.k", 11, "valid integer"),
        (MINIMAL + ATTRIBUTION.format("0"), "attribution.k", 11, "greater than or equal to 1"),
        (MINIMAL + ATTRIBUTION.format("500"), "attribution.k", 11, "less than or equal to 100"),
        (MINIMAL + "sweeps:\n  k: [3, 1000]\n", "sweeps.k.1", 11, "less than or equal to 100"),
        (MINIMAL + '  alpha: "0.5"\n', "students.alpha", 10, "valid number"),
        (MINIMAL + "seeds: [0, true]\n", "seeds.1", 10, "valid integer"),
        (edit(TEACHER, TEACHER + '\n  training: {max_steps: "100"}'), "teacher.training.max_steps", 6,
         "valid integer"),
        (edit(TEACHER, TEACHER + '\n  training: {bf16: "yes"}'), "teacher.training.bf16", 6, "valid boolean"),
        (edit(TEACHER, TEACHER + "\n  training: {task_passes: true}"), "teacher.training.task_passes", 6,
         "expected 1 or 2"),
        (edit(TASK, TASK + "\n  options: {sise: 50}"), "task.options.sise", 4,
         "task 'synthetic-nli' has no option 'sise'; its options are size, validation_size, test_size, seed"),
        (edit(TASK, TASK + '\n  options: {size: "50"}'), "task.options.size", 4, "valid integer"),
        (edit(TASK, "  name: cqa\n  options: {size: 5}"), "task.options.size", 4, "takes no options"),
        (edit(TEACHER, TEACHER + "\n  training:\n    training_args: {output_dir: /elsewhere}"),
         "teacher.training.training_args.output_dir", 7, "checkpoints go in the model folder"),
        # applied last, these would silently replace the run's own settings or its model selection
        (edit(TEACHER, TEACHER + "\n  training:\n    training_args: {learning_rate: 0.1}"),
         "teacher.training.training_args.learning_rate", 7, "use learning_rate (--learning-rate)"),
        (edit(TEACHER, TEACHER + "\n  training:\n    training_args: {per_device_train_batch_size: 2}"),
         "teacher.training.training_args.per_device_train_batch_size", 7, "use batch_size (--batch-size)"),
        (edit(TEACHER, TEACHER + "\n  training:\n    training_args: {save_steps: 3}"),
         "teacher.training.training_args.save_steps", 7, "keeps the checkpoint best on validation accuracy"),
    ],
)  # fmt: skip
def test_late_or_coerced_values_fail_at_load_naming_file_line_and_field(tmp_path, text, field, line, problem):
    error = error_of(tmp_path, text)
    assert (error.field, error.line) == (field, line)
    assert problem in error.problem
    assert error.path == str(tmp_path / "config.yaml")


def test_duplicate_key_names_both_lines(tmp_path):
    error = error_of(tmp_path, edit(TEACHER, TEACHER + "\n  seed: 1\n  seed: 2"))
    assert (error.field, error.line) == ("teacher.seed", 7)
    assert "duplicate key" in error.problem and "line 6" in error.problem


def test_exponent_numbers_read_as_numbers_in_the_file_and_in_overrides(tmp_path):
    text = edit(TEACHER, TEACHER + "\n  training: {learning_rate: 3e-4}")
    config = load_config(write(tmp_path, text), ["students.training.learning_rate=1E-3"], base_dir=tmp_path)
    assert config.teacher.training.learning_rate == 3e-4 and config.students.training.learning_rate == 1e-3


def test_training_args_the_run_does_not_set_pass_through(tmp_path):
    text = edit(TEACHER, TEACHER + "\n  training:\n    training_args: {lr_scheduler_type: constant}")
    config = load_config(write(tmp_path, text), base_dir=tmp_path)
    assert config.teacher.training.training_args == {"lr_scheduler_type": "constant"}


def test_output_dir_in_training_args_from_an_override_is_blamed_on_it(tmp_path):
    override = "students.training.training_args.output_dir=/elsewhere"
    error = error_of(tmp_path, MINIMAL, [override])
    assert error.path == f"command line override {override!r}"
    assert error.field == "students.training.training_args.output_dir"


JSONL = """\
output_dir: runs/x
task:
  name: jsonl
  options:
    input_fields: [text]
    target_field: label
    files: {{train: {train}, validation: {validation}, test: test.jsonl}}
teacher:
  tiny: {{}}
students:
  models: [{{name: s, tiny: {{}}}}]
"""


@pytest.fixture
def jsonl_dir(tmp_path):
    for split in ("train", "validation", "test"):
        (tmp_path / f"{split}.jsonl").write_text('{"text": "a b", "label": "x"}\n')
    (tmp_path / "folder.jsonl").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    ("train", "validation", "field", "problem"),
    [
        ("missing.jsonl", "validation.jsonl", "task.options.files.train", "data file not found"),
        ("train.jsonl", "folder.jsonl", "task.options.files.validation", "is a folder, not a data file"),
        ("train.jsonl", "notes.txt", "task.options", "unknown file type"),
    ],
)
def test_jsonl_data_files_are_checked_at_load(jsonl_dir, train, validation, field, problem):
    error = error_of(jsonl_dir, JSONL.format(train=train, validation=validation))
    assert error.field == field and problem in error.problem.lower()
    assert error.line == (7 if "files" in field else 4)


def test_jsonl_files_are_found_from_data_dir_and_every_used_split_needs_one(jsonl_dir, tmp_path):
    text = JSONL.format(train="train.jsonl", validation="validation.jsonl")
    config = load_config(write(jsonl_dir, text), base_dir=jsonl_dir)
    assert config.task.options["files"]["train"] == "train.jsonl"  # as written: fingerprints unchanged
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Relative files are read from data_dir when there is one (else the working directory).
    assert load_config(write(elsewhere, text), [f"task.data_dir={jsonl_dir}"], base_dir=elsewhere)
    error = error_of(jsonl_dir, text, [f"task.data_dir={elsewhere}"])
    assert "data file not found" in error.problem and str(elsewhere / "train.jsonl") in error.problem
    no_test = text.replace(", test: test.jsonl", "")
    error = error_of(jsonl_dir, no_test)
    assert error.field == "task.options.files" and "no file for split 'test'" in error.problem
    error = error_of(jsonl_dir, text.replace("    target_field: label\n", ""))
    assert error.field == "task.options" and "needs option(s) target_field" in error.problem


def test_an_alias_to_its_own_holder_is_named_while_shared_anchors_load(tmp_path):
    """``a: &a [*a]`` made PyYAML build a list that holds itself: a RecursionError traceback."""
    error = error_of(tmp_path, MINIMAL + "sweeps:\n  k: &ks [1, *ks]\n")
    assert (error.line, error.problem) == (11, "an alias refers to a node that holds it; remove the cycle")
    shared = MINIMAL.replace("  tiny: {size: tiny}", "  tiny: &tiny {size: tiny}").replace(
        "      tiny: {}", "      tiny: *tiny"
    )
    config = load_config(write(tmp_path, shared), base_dir=tmp_path)
    assert config.students.models[0].tiny.size == config.teacher.tiny.size == "tiny"
