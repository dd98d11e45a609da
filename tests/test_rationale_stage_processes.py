"""The rationale stage as separate processes: SIGKILL mid-run then resume, and two processes with accelerate.

Both must end with exactly the bytes of an uninterrupted single-process run. Every process runs with one
thread (as the in-process reference does, see conftest.py), so all of them compute the same floats.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tokendistill.attribution.sharding import shards_dir_for
from tokendistill.attribution.stage import generate_rationales, load_examples
from tokendistill.models.tiny import build_and_save

pytestmark = pytest.mark.slow

TASK = "synthetic-nli"
N_EXAMPLES = 48
SHARD_SIZE = 4
# Integrated gradients make each shard take a while, so a kill lands with most shards still to do.
RUN = {"method": "integrated_gradients", "n_steps": 16, "batch_size": 4, "target": "gold"}


def environment() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}


def cli_arguments(teacher: Path, output: Path) -> list[str]:
    return [
        "rationales", "--model", str(teacher), "--task", TASK, "--task-option", f"size={N_EXAMPLES}",
        "--split", "train", "--output", str(output), "--shard-size", str(SHARD_SIZE),
        "--batch-size", str(RUN["batch_size"]), "--method", RUN["method"], "--target", RUN["target"],
        "--method-option", f"n_steps={RUN['n_steps']}",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    examples = load_examples(TASK, "train", task_options={"size": 200})
    texts = [f"{example.source} {example.target}" for example in examples]
    return build_and_save(texts, tmp_path_factory.mktemp("teacher"), size="tiny", vocab_size=300)


@pytest.fixture(scope="module")
def reference(teacher: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    output = tmp_path_factory.mktemp("reference") / "rationales.jsonl"
    options = {**RUN, "task_options": {"size": N_EXAMPLES}, "shard_size": SHARD_SIZE, "show_progress": False}
    return generate_rationales(teacher, TASK, "train", output, **options).read_bytes()


def test_sigkill_then_rerun_gives_the_uninterrupted_bytes(
    teacher: Path, reference: bytes, tmp_path: Path
) -> None:
    output = tmp_path / "rationales.jsonl"
    shards = shards_dir_for(output)
    command = [sys.executable, "-m", "tokendistill.cli", *cli_arguments(teacher, output)]
    process = subprocess.Popen(command, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (shards / "shard-000000.jsonl").exists():
        assert process.poll() is None, process.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, "no shard appeared within 120 s"
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    done = sorted(path.name for path in shards.glob("shard-*.jsonl"))
    n_shards = N_EXAMPLES // SHARD_SIZE
    assert 1 <= len(done) < n_shards, f"the kill should land mid-run, found {done}"
    assert not output.exists()

    rerun = subprocess.run(command, env=environment(), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{N_EXAMPLES - SHARD_SIZE * len(done)} computed" in rerun.stderr
    assert output.read_bytes() == reference
    assert not shards.exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_processes_with_accelerate_give_the_single_process_bytes(
    teacher: Path, reference: bytes, tmp_path: Path
) -> None:
    output = tmp_path / "rationales.jsonl"
    # On a machine without GPUs, `accelerate launch --cpu --num_processes 2` starts one process unless MPI is
    # set up; `--multi_gpu` starts the processes with torchrun, and the stage forms a CPU (gloo) group.
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    launch += ["--main_process_port", str(free_port()), "-m", "tokendistill.cli"]
    result = subprocess.run(
        [*launch, *cli_arguments(teacher, output)],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "on 2 processes" in result.stderr
    assert "[process 1/2]" in result.stderr  # the second process computed shards of its own
    assert result.stdout.strip() == str(output)  # printed once, by the main process
    assert output.read_bytes() == reference
