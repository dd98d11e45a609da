"""A user's mistake ends every command with one line, ``tokendistill: error: ...``, and exit status 2.

Bad data, an unknown task or task option, a folder where a file belongs: no traceback unless ``--debug``
asks for it. The data is read before any model is loaded, so these tests name a model that does not exist.
"""

from __future__ import annotations

import gzip
import json
import pickle
import shutil
import zlib
from pathlib import Path

import pytest
import yaml

from tokendistill.attribution.sharding import StaleShardsError
from tokendistill.cli import EXIT_USER_ERROR, main
from tokendistill.data.errors import DataError, TaskError, UnknownTaskError
from tokendistill.errors import TokendistillError
from tokendistill.experiment.runner import RunFolderError

SPLITS = ("train", "validation", "test")
JSONL_OPTIONS = "input_fields, target_field, files, id_field, labels, separator"


def truncate(path: Path) -> int:
    """Cut the gzip file ``path`` in half; return the first line that can no longer be read."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return zlib.decompressobj(wbits=31).decompress(data[: len(data) // 2]).count(b"\n") + 1


def command_line(command: str, task: list[str], tmp_path: Path) -> list[str]:
    """``command`` with ``task`` options and whatever else it requires; the model does not exist."""
    model = ["--model", str(tmp_path / "no-such-model")]
    output = ["--output", str(tmp_path / ("out.jsonl" if command == "rationales" else "out"))]
    return [command, *([] if command == "build-tiny" else model), *task, *output]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("tokendistill: error: ") and err.count("\n") == 1, err
    return err.removeprefix("tokendistill: error: ").rstrip("\n")


DATA_COMMANDS = ["rationales", "train-teacher", "train-student", "evaluate", "build-tiny"]


@pytest.mark.parametrize("command", DATA_COMMANDS)
def test_damaged_data_is_one_line_in_every_command(
    shared_data: Path, tmp_path: Path, command, capsys
) -> None:
    path = tmp_path / "data" / "svamp" / "all.jsonl.gz"
    path.parent.mkdir(parents=True)
    shutil.copy(shared_data / "svamp" / "all.jsonl.gz", path)
    line = truncate(path)
    argv = command_line(command, ["--task", "svamp", "--data-dir", str(tmp_path / "data")], tmp_path)
    assert main(argv) == EXIT_USER_ERROR
    assert one_line_error(capsys).startswith(f"{path}:{line}: damaged gzip file (Compressed file ended")


def test_damaged_data_in_an_experiment_run(tmp_path: Path, capsys) -> None:
    path = tmp_path / "data.jsonl.gz"
    lines = "".join(f'{{"t": "example {i} {"word " * (i % 9)}", "y": "a"}}\n' for i in range(3000))
    path.write_bytes(gzip.compress(lines.encode()))
    line = truncate(path)
    config = {
        "output_dir": str(tmp_path / "run"),
        "task": {
            "name": "jsonl",
            "options": {"input_fields": "t", "target_field": "y", "files": dict.fromkeys(SPLITS, str(path))},
        },
        "teacher": {"tiny": {}},
        "students": {"models": [{"name": "s", "tiny": {}}]},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    assert main(["run", str(tmp_path / "config.yaml")]) == EXIT_USER_ERROR
    assert one_line_error(capsys).startswith(f"{path}:{line}: damaged gzip file (")


@pytest.mark.parametrize("command", ["tasks", *DATA_COMMANDS])
def test_unknown_task_option_names_it_and_the_allowed_ones(tmp_path: Path, command, capsys) -> None:
    if command == "tasks":
        argv = ["tasks", "--show", "jsonl", "--options", '{"input_fields": "t", "bogus": 1}']
    else:
        argv = command_line(command, ["--task", "jsonl", "--task-option", "bogus=1"], tmp_path)
    assert main(argv) == EXIT_USER_ERROR
    assert one_line_error(capsys) == f"task 'jsonl' has no option 'bogus'; its options are {JSONL_OPTIONS}"


def test_other_task_mistakes_are_one_line(tmp_path: Path, capsys) -> None:
    argv = command_line("evaluate", ["--task", "jsonl"], tmp_path)
    assert main(argv) == EXIT_USER_ERROR
    assert one_line_error(capsys) == "task 'jsonl' needs option(s) input_fields, target_field, files"
    argv = command_line("rationales", ["--task", "synthetic-nli", "--task-option", "size=many"], tmp_path)
    assert main(argv) == EXIT_USER_ERROR
    assert one_line_error(capsys).startswith("task 'synthetic-nli': invalid literal for int()")
    assert main(command_line("train-teacher", ["--task", "nope"], tmp_path)) == EXIT_USER_ERROR
    assert one_line_error(capsys).startswith("unknown task 'nope'; known tasks: anli1, cqa")
    argv = command_line("train-student", ["--task", "synthetic-nli", "--mode", "dss"], tmp_path)
    assert main([*argv, "--data-dir", str(tmp_path)]) == EXIT_USER_ERROR
    assert one_line_error(capsys).startswith("no DSS PaLM rationales for task 'synthetic-nli'")


def test_a_multi_line_message_becomes_one_line(tmp_path: Path, capsys) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("task: [unclosed\n")
    assert main(["run", str(config)]) == EXIT_USER_ERROR
    assert one_line_error(capsys).startswith(f"{config}:2: invalid YAML: ")


def test_a_folder_where_a_file_belongs(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "folder.jsonl"
    folder.mkdir()
    options = f'{{"input_fields": "t", "target_field": "y", "files": {{"test": "{folder}"}}}}'
    assert main(["tasks", "--show", "jsonl", "--split", "test", "--options", options]) == EXIT_USER_ERROR
    assert one_line_error(capsys) == f"{folder}: is a folder, not a data file"
    task = ["--task", "jsonl", "--task-option", f'files={{"test": "{tmp_path}"}}']
    task += ["--task-option", "input_fields=t", "--task-option", "target_field=y"]
    assert main(command_line("evaluate", task, tmp_path)) == EXIT_USER_ERROR
    assert one_line_error(capsys) == f"{tmp_path}: is a folder; files maps each split to one file"

    task = ["--task", "synthetic-nli", "--task-option", "size=20"]
    argv = command_line(
        "train-student", [*task, "--mode", "rationale", "--rationales", str(folder)], tmp_path
    )
    assert main(argv) == EXIT_USER_ERROR
    assert one_line_error(capsys) == f"{folder}: Is a directory"
    assert main([*command_line("rationales", task, tmp_path), "--stopwords", str(folder)]) == EXIT_USER_ERROR
    assert one_line_error(capsys) == f"{folder}: Is a directory"


def test_a_file_where_the_data_folder_belongs(shared_data: Path, tmp_path: Path, capsys) -> None:
    data_file = shared_data / "svamp" / "all.jsonl.gz"
    assert main(["tasks", "--show", "svamp", "--data-dir", str(data_file)]) == EXIT_USER_ERROR
    assert one_line_error(capsys).startswith(f"{data_file}: is a file; the data folder must be a folder")
    argv = command_line("evaluate", ["--task", "svamp", "--data-dir", str(data_file)], tmp_path)
    assert main(argv) == EXIT_USER_ERROR
    assert one_line_error(capsys).startswith(f"{data_file}: is a file")


def test_debug_flag_and_environment_show_the_traceback(tmp_path: Path, capsys, monkeypatch) -> None:
    argv = command_line("evaluate", ["--task", "jsonl", "--task-option", "bogus=1"], tmp_path)
    assert main(["--debug", *argv]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and "TaskOptionError" in err
    assert (
        err.splitlines()[-1]
        == f"tokendistill: error: task 'jsonl' has no option 'bogus'; its options are {JSONL_OPTIONS}"
    )
    assert main([*argv, "--debug"]) == EXIT_USER_ERROR
    assert capsys.readouterr().err.startswith("Traceback")
    monkeypatch.setenv("TOKENDISTILL_DEBUG", "1")
    assert main(argv) == EXIT_USER_ERROR
    assert capsys.readouterr().err.startswith("Traceback")


def test_a_bug_keeps_its_traceback(monkeypatch) -> None:
    """Only the user-facing error classes are turned into one line; anything else is raised as it was."""
    from tokendistill.commands import tasks

    def broken(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(tasks, "run", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["tasks"])

    def key_error(args):
        return {}["missing"]

    monkeypatch.setattr(tasks, "run", key_error)
    with pytest.raises(KeyError):
        main(["tasks"])


@pytest.mark.parametrize(
    "error",
    [
        DataError("data.jsonl", 3, "label", "unknown label 'x'"),
        RunFolderError(Path("/run/teacher"), "move it away"),
        TaskError("task 'jsonl' has no option 'bogus'"),
        UnknownTaskError("unknown task 'nope'"),
        StaleShardsError(Path("out.jsonl.shards"), "holds shards of a run with other settings (k: 5 -> 3)"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_errors_cross_process_boundaries(error: TokendistillError) -> None:
    """``run --jobs N`` sends a stage's error back from a worker process by pickling it."""
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error) and vars(copy) == vars(error)


