"""The two-task student's training step: one forward pass over the combined batch against DSS's two passes.

Distilling Step-by-Step runs the student twice per step, once on the ``predict:`` batch and once on the
``explain:`` batch, and adds ``alpha * label_loss + (1 - alpha) * rationale_loss``. tokendistill's trainer
does either (``TrainConfig.task_passes``): 1 puts both tasks' sequences into one padded batch and takes each
task's token mean from one forward pass (``tokendistill.training.loss``); 2 runs each task's rows alone,
cut to their own lengths. The loss is the same (checked on every batch against DSS's two plain passes, each
task collated on its own); what differs is speed: one pass launches half the kernels, but pads the short
label targets to the rationale length in the decoder. ``DistillTrainer.compute_loss`` in both settings is
timed side by side (forward and backward; the optimizer step is the same for both and left out) on the
same model and batches, for short rationales (5 words on synthetic NLI) and, when the staged data is
present, long ones (PaLM's chains of thought on e-SNLI). Writes ``student_step.json`` and ``student_step.md``.

    python benchmarks/student_step.py --threads 2            # results in benchmarks/results/
    python benchmarks/student_step.py --smoke                # seconds, benchmarks/results/smoke/
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import (
    DataCollatorForSeq2Seq,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Seq2SeqTrainingArguments,
)

from attribution_speed import median_seconds
from benchlib import (
    REPO_ROOT,
    cpu_name,
    default_paths,
    write_outputs,
)
from tokendistill.data.example import Example
from tokendistill.data.palm import load_palm_rationales
from tokendistill.data.tasks import get_task
from tokendistill.models import family_of
from tokendistill.models.tiny import SIZES, build_model, train_tokenizer
from tokendistill.training.features import EXPLAIN_PREFIX, PREDICT_PREFIX, MultiTaskCollator, encode_examples
from tokendistill.training.rationale_sources import random_rationales
from tokendistill.training.trainer import DistillTrainer

ALPHA = 0.5
Batch = dict[str, torch.Tensor]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes for CI (< 30 s)")
    parser.add_argument("--sizes", nargs="+", default=["tiny", "small", "base"], choices=sorted(SIZES))
    parser.add_argument("--batch-size", type=int, default=32, help="examples per step (2 sequences each)")
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs after one warm-up; median kept")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--output-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.smoke:
        args.sizes, args.batch_size, args.batches, args.repeats = ["tiny"], 8, 2, 1
        args.threads = args.threads or 1
    default_paths(args, "student_step", argv)
    return args


def workloads(args: argparse.Namespace) -> dict[str, tuple[list[Example], dict[str, str]]]:
    """Examples and their explain targets: short (5 random words) and, with the staged data, long (PaLM)."""
    n = args.batch_size * args.batches
    synthetic = get_task("synthetic-nli", size=n).load("train")
    found = {"synthetic-nli, 5-word rationales": (synthetic, random_rationales(synthetic, 5, seed=0))}
    if (args.data_dir / "esnli").is_dir():
        esnli = get_task("esnli").load("validation", args.data_dir)
        palm = load_palm_rationales("esnli", "validation", args.data_dir)
        chosen = random.Random(0).sample([e for e in esnli if palm[e.id].rationale], n)
        found["e-SNLI, PaLM chain-of-thought rationales"] = (
            chosen,
            {e.id: palm[e.id].rationale for e in chosen},
        )
    return found


def make_batches(
    examples: Sequence[Example],
    rationales: Mapping[str, str],
    tokenizer: PreTrainedTokenizerBase,
    model: PreTrainedModel,
    batch_size: int,
    device: torch.device,
) -> list[tuple[Batch, Batch, Batch]]:
    """(combined, predict, explain) batches over the same examples, padded as each step pads them."""
    rows = list(
        encode_examples(
            examples,
            tokenizer,
            family_of(model),
            max_input_length=512,
            max_target_length=256,
            prefix=PREDICT_PREFIX,
            rationales=rationales,
        )
    )
    combined, plain = MultiTaskCollator(tokenizer, model), DataCollatorForSeq2Seq(tokenizer, model=model)
    batches = []
    for first in range(0, len(rows), batch_size):
        chunk = rows[first : first + batch_size]
        predict = plain([{"input_ids": r["input_ids"], "labels": r["labels"]} for r in chunk])
        explain = plain([{"input_ids": r["explain_input_ids"], "labels": r["explain_labels"]} for r in chunk])
        batches.append(
            tuple({k: v.to(device) for k, v in b.items()} for b in (combined(chunk), predict, explain))
        )
    return batches


def trainer_loss(model: PreTrainedModel, task_passes: int, folder: Path) -> Callable[[Batch], torch.Tensor]:
    """The training loss exactly as ``DistillTrainer`` computes it with ``task_passes`` 1 or 2."""
    arguments = Seq2SeqTrainingArguments(
        output_dir=str(folder), report_to="none", use_cpu=model.device.type == "cpu"
    )
    trainer = DistillTrainer(
        model=model, args=arguments, task_weights=(ALPHA, 1 - ALPHA), task_passes=task_passes
    )
    return lambda batch: trainer.compute_loss(model, batch)


def dss_loss(model: PreTrainedModel, predict: Batch, explain: Batch) -> torch.Tensor:
    """DSS's step, the reference: the model's own loss on each task's separately collated batch, weighted."""
    return ALPHA * model(**predict).loss + (1 - ALPHA) * model(**explain).loss


