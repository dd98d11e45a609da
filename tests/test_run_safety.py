"""A run deletes only what it made, and refuses what would stop it later before any stage runs (issue 11)."""

from __future__ import annotations

import json

import pytest

from test_experiment_runner import StubStages, make_config, run
from tokendistill.cli import main
from tokendistill.data.errors import DataError
from tokendistill.experiment import config as config_module
from tokendistill.experiment.config import check_machine, load_config
from tokendistill.experiment.runner import MARKER, RESOLVED_CONFIG, RunFolderError, read_marker
from tokendistill.files import temporary_path

USER_FILE = "my-notes.txt"


def plant(folder, name=USER_FILE, text="the user's own file"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


@pytest.mark.parametrize("key", ["teacher", "students/s/standard/seed0", "report"])
def test_a_stage_folder_holding_a_users_file_is_refused_and_kept(tmp_path, key):
    config = make_config(tmp_path)
    planted = plant(config.output_dir / key)
    stubs = StubStages()
    with pytest.raises(RunFolderError) as caught:
        run(config, stubs)
    assert caught.value.path == str(config.output_dir / key)
    assert USER_FILE in str(caught.value) and "move it away or choose another output_dir" in str(caught.value)
    assert planted.read_text() == "the user's own file"
    assert stubs.calls == []  # refused before any stage ran, not when the stage came up
    assert not (config.output_dir / RESOLVED_CONFIG).exists()


def test_the_refusal_reaches_the_command_line_as_one_line(tmp_path, capsys, monkeypatch):
    stubs = StubStages()  # should the refusal fail, stubs run instead of real training
    monkeypatch.setattr("tokendistill.commands.run.IMPLEMENTATIONS", stubs.implementations())
    config_path = tmp_path / "config.yaml"
    config_path.write_text(
        "output_dir: run\ntask: {name: synthetic-nli, options: {size: 20}}\nteacher: {tiny: {}}\n"
        "students: {models: [{name: s, tiny: {}}]}\n"
    )
    planted = plant(tmp_path / "run" / "teacher")
    code = main(["run", str(config_path), f"output_dir={tmp_path / 'run'}"])
    assert code != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(tmp_path / "run" / "teacher") in err and USER_FILE in err
    assert planted.exists() and stubs.calls == []


def test_a_file_in_place_of_a_stage_folder_is_refused(tmp_path):
    config = make_config(tmp_path)
    config.output_dir.mkdir(parents=True)
    (config.output_dir / "report").write_text("not a folder")
    with pytest.raises(RunFolderError, match="in the way of a stage folder"):
        run(config)
    assert (config.output_dir / "report").read_text() == "not a folder"


def test_an_empty_folder_or_one_left_by_a_kill_while_claiming_it_is_adopted(tmp_path):
    config = make_config(tmp_path)
    (config.output_dir / "teacher").mkdir(parents=True)
    temporary_path(config.output_dir / "report" / MARKER).parent.mkdir(parents=True)
    temporary_path(config.output_dir / "report" / MARKER).write_text('{"half": ')
    stubs = run(config)
    assert "teacher" in stubs.calls and "report" in stubs.calls
    assert read_marker(config.output_dir / "teacher")["status"] == "done"


def test_an_outdated_folder_of_its_own_is_still_emptied_and_rerun(tmp_path):
    """The guard must not simply disable clearing: a stage folder carrying the run's marker but made for
    another config is emptied and the stage runs again; files beside the stage folders are left alone."""
    run(make_config(tmp_path))
    output_dir = tmp_path / "run"
    stale = output_dir / "teacher" / "checkpoint-500"
    stale.mkdir()
    (stale / "weights.bin").write_text("from the old config")
    beside = [plant(output_dir), plant(output_dir / "students"), plant(output_dir / "rationales")]
    stubs = run(make_config(tmp_path, teacher__seed=1))
    assert "teacher" in stubs.calls and stubs.resumed == []
    assert not stale.exists()
    assert read_marker(output_dir / "teacher")["status"] == "done"
    assert all(path.read_text() == "the user's own file" for path in beside)


def test_a_users_file_dropped_into_an_outdated_folder_of_its_own_goes_with_it(tmp_path):
    """Ownership is by folder: a folder with the marker is the run's (documented; the marker says so)."""
    run(make_config(tmp_path))
    planted = plant(tmp_path / "run" / "teacher")
    run(make_config(tmp_path, teacher__seed=1))
    assert not planted.exists()


def test_a_marker_that_is_not_ours_is_refused(tmp_path):
    config = make_config(tmp_path)
    (config.output_dir / "teacher").mkdir(parents=True)
    (config.output_dir / "teacher" / MARKER).write_text(json.dumps({"mine": True}))
    with pytest.raises(RunFolderError, match="not a stage marker"):
        run(config)
    assert (config.output_dir / "teacher" / MARKER).exists()


# bf16 on a machine without it: refused with the config's file, line and field before any stage runs.

BF16 = """\
output_dir: run
task:
  name: synthetic-nli
teacher:
  tiny: {}
  training:
    max_steps: 2
    bf16: true
students:
  models: [{name: s, tiny: {}}]
"""


@pytest.fixture
def no_bf16(monkeypatch):
    monkeypatch.setattr(config_module, "bf16_unsupported", lambda args=None: "this machine has no bf16 GPU")


def test_bf16_without_support_is_refused_naming_file_line_and_field(tmp_path, no_bf16):
    path = tmp_path / "config.yaml"
    path.write_text(BF16)
    config = load_config(path, base_dir=tmp_path)  # loading (and --status) does not ask the machine
    stubs = StubStages()
    with pytest.raises(DataError) as caught:
        run(config, stubs)
    error = caught.value
    assert (error.path, error.line, error.field) == (str(path), 8, "teacher.training.bf16")
    assert "no bf16 GPU" in error.problem and "set it to false" in error.problem
    assert stubs.calls == [] and not (tmp_path / "run").exists()


def test_bf16_from_an_override_or_training_args_is_blamed_there(tmp_path, no_bf16):
    path = tmp_path / "config.yaml"
    path.write_text(BF16.replace("bf16: true", "bf16: false"))
    override = "students.training.bf16=true"
    with pytest.raises(DataError) as caught:
        check_machine(load_config(path, [override], base_dir=tmp_path))
    assert caught.value.path == f"command line override {override!r}"
    assert caught.value.field == "students.training.bf16"

    path.write_text(BF16.replace("bf16: true", "training_args: {bf16: true}"))
    with pytest.raises(DataError) as caught:
        check_machine(load_config(path, base_dir=tmp_path))
    assert (caught.value.line, caught.value.field) == (8, "teacher.training.training_args.bf16")


def test_bf16_passes_where_supported_or_on_the_cpu_by_choice(tmp_path, monkeypatch):
    path = tmp_path / "config.yaml"
    path.write_text(BF16)
    monkeypatch.setattr(config_module, "bf16_unsupported", lambda args=None: None)
    check_machine(load_config(path, base_dir=tmp_path))
    monkeypatch.undo()
    path.write_text(BF16.replace("bf16: true", "bf16: true\n    training_args: {use_cpu: true}"))
    check_machine(load_config(path, base_dir=tmp_path))  # transformers accepts bf16 on the CPU with use_cpu


def test_bf16_check_agrees_with_transformers(monkeypatch):
    """Whatever this machine is, the early check and TrainingArguments decide alike."""
    from transformers import Seq2SeqTrainingArguments

    from tokendistill.training.config import bf16_unsupported

    try:
        Seq2SeqTrainingArguments(output_dir="unused", bf16=True, report_to="none")
        transformers_accepts = True
    except ValueError as error:
        assert "bf16" in str(error)
        transformers_accepts = False
    assert (bf16_unsupported() is None) == transformers_accepts


def test_paper_config_asks_for_bf16_at_the_teacher(no_bf16, tmp_path):
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    path = repo / "configs" / "paper" / "cqa.yaml"
    with pytest.raises(DataError) as caught:
        check_machine(load_config(path, [f"task.palm_dir={tmp_path}"], base_dir=repo))
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "bf16: true" in text)
    assert (caught.value.path, caught.value.line, caught.value.field) == (
        str(path),
        line,
        "teacher.training.bf16",
    )