def test_shards_of_other_settings_are_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    """The rationale stage refuses shards left by a run with other settings; the user picks --overwrite."""
    from tokendistill.commands import rationales

    def stale(*args, **kwargs):
        problem = "holds shards of a run with other settings (k: 5 -> 3)"
        raise StaleShardsError(Path("out.jsonl.shards"), problem)

    monkeypatch.setattr(rationales, "generate_rationales", stale)
    assert main(command_line("rationales", ["--task", "synthetic-nli"], tmp_path)) == EXIT_USER_ERROR
    assert one_line_error(capsys).endswith(
        "(k: 5 -> 3); rerun with the same settings to resume, or start over with overwrite=True (--overwrite)"
    )


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["rationales", "--model", "m", "--task", "synthetic-nli", "--output", "r.jsonl", "--k", "0"],
         "argument --k: must be at least 1, got '0'"),
        (["train-student", "--model", "m", "--task", "synthetic-nli", "--output", "s", "--alpha", "2"],
         "argument --alpha: must be at most 1, got '2'"),
        (["train-student", "--model", "m", "--task", "synthetic-nli", "--output", "s", "--k", "-1"],
         "argument --k: must be at least 1, got '-1'"),
        # Each of these was a ValueError or RuntimeError traceback (numpy's seeding, generation, the
        # bootstrap, torch's threads, the tokenizer trainer), or, for --max-examples -1, a silently
        # dropped last example.
        (["train-teacher", "--model", "m", "--task", "synthetic-nli", "--output", "t", "--seed", "-1"],
         "argument --seed: must be at least 0, got '-1'"),
        (["evaluate", "--model", "m", "--task", "synthetic-nli", "--output", "e", "--max-examples", "-1"],
         "argument --max-examples: must be at least 1, got '-1'"),
        (["evaluate", "--model", "m", "--task", "synthetic-nli", "--output", "e", "--batch-size", "0"],
         "argument --batch-size: must be at least 1, got '0'"),
        (["evaluate", "--model", "m", "--task", "synthetic-nli", "--output", "e", "--bootstrap-samples", "0"],
         "argument --bootstrap-samples: must be at least 1, got '0'"),
        (["evaluate", "--model", "m", "--task", "synthetic-nli", "--output", "e", "--max-new-tokens", "0"],
         "argument --max-new-tokens: must be at least 1, got '0'"),
        (["rationales", "--model", "m", "--task", "synthetic-nli", "--output", "r", "--batch-size", "0"],
         "argument --batch-size: must be at least 1, got '0'"),
        (["rationales", "--model", "m", "--task", "synthetic-nli", "--output", "r", "--shard-size", "0"],
         "argument --shard-size: must be at least 1, got '0'"),
        (["rationales", "--model", "m", "--task", "synthetic-nli", "--output", "r", "--limit", "-1"],
         "argument --limit: must be at least 0, got '-1'"),
        (["run", "config.yaml", "--jobs", "0"], "argument --jobs: must be at least 1, got '0'"),
        (["demo", "--threads", "0"], "argument --threads: must be at least 1, got '0'"),
        (["build-tiny", "--task", "synthetic-nli", "--output", "m", "--vocab-size", "-5"],
         "argument --vocab-size: must be at least 100, got '-5'"),
        (["tasks", "-n", "-1"], "argument -n: must be at least 0, got '-1'"),
        # An infinite rate passed the lower bound and failed only in the optimizer.
        (["train-teacher", "--model", "m", "--task", "tiny", "--output", "t", "--learning-rate", "inf"],
         "argument --learning-rate: must be finite, got 'inf'"),
    ],
)  # fmt: skip
def test_an_option_value_out_of_range_is_a_usage_error_naming_it(argv, problem, capsys) -> None:
    """Refused by the parser (exit 2, one line), before any model is loaded, not a ValueError traceback."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert problem in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("mode", "extra", "problem"),
    [
        ("rationale", [], "--mode rationale needs --rationales FILE"),
        ("standard", ["--rationales", "r.jsonl"], "--rationales is read only in --mode rationale"),
        ("random", ["--rationales", "r.jsonl"], "--rationales is read only in --mode rationale"),
        ("dss", [], "--mode dss reads DSS's PaLM rationales from a data folder: give --data-dir"),
    ],
)
def test_a_student_mode_without_its_rationales_is_one_line(
    tmp_path: Path, mode, extra, problem, capsys
) -> None:
    """Named by the flags, not a ValueError traceback naming train_student's parameters."""
    task = ["--task", "synthetic-nli", "--task-option", "size=20", "--mode", mode, *extra]
    assert main(command_line("train-student", task, tmp_path)) == EXIT_USER_ERROR
    assert one_line_error(capsys).startswith(problem)


