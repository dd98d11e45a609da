"""Attribution at the paper's teacher scale: a random-weight model with Flan-T5-XL's shape, bf16, on a GPU.

The paper's teacher is Flan-T5-XL (T5 v1.1 XL: d_model 2048, d_ff 5120, 24 + 24 layers, 32 heads of 64,
vocabulary 32128, gated GELU, untied output layer; 2.85B parameters). Its weights cannot be downloaded here,
but speed does not depend on them: this builds the same configuration with random weights and measures the
rationale stage on it, on e-SNLI inputs (the staged validation split; synthetic NLI when it is absent):

* ``saliency`` against given targets (one forward and one input-gradient backward per batch);
* the full stage as ``tokendistill rationales`` runs it by default: greedy prediction of the target
  (``max_new_tokens`` 4, the length of an NLI label and its end token), then saliency against it;
* examples/s, peak GPU memory (``torch.cuda.max_memory_allocated``), model-FLOPs utilisation, and the
  projected time for e-SNLI's 549,367 training examples on one device.

FLOPs per example: saliency = 4 x (N_enc x S + (N_dec + d_model x V) x T), with N_enc and N_dec the
encoder's and decoder's non-embedding parameters, the output layer counted per target token, S and T the
example's source and target tokens (padding excluded): 2 x N x tokens for the forward pass and as much
again for a backward pass that computes activation gradients only (saliency needs no weight gradients;
training would add another 2 x N x tokens, the usual 6 x N x tokens). Attention-score FLOPs are left out
(sequences are short). Generation: 2 x (N_enc x S + (N_dec + d_model x V) x T). Peak: dense bf16 tensor-core
throughput of the device (H100 SXM and H200: 989 TFLOP/s; H100 PCIe 756; A100 312), or ``--peak-tflops``.

Without CUDA the script stops with an error; ``--smoke`` runs the same code path on the CPU with a tiny
model of the same family (gated GELU, untied, d_ff = 2.5 d_model, vocabulary 32128).

    python benchmarks/attribution_gpu.py                 # on a GPU machine; results in benchmarks/results/
    python benchmarks/attribution_gpu.py --smoke         # CPU, seconds, benchmarks/results/smoke/
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForSeq2SeqLM, PreTrainedModel, T5Config

from attribution_speed import device_name, median_seconds
from benchlib import (
    REPO_ROOT,
    default_paths,
    write_outputs,
)
from tokendistill.attribution import attribute
from tokendistill.data.tasks import get_task
from tokendistill.models.tiny import train_tokenizer

ESNLI_TRAIN_EXAMPLES = 549_367
FLAN_T5_XL = {"d_model": 2048, "d_ff": 5120, "num_layers": 24, "num_heads": 32, "d_kv": 64}
SMOKE_SHAPE = {"d_model": 64, "d_ff": 160, "num_layers": 2, "num_heads": 4, "d_kv": 16}
T5_VOCABULARY = 32128
DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32}
# Dense bf16 tensor-core peaks (NVIDIA data sheets), matched against torch.cuda.get_device_name.
PEAK_TFLOPS = (("H100 PCIe", 756.0), ("H100", 989.4), ("H200", 989.4), ("A100", 312.0))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny model of the same family (< 30 s)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16", choices=sorted(DTYPES))
    parser.add_argument("--examples", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs after one warm-up; median kept")
    parser.add_argument("--peak-tflops", type=float, default=None, help="override the device's bf16 peak")
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--output-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.smoke:
        args.device, args.examples, args.batch_size, args.repeats = "cpu", 16, 8, 1
    default_paths(args, "attribution_gpu", argv)
    return args


def t5_v1_1_config(shape: dict[str, int], pad_id: int, eos_id: int) -> T5Config:
    return T5Config(
        vocab_size=T5_VOCABULARY,
        d_model=shape["d_model"],
        d_ff=shape["d_ff"],
        d_kv=shape["d_kv"],
        num_layers=shape["num_layers"],
        num_decoder_layers=shape["num_layers"],
        num_heads=shape["num_heads"],
        feed_forward_proj="gated-gelu",
        tie_word_embeddings=False,
        dropout_rate=0.0,
        pad_token_id=pad_id,
        eos_token_id=eos_id,
        decoder_start_token_id=pad_id,
    )


def inputs(args: argparse.Namespace) -> tuple[str, list[str], list[str]]:
    """(where from, sources, gold targets): e-SNLI validation pairs, or synthetic NLI without the data."""
    if (args.data_dir / "esnli").is_dir():
        examples, origin = get_task("esnli").load("validation", args.data_dir), "e-SNLI validation"
    else:
        examples, origin = get_task("synthetic-nli", size=args.examples).load("train"), "synthetic NLI"
    chosen = examples[: args.examples]
    return origin, [e.source for e in chosen], [e.target for e in chosen]


def parameter_counts(model: PreTrainedModel) -> dict[str, int]:
    """Non-embedding parameters of the encoder and decoder, and the output layer's."""

    def non_embedding(stack: torch.nn.Module) -> int:
        embedding = stack.embed_tokens.weight
        return sum(p.numel() for p in stack.parameters() if p is not embedding)

    return {
        "encoder": non_embedding(model.encoder),
        "decoder": non_embedding(model.decoder),
        "output_layer": model.lm_head.weight.numel(),
        "total": sum(p.numel() for p in model.parameters()),
    }


def flops(counts: dict[str, int], source_tokens: int, target_tokens: int, passes: int) -> float:
    """``passes`` x N x tokens: 2 for a forward pass, 4 for forward + activation-gradient backward."""
    return passes * (
        counts["encoder"] * source_tokens + (counts["decoder"] + counts["output_layer"]) * target_tokens
    )


