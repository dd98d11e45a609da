"""Runs units of work in dependency order, several at once in worker processes that die with their parent.

The experiment runner (its units: stages) and the benchmarks (their units: jobs) both schedule with
``run_graph``; what "done" means and where it is recorded stays with them. ``concurrent.futures`` pools
run callables but know nothing of dependencies, and libraries that do (Dask, Ray) are services too large
for a handful of stages, hence this loop.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Work:
    """``function(*args)``, run once every key in ``deps`` has finished. In worker processes ``function``
    must be importable (a module-level function) and ``args`` picklable."""

    key: str
    deps: tuple[str, ...]
    function: Callable[..., Any]
    args: tuple[Any, ...] = ()


def run_graph(
    work: Sequence[Work],
    *,
    jobs: int = 1,
    finished: Collection[str] = (),
    worker_init: Callable[[], None] | None = None,
    before: Callable[[Work], None] = lambda _: None,
    after: Callable[[Work, Any], None] = lambda _work, _result: None,
    failed: Callable[[Work, BaseException], None] = lambda _work, _error: None,
) -> None:
    """Run every unit of ``work`` whose dependencies are in ``finished`` or finish here, in list order
    among those ready, up to ``jobs`` at once.

    ``jobs=1`` runs each unit in this process (no pickling; Ctrl-C stops it where it is). Otherwise each
    runs in a spawned worker, set up by ``worker_init``, that is killed if this process dies. ``before``
    and ``after`` (given the unit's return value) run here, around each unit. If a unit fails, ``failed``
    is told, no new unit starts, the running ones finish, and the first error is raised.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    keys = {unit.key for unit in work}
    if len(keys) != len(work):
        raise ValueError("work keys must be unique")
    unknown = {dep for unit in work for dep in unit.deps} - keys - set(finished)
    if unknown:
        raise ValueError(f"work depends on unknown keys {sorted(unknown)}")
    done, pending = set(finished), list(work)
    running: dict[Future, Work] = {}
    failure: BaseException | None = None
    with _executor(jobs, worker_init) as executor:
        while running or (pending and failure is None):
            ready = [unit for unit in pending if all(dep in done for dep in unit.deps)]
            for unit in ready[: jobs - len(running)] if failure is None else []:
                pending.remove(unit)
                before(unit)
                running[executor.submit(unit.function, *unit.args)] = unit
            if not running:
                raise RuntimeError(f"work waits on itself: {[unit.key for unit in pending]}")
            completed, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in completed:
                unit = running.pop(future)
                error = future.exception()
                if error is not None:
                    failure = failure or error
                    failed(unit, error)
                    continue
                after(unit, future.result())
                done.add(unit.key)
    if failure is not None:
        raise failure


def _executor(jobs: int, worker_init: Callable[[], None] | None) -> Executor:
    if jobs == 1:
        return _InlineExecutor()
    return ProcessPoolExecutor(
        jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(os.getpid(), worker_init),
    )


def _start_worker(parent_pid: int, worker_init: Callable[[], None] | None) -> None:
    """Set up a worker process. It must not outlive its parent, or a killed run that is started again
    would find work still being written by the orphan: on Linux the kernel kills it when the parent dies
    (elsewhere Ctrl-C reaches the whole process group anyway)."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1  # from <sys/prctl.h>: the signal this process gets when its parent exits
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() != parent_pid:  # the parent died while this worker was starting
            os._exit(1)
    if worker_init is not None:
        worker_init()


class _InlineExecutor(Executor):
    """Runs each unit at once in this process: the same scheduling, no pickling."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:
            future.set_exception(error)
        return future