@pytest.mark.parametrize(
    ("command", "files", "split"),
    [
        ("train-teacher", {"train": "empty.jsonl", "validation": "one.jsonl"}, "train"),
        ("train-student", {"train": "one.jsonl", "validation": "header.csv"}, "validation"),
        ("evaluate", {"test": "header.csv"}, "test"),
    ],
)
def test_a_split_without_rows_is_one_line(tmp_path: Path, command, files, split, capsys) -> None:
    """An empty file, or a CSV with a header only, gives no examples: a TaskError, not a ValueError."""
    (tmp_path / "empty.jsonl").write_text("\n")
    (tmp_path / "header.csv").write_text("t,y\n")
    (tmp_path / "one.jsonl").write_text('{"t": "a b", "y": "yes"}\n')
    paths = {name: str(tmp_path / file) for name, file in files.items()}
    task = ["--task", "jsonl", "--task-option", "input_fields=t", "--task-option", "target_field=y"]
    task += ["--task-option", f"files={json.dumps(paths)}"]
    assert main(command_line(command, task, tmp_path)) == EXIT_USER_ERROR
    error = one_line_error(capsys)
    assert error.startswith("task 'jsonl' ") and f"split {split!r}" in error, error


def test_a_device_torch_does_not_know_is_one_line(tmp_path: Path, capsys) -> None:
    """Refused before the model loads, not a RuntimeError traceback from torch."""
    argv = [*command_line("evaluate", ["--task", "synthetic-nli"], tmp_path), "--device", "gpu"]
    assert main(argv) == EXIT_USER_ERROR
    assert one_line_error(capsys).startswith("device 'gpu' is not a torch device: ")


def test_a_task_option_without_a_value_is_one_line(tmp_path: Path, capsys) -> None:
    """It ended in a bare SystemExit: exit status 1 and no 'tokendistill: error:' prefix."""
    argv = command_line("rationales", ["--task", "synthetic-nli", "--task-option", "size"], tmp_path)
    assert main(argv) == EXIT_USER_ERROR
    assert one_line_error(capsys) == "--task-option expects KEY=VALUE, got 'size'"


def test_a_folder_given_as_the_config_is_named_a_folder(tmp_path: Path, capsys) -> None:
    assert main(["run", str(tmp_path)]) == EXIT_USER_ERROR
    assert one_line_error(capsys).endswith("is a folder, not a config file")