def stepper(model: PreTrainedModel, losses: Sequence[Callable[[], torch.Tensor]]) -> Callable[[], None]:
    def run() -> None:
        for loss in losses:
            model.zero_grad(set_to_none=True)
            loss().backward()
        model.zero_grad(set_to_none=True)

    return run


def measure(
    size: str, examples: Sequence[Example], rationales: Mapping[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    device = torch.device(args.device)
    texts = [PREDICT_PREFIX, EXPLAIN_PREFIX, *(e.source for e in examples), *rationales.values()]
    tokenizer = train_tokenizer([*texts, *(e.target for e in examples)], vocab_size=2000)
    # Training mode (the two-pass path is taken in training only); tiny models have no dropout.
    model = build_model(tokenizer, size=size, seed=0).to(device).train()
    batches = make_batches(examples, rationales, tokenizer, model, args.batch_size, device)
    with tempfile.TemporaryDirectory() as folder:
        one_pass, two_pass = (trainer_loss(model, passes, Path(folder)) for passes in (1, 2))
        with torch.no_grad():
            gaps = [
                max(abs(loss(c).item() - dss_loss(model, p, e).item()) for loss in (one_pass, two_pass))
                for c, p, e in batches
            ]
        seconds = median_seconds(
            {
                "one_pass": stepper(model, [lambda c=c: one_pass(c) for c, _, _ in batches]),
                "two_pass": stepper(model, [lambda c=c: two_pass(c) for c, _, _ in batches]),
            },
            args.repeats,
            device,
        )

    def tokens(key: str, index: int) -> float:
        return sum(b[index][key].numel() for b in batches) / len(batches)

    return {
        "size": size,
        "model": f"T5 {size} {SIZES[size]}, vocab {len(tokenizer)}",
        "steps": len(batches),
        "one_pass_ms_per_step": 1000 * seconds["one_pass"] / len(batches),
        "two_pass_ms_per_step": 1000 * seconds["two_pass"] / len(batches),
        "speedup": seconds["two_pass"] / seconds["one_pass"],
        "max_loss_difference_vs_dss": max(gaps),
        # Padded decoder positions per step: the one-pass batch pads labels to the longest rationale.
        "decoder_tokens_one_pass": tokens("labels", 0),
        "decoder_tokens_two_pass": tokens("labels", 1) + tokens("labels", 2),
    }


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    rows = []
    for workload, (examples, rationales) in workloads(args).items():
        for size in args.sizes:
            rows.append({"workload": workload, **measure(size, examples, rationales, args)})
    return {
        "command": " ".join(["python benchmarks/student_step.py", *args.argv]),
        "environment": {
            "device": device.type,
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
            "torch_threads": torch.get_num_threads() if device.type == "cpu" else None,
            "load_average_at_start": load,
            "torch": torch.__version__,
        },
        "settings": {
            "batch_size": args.batch_size,
            "batches": args.batches,
            "repeats": args.repeats,
            "timing": "forward + backward of every batch (no optimizer step); median of interleaved repeats "
            "after one warm-up",
        },
        "results": rows,
    }


def markdown(report: dict[str, Any]) -> str:
    env, settings = report["environment"], report["settings"]
    threads = f", {env['torch_threads']} torch threads" if env["torch_threads"] else ""
    load = env["load_average_at_start"]
    lines = [
        "# Two-task student step: one pass over the combined batch vs DSS's two passes",
        "",
        f"`{report['command']}` on {env['device_name']} ({env['device']}{threads}"
        + (f", load average {load:.1f} at the start" if load is not None else "")
        + f"), torch {env['torch']}. {settings['batch_size']} examples a step (each a predict and an explain "
        f"sequence), {settings['batches']} steps; {settings['timing']} ({settings['repeats']} repeats).",
        "",
        "| rationales | model | one pass (ms/step) | two passes (ms/step) | speed-up | decoder positions "
        "(one / two passes) | largest loss difference to DSS's two plain passes |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['workload']} | T5 {r['size']} | {r['one_pass_ms_per_step']:.1f} | "
            f"{r['two_pass_ms_per_step']:.1f} | {r['speedup']:.2f} x | "
            f"{r['decoder_tokens_one_pass']:.0f} / {r['decoder_tokens_two_pass']:.0f} | "
            f"{r['max_loss_difference_vs_dss']:.1e} |"
        )
    lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = run_benchmark(args)
    write_outputs(args.output_dir, "student_step", report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
