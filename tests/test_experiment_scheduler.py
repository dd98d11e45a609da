"""The dependency scheduler the runner and the benchmarks share: order, failure, and worker lifetime."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tokendistill.experiment.scheduler import Work, run_graph


def test_units_run_after_their_dependencies_and_finished_keys_count_as_done():
    order: list[str] = []
    work = [
        Work("student", ("teacher", "rationales"), order.append, ("student",)),
        Work("rationales", ("teacher",), order.append, ("rationales",)),
        Work("teacher", (), order.append, ("teacher",)),
    ]
    seen: list[str] = []
    run_graph(work, before=lambda unit: seen.append(unit.key))
    assert order == ["teacher", "rationales", "student"] == seen
    order.clear()
    run_graph(work[:2], finished={"teacher"})
    assert order == ["rationales", "student"]


def test_a_failure_stops_new_units_and_is_raised():
    order: list[str] = []
    failures: list[str] = []

    def fail() -> None:
        raise RuntimeError("teacher diverged")

    work = [Work("teacher", (), fail), Work("standard", (), order.append, ("standard",))]
    with pytest.raises(RuntimeError, match="teacher diverged"):
        run_graph(work, failed=lambda unit, error: failures.append(unit.key))
    assert failures == ["teacher"] and order == []


@pytest.mark.parametrize(
    ("work", "problem"),
    [
        ([Work("a", ("b",), print), Work("b", ("a",), print)], "waits on itself"),
        ([Work("a", ("missing",), print)], "unknown keys"),
        ([Work("a", (), print), Work("a", (), print)], "unique"),
    ],
)
def test_impossible_graphs_are_refused(work, problem):
    with pytest.raises((RuntimeError, ValueError), match=problem):
        run_graph(work)


def _running(pid: int) -> bool:
    """Alive and not a zombie (an adopted worker that exited may wait unreaped in a container)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads process states from /proc (Linux)")
def test_workers_exit_when_the_parent_is_killed(tmp_path):
    script = tmp_path / "main.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, time
            from tokendistill.experiment.scheduler import Work, run_graph

            def print_pid_then_sleep():
                print(os.getpid(), flush=True)
                time.sleep(300)  # a long unit, still running when the parent is killed

            if __name__ == "__main__":
                run_graph([Work("sleep", (), print_pid_then_sleep)], jobs=2)
            """
        )
    )
    main = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(main.stdout.readline())
        assert worker != main.pid and _running(worker)
    finally:
        main.kill()
        main.wait()
    deadline = time.monotonic() + 30
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.5)
    outlived = _running(worker)
    if outlived:
        os.kill(worker, signal.SIGKILL)
    assert not outlived, "the worker outlived its killed parent"
