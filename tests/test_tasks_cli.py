"""``tokendistill tasks``: the task list and a few examples with their template words marked."""

from __future__ import annotations

import json
from pathlib import Path

from tokendistill.cli import EXIT_USER_ERROR, main


def run(*argv: str) -> int:
    return main(["tasks", *argv])


def test_lists_every_task_with_its_labels(capsys) -> None:
    assert run() == 0
    lines = capsys.readouterr().out.splitlines()
    by_name = {line.split()[0]: line for line in lines}
    assert {"anli1", "esnli", "cqa", "svamp", "jsonl"} <= set(by_name)
    assert "[labels: entailment, neutral, contradiction]" in by_name["anli1"]
    assert "labels" not in by_name["cqa"]


def test_shows_examples_with_template_marked(shared_data: Path, capsys) -> None:
    assert run("--show", "cqa", "--split", "test", "--data-dir", str(shared_data), "-n", "1") == 0
    out = capsys.readouterr().out
    assert out.startswith("cqa test: 1221 examples")
    assert (
        "source:   A revolving door is convenient for two direction travel, but it also serves as a security "
        "measure at a what?⟦\\nAnswer Choices:\\n(a) ⟧bank⟦\\n(b) ⟧library⟦\\n(c) ⟧department store⟦\\n(d) ⟧"
        "mall⟦\\n(e) ⟧new york"
    ) in out
    assert "target:   bank\nevidence: 'bank'" in out
    assert out.count("\n--- ") == 1


def test_user_task_options_and_skipped_rows(tmp_path: Path, capsys) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text('{"t": "Hello.", "y": "a"}\n{"t": "", "y": "b"}\n', encoding="utf-8")
    options = json.dumps({"input_fields": "t", "target_field": "y", "files": {"test": str(path)}})
    assert run("--show", "jsonl", "--split", "test", "--options", options, "--skip-bad-rows") == 0
    captured = capsys.readouterr()
    assert (
        "jsonl test: 1 examples" in captured.out
        and "source:   Hello.\ntarget:   a\nevidence: (none)" in captured.out
    )
    assert "skipped 1 bad rows" in captured.err


def test_errors_are_reported_not_raised(tmp_path: Path, capsys) -> None:
    assert run("--show", "anli1", "--split", "train", "--data-dir", str(tmp_path)) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.startswith("tokendistill: error: ") and err.count("\n") == 1
    assert "training inputs are not in the shared data folder" in err
    assert run("--show", "nope") == EXIT_USER_ERROR
    assert capsys.readouterr().err == (
        "tokendistill: error: unknown task 'nope'; known tasks: anli1, cqa, esnli, jsonl, svamp, "
        "synthetic-math, synthetic-nli\n"
    )