def peak_flops(args: argparse.Namespace, name: str) -> float | None:
    if args.peak_tflops is not None:
        return args.peak_tflops * 1e12
    return next((tflops * 1e12 for key, tflops in PEAK_TFLOPS if key in name), None)


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            "attribution_gpu.py measures the GPU path and this machine has no CUDA device. Run it on a "
            "machine with an NVIDIA GPU, or pass --smoke to run the same code on the CPU with a tiny model."
        )
    origin, sources, targets = inputs(args)
    # T5's layout (pad 0, eos 1); a subword vocabulary of 8000 splits English about as finely as T5's.
    tokenizer = train_tokenizer([*sources, *targets], vocab_size=8000)
    shape = SMOKE_SHAPE if args.smoke else FLAN_T5_XL
    config = t5_v1_1_config(shape, tokenizer.pad_token_id, tokenizer.eos_token_id)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForSeq2SeqLM.from_config(config, dtype=DTYPES[args.dtype]).eval()
    counts = parameter_counts(model)
    source_tokens = sum(len(ids) for ids in tokenizer(sources)["input_ids"])
    target_tokens = sum(len(ids) for ids in tokenizer(text_target=targets)["input_ids"])
    n, batch_size = len(sources), args.batch_size

    def saliency() -> object:
        return attribute(model, tokenizer, sources, targets, method="saliency", batch_size=batch_size)

    def full_stage() -> object:
        return attribute(
            model, tokenizer, sources, None, method="saliency", batch_size=batch_size, max_new_tokens=4
        )

    seconds = median_seconds({"saliency": saliency, "full_stage": full_stage}, args.repeats, device)
    peak_memory = None
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        full_stage()
        torch.cuda.synchronize(device)
        peak_memory = torch.cuda.max_memory_allocated(device)
    # The full stage explains the generated targets: count their tokens for its FLOPs.
    predicted = [a.target for a in full_stage()]
    predicted_tokens = sum(len(ids) for ids in tokenizer(text_target=predicted)["input_ids"])

    name = device_name(device)
    peak = peak_flops(args, name) if device.type == "cuda" else None
    saliency_flops = flops(counts, source_tokens, target_tokens, 4)
    stage_flops = flops(counts, source_tokens, predicted_tokens, 4) + flops(
        counts, source_tokens, predicted_tokens, 2
    )

    def rates(key: str, total_flops: float) -> dict[str, Any]:
        achieved = total_flops / seconds[key]
        return {
            "seconds": seconds[key],
            "examples_per_s": n / seconds[key],
            "achieved_tflops": achieved / 1e12,
            "mfu": achieved / peak if peak else None,
            "projected_hours_esnli_train": ESNLI_TRAIN_EXAMPLES / (n / seconds[key]) / 3600,
        }

    return {
        "command": " ".join(["python benchmarks/attribution_gpu.py", *args.argv]),
        "environment": {
            "device": device.type,
            "device_name": name,
            "peak_tflops_assumed": peak / 1e12 if peak else None,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": version("transformers"),
        },
        "settings": {
            "model": ("T5 v1.1 XL shape (Flan-T5-XL)" if not args.smoke else "tiny T5 v1.1-family shape")
            + f" {shape}, vocabulary {T5_VOCABULARY}, random weights, {args.dtype}",
            "parameters": counts,
            "inputs": origin,
            "examples": n,
            "batch_size": batch_size,
            "source_tokens_mean": source_tokens / n,
            "target_tokens_mean": target_tokens / n,
            "predicted_tokens_mean": predicted_tokens / n,
            "repeats": args.repeats,
            "timing": "median of interleaved repeats after one warm-up; CUDA synchronised around each run",
        },
        "results": {
            "saliency": rates("saliency", saliency_flops),
            "full_stage": rates("full_stage", stage_flops),
            "peak_memory_gib": peak_memory / 2**30 if peak_memory is not None else None,
        },
    }


def markdown(report: dict[str, Any]) -> str:
    env, s, r = report["environment"], report["settings"], report["results"]
    peak = (
        f"{env['peak_tflops_assumed']:.0f} TFLOP/s bf16 peak assumed"
        if env["peak_tflops_assumed"]
        else "no peak"
    )
    memory = f"{r['peak_memory_gib']:.1f} GiB" if r["peak_memory_gib"] is not None else "n/a (CPU)"
    lines = [
        "# Attribution at Flan-T5-XL scale",
        "",
        f"`{report['command']}` on {env['device_name']} ({env['device']}, {peak}), torch {env['torch']}, "
        f"transformers {env['transformers']}.",
        f"{s['model']}; {s['parameters']['total'] / 1e9:.3f}B parameters. {s['examples']} {s['inputs']} "
        f"examples, batch size {s['batch_size']}, {s['source_tokens_mean']:.1f} source tokens per example; "
        f"{s['timing']} ({s['repeats']} repeats). Peak memory of the full stage: {memory}.",
        "",
        "| run | examples/s | achieved TFLOP/s | MFU | e-SNLI train (549,367) on one device |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, title in (
        ("saliency", "saliency, given targets (4 N tokens FLOPs)"),
        ("full_stage", "greedy prediction + saliency (6 N tokens FLOPs)"),
    ):
        m = r[key]
        mfu = f"{100 * m['mfu']:.1f}%" if m["mfu"] is not None else "n/a"
        lines.append(
            f"| {title} | {m['examples_per_s']:.1f} | {m['achieved_tflops']:.2f} | {mfu} | "
            f"{m['projected_hours_esnli_train']:.2f} h |"
        )
    lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = run_benchmark(args)
    name = "attribution_gpu"
    write_outputs(args.output_dir, name, report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
