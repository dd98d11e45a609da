"""Attribution speed, measured side by side on one random-weight T5 and the same inputs.

* our batched ``saliency`` (examples/s), and its ratio to one plain training-style forward + backward pass
  over the same batches (parameter gradients, as in training): the cost floor of exact gradient saliency;
* Inseq's ``saliency`` forced to the same target texts, which runs one forward and one backward pass per
  target token; our speed-up over it, for ``saliency`` and for the like-for-like ``saliency_per_token``;
* the Spearman correlation of the two libraries' per-source-token scores where the definitions coincide:
  our ``saliency_per_token`` (mean over target tokens t of ||d log p(y_t)/de_i||_2) equals Inseq's saliency
  with ``attributed_fn="probability", logprob=True``, L2 norm over the embedding dimension, then the mean
  over target tokens (Inseq's Captum saliency takes |gradient| elementwise, which the L2 norm ignores);
* ``integrated_gradients`` cost relative to ``n_steps`` times saliency.

The same comparisons are made for a decoder-only model (a random-weight Llama of the same size, one
sequence of source then target tokens; its tokenizer prepends ``<s>`` and the target ends with ``</s>``):
saliency against one training-style forward + backward pass over the same batches, and ``saliency`` and
``saliency_per_token`` against Inseq's decoder-only saliency forced to the same continuations (Inseq
attributes a decoder-only model's forced continuation one example at a time, one forward and backward pass
per generated token; its per-step attributions of the prompt tokens, L2 over the embedding and averaged over
steps, are our ``saliency_per_token``). These go under ``decoder_only`` in the JSON and in a second table.

Inputs are synthetic math word problems whose targets are equations of 13-22 tokens, explained against the
gold target (no generation). Writes ``attribution_speed.json`` and ``attribution_speed.md``.

    python benchmarks/attribution_speed.py            # full size, results in benchmarks/results/
    python benchmarks/attribution_speed.py --smoke    # tiny sizes (< 30 s), in benchmarks/results/smoke/
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from benchlib import cpu_name, default_paths, write_outputs
from tokendistill.attribution import SequenceAttribution, attribute
from tokendistill.data.tasks import get_task
from tokendistill.models import IGNORE_INDEX, CausalFamily
from tokendistill.models.tiny import SIZES, build_model, train_tokenizer


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes for CI (< 30 s)")
    parser.add_argument(
        "--size", default="small", choices=sorted(SIZES), help="T5 and Llama size from models/tiny.py"
    )
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--ig-steps", type=int, default=16, help="integrated gradients path points")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs after one warm-up; median kept")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.smoke:
        args.size, args.examples, args.batch_size, args.ig_steps, args.repeats = "tiny", 8, 4, 4, 1
        args.threads = args.threads or 1  # tiny matrices: more threads only add synchronisation
    default_paths(args, "attribution_speed", argv)
    return args


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()


def median_seconds(
    runs: dict[str, Callable[[], object]], repeats: int, device: torch.device
) -> dict[str, float]:
    """Median wall time of each run over ``repeats`` rounds, after one untimed warm-up of each.

    The rounds interleave the runs (a, b, c, a, b, c, ...), so a slow spell of a shared machine hits all of
    them alike and the ratios between them stay fair.
    """

    def timed(run: Callable[[], object]) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    for run in runs.values():
        timed(run)
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            samples[name].append(timed(run))
    return {name: statistics.median(times) for name, times in samples.items()}


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Longest first, as the attribution engine groups examples, so both see the same batches."""
    order = sorted(range(len(lengths)), key=lambda index: -lengths[index])
    return [order[first : first + batch_size] for first in range(0, len(order), batch_size)]


def training_pass(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    sources: Sequence[str],
    targets: Sequence[str],
    batch_size: int,
    device: torch.device,
) -> Callable[[], None]:
    """One forward + backward (w.r.t. the parameters, as in training) over pre-tokenized batches."""
    lengths = [len(ids) for ids in tokenizer(list(sources))["input_ids"]]
    batches = []
    for indices in length_sorted_batches(lengths, batch_size):
        batch = tokenizer([sources[i] for i in indices], padding=True, return_tensors="pt")
        labels = tokenizer(text_target=[targets[i] for i in indices], padding=True, return_tensors="pt")
        batch["labels"] = labels["input_ids"].masked_fill(labels["attention_mask"] == 0, IGNORE_INDEX)
        batches.append({key: value.to(device) for key, value in batch.items()})

    def run() -> None:
        model.train(False)  # no dropout, like attribution; gradients still flow to the parameters
        for batch in batches:
            model.zero_grad(set_to_none=True)
            model(**batch).loss.backward()
        model.zero_grad(set_to_none=True)

    return run


def causal_training_pass(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    sources: Sequence[str],
    targets: Sequence[str],
    batch_size: int,
    device: torch.device,
) -> Callable[[], None]:
    """The decoder-only training pass: one forward + backward (w.r.t. the parameters) over the batches a
    decoder-only student trains on (``CausalFamily.collate``: source then target, loss on the target)."""
    family = CausalFamily()
    source_ids = tokenizer(list(sources))["input_ids"]
    target_ids = family.encode_targets(tokenizer, targets)
    batches = []
    for indices in length_sorted_batches([len(ids) for ids in source_ids], batch_size):
        batch = family.collate(
            [source_ids[i] for i in indices], [target_ids[i] for i in indices], tokenizer.pad_token_id, model
        )
        batches.append({key: value.to(device) for key, value in batch.items()})

    def run() -> None:
        model.train(False)
        for batch in batches:
            model.zero_grad(set_to_none=True)
            model(**batch, use_cache=False).loss.backward()
        model.zero_grad(set_to_none=True)

    return run


def inseq_per_token_saliency(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    sources: Sequence[str],
    targets: Sequence[str],
    batch_size: int,
    device: torch.device,
) -> tuple[Callable[[], Any], Callable[[Any], list[np.ndarray]]]:
    """Inseq's saliency forced to ``targets``, and a reduction of its output to one score per source token.

    The reduction checks that Inseq explained exactly our source and target token ids.
    """
    import inseq

    inseq_model = inseq.load_model(model, "saliency", tokenizer=tokenizer, device=str(device))

    def run() -> Any:
        return inseq_model.attribute(
            list(sources),
            list(targets),
            attributed_fn="probability",
            logprob=True,
            batch_size=batch_size,
            show_progress=False,
        )

    def per_source_token(output: Any) -> list[np.ndarray]:
        scores = []
        for index, sequence in enumerate(output.sequence_attributions):
            source_ids = [token.id for token in sequence.source]
            target_ids = [token.id for token in sequence.target][1:]  # the first is the decoder start token
            if source_ids != tokenizer(sources[index])["input_ids"]:
                raise RuntimeError(f"Inseq attributed other source tokens for example {index}")
            if target_ids != tokenizer(text_target=targets[index])["input_ids"]:
                raise RuntimeError(f"Inseq explained another target for example {index}: {target_ids}")
            # (source tokens, target tokens, embedding dim) -> L2 over the embedding, mean over targets
            attributions = sequence.source_attributions.double()
            scores.append(attributions.norm(dim=-1).mean(dim=1).cpu().numpy())
        return scores

    return run, per_source_token


def inseq_decoder_only_saliency(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    sources: Sequence[str],
    targets: Sequence[str],
    device: torch.device,
) -> tuple[Callable[[], Any], Callable[[Any], list[np.ndarray]]]:
    """Inseq's saliency on a decoder-only model, forced to continue each source with its target and the
    end-of-sequence token, and the reduction of its output to one score per source (prompt) token.

    A forced decoder-only continuation is the prompt text followed by the continuation text (Inseq's rule);
    Inseq runs such continuations one example at a time whatever the batch size. The reduction checks that
    Inseq explained exactly our token ids: ``tokenizer(source)`` then the target's ids and ``</s>``.
    """
    import inseq

    # Inseq warns on every call that forced decoder-only continuations go one at a time; that is said here.
    logging.getLogger("inseq.models.attribution_model").setLevel(logging.ERROR)
    inseq_model = inseq.load_model(model, "saliency", tokenizer=tokenizer, device=str(device))
    continuations = [
        f"{source} {target}{tokenizer.eos_token}" for source, target in zip(sources, targets, strict=True)
    ]
    source_ids = tokenizer(list(sources))["input_ids"]
    sequences = [
        ids + target
        for ids, target in zip(source_ids, CausalFamily().encode_targets(tokenizer, targets), strict=True)
    ]

    def run() -> Any:
        return inseq_model.attribute(
            list(sources),
            continuations,
            attributed_fn="probability",
            logprob=True,
            batch_size=1,
            show_progress=False,
        )

    def per_source_token(output: Any) -> list[np.ndarray]:
        scores = []
        for index, sequence in enumerate(output.sequence_attributions):
            if [token.id for token in sequence.target] != sequences[index]:
                raise RuntimeError(f"Inseq explained other tokens for example {index}")
            # (sequence positions, generated steps, embedding dim): the prompt's rows, L2 over the
            # embedding, mean over the steps (every step sees the whole prompt)
            attributions = sequence.target_attributions[: len(source_ids[index])].double()
            scores.append(attributions.norm(dim=-1).mean(dim=1).cpu().numpy())
        return scores

    return run, per_source_token


def correlations(ours: Sequence[SequenceAttribution], theirs: Sequence[np.ndarray]) -> dict[str, float]:
    rhos = [spearmanr(a.token_scores, b).statistic for a, b in zip(ours, theirs, strict=True)]
    return {"mean": float(np.mean(rhos)), "min": float(np.min(rhos))}


def max_relative_difference(ours: Sequence[SequenceAttribution], theirs: Sequence[np.ndarray]) -> float:
    return max(
        float(np.max(np.abs(a.token_scores - b) / np.maximum(np.abs(b), 1e-12)))
        for a, b in zip(ours, theirs, strict=True)
    )


def token_counts(lengths: Sequence[int]) -> dict[str, float]:
    return {"min": min(lengths), "median": statistics.median(lengths), "max": max(lengths)}


def rate(n: int, seconds: float) -> dict[str, float]:
    return {"seconds": seconds, "examples_per_s": n / seconds}


def decoder_only_benchmark(
    args: argparse.Namespace, device: torch.device, examples: Sequence[Any]
) -> dict[str, Any]:
    """The decoder-only rows: a random Llama of ``args.size`` on the same sources and targets."""
    tokenizer = train_tokenizer(
        [f"{e.source} {e.target}" for e in examples], vocab_size=500, decoder_only=True
    )
    model = build_model(tokenizer, "llama", size=args.size, seed=0).to(device).eval()
    sources = [example.source for example in examples[: args.examples]]
    targets = [example.target for example in examples[: args.examples]]
    n, batch_size = len(sources), args.batch_size

    def ours(method: str) -> Callable[[], list[SequenceAttribution]]:
        return lambda: attribute(model, tokenizer, sources, targets, method=method, batch_size=batch_size)

    inseq_run, inseq_reduce = inseq_decoder_only_saliency(model, tokenizer, sources, targets, device)
    seconds = median_seconds(
        {
            "saliency": ours("saliency"),
            "training_pass": causal_training_pass(model, tokenizer, sources, targets, batch_size, device),
            "saliency_per_token": ours("saliency_per_token"),
            "inseq_saliency": inseq_run,
        },
        args.repeats,
        device,
    )
    inseq_seconds = seconds["inseq_saliency"]
    inseq_scores = inseq_reduce(inseq_run())
    per_token_scores = ours("saliency_per_token")()
    saliency_scores = ours("saliency")()
    target_ids = CausalFamily().encode_targets(tokenizer, targets)
    return {
        "settings": {
            "model": f"Llama {args.size} {SIZES[args.size]}, random weights, vocab {len(tokenizer)}",
            "examples": n,
            "batch_size": batch_size,
            "inseq_batch_size": 1,  # Inseq's limit for forced decoder-only continuations
            "source_tokens": token_counts([len(ids) for ids in tokenizer(sources)["input_ids"]]),
            "target_tokens": token_counts([len(ids) for ids in target_ids]),  # </s> included
        },
        "results": {
            **comparison_results(n, seconds, inseq_seconds, per_token_scores, inseq_scores, saliency_scores),
        },
    }


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    load_average = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    examples = get_task("synthetic-math", size=max(300, args.examples)).load("train")
    tokenizer = train_tokenizer([f"{e.source} {e.target}" for e in examples], vocab_size=500)
    model = build_model(tokenizer, size=args.size, seed=0).to(device).eval()
    sources = [example.source for example in examples[: args.examples]]
    targets = [example.target for example in examples[: args.examples]]
    n, batch_size, repeats = len(sources), args.batch_size, args.repeats

    def ours(method: str, **options: Any) -> Callable[[], list[SequenceAttribution]]:
        return lambda: attribute(
            model, tokenizer, sources, targets, method=method, batch_size=batch_size, **options
        )

    inseq_run, inseq_reduce = inseq_per_token_saliency(model, tokenizer, sources, targets, batch_size, device)
    seconds = median_seconds(
        {
            "saliency": ours("saliency"),
            "training_pass": training_pass(model, tokenizer, sources, targets, batch_size, device),
            "saliency_per_token": ours("saliency_per_token"),
            "integrated_gradients": ours("integrated_gradients", n_steps=args.ig_steps),
            "inseq_saliency": inseq_run,
        },
        repeats,
        device,
    )
    saliency, inseq_seconds = seconds["saliency"], seconds["inseq_saliency"]

    inseq_scores = inseq_reduce(inseq_run())
    per_token_scores = ours("saliency_per_token")()
    saliency_scores = ours("saliency")()
    return {
        "command": " ".join(["python benchmarks/attribution_speed.py", *args.argv]),
        "environment": {
            "device": device.type,
            "device_name": device_name(device),
            "torch_threads": torch.get_num_threads() if device.type == "cpu" else None,
            "cpu_count": os.cpu_count(),
            "load_average_at_start": load_average,  # other work on a shared machine slows every method
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": version("transformers"),
            "inseq": version("inseq"),
        },
        "settings": {
            "model": f"T5 {args.size} {SIZES[args.size]}, random weights, vocab {len(tokenizer)}",
            "examples": n,
            "batch_size": batch_size,
            "source_tokens": token_counts([len(ids) for ids in tokenizer(sources)["input_ids"]]),
            "target_tokens": token_counts([len(ids) for ids in tokenizer(text_target=targets)["input_ids"]]),
            "ig_steps": args.ig_steps,
            "repeats": repeats,
            "timing": "median of interleaved repeats after one warm-up; time.perf_counter",
        },
        "results": {
            **comparison_results(n, seconds, inseq_seconds, per_token_scores, inseq_scores, saliency_scores),
            "integrated_gradients_cost_vs_n_steps_saliency": seconds["integrated_gradients"]
            / (args.ig_steps * saliency),
        },
        "decoder_only": decoder_only_benchmark(args, device, examples),
    }


def comparison_results(
    n: int,
    seconds: dict[str, float],
    inseq_seconds: float,
    per_token_scores: Sequence[SequenceAttribution],
    inseq_scores: Sequence[np.ndarray],
    saliency_scores: Sequence[SequenceAttribution],
) -> dict[str, Any]:
    """The speeds, speed ratios and agreement with Inseq that the seq2seq and decoder-only results share."""
    saliency = seconds["saliency"]
    return {
        **{name: rate(n, value) for name, value in seconds.items()},
        "saliency_vs_training_pass": seconds["training_pass"] / saliency,
        "saliency_speedup_vs_inseq": inseq_seconds / saliency,
        "saliency_per_token_speedup_vs_inseq": inseq_seconds / seconds["saliency_per_token"],
        "spearman_saliency_per_token_vs_inseq": correlations(per_token_scores, inseq_scores),
        "max_relative_difference_saliency_per_token_vs_inseq": max_relative_difference(
            per_token_scores, inseq_scores
        ),
        "spearman_saliency_vs_inseq": correlations(saliency_scores, inseq_scores),
    }


def comparison_rows(r: dict[str, Any], inseq_label: str) -> list[tuple[str, dict[str, Any], str]]:
    """(method, measurement, comparison) rows that the seq2seq and decoder-only tables share."""
    return [
        (
            "saliency (ours, batched)",
            r["saliency"],
            f"{r['saliency_vs_training_pass']:.2f} x a training pass",
        ),
        ("training pass (forward + backward)", r["training_pass"], "the floor for exact gradient saliency"),
        (
            "saliency_per_token (ours)",
            r["saliency_per_token"],
            f"{r['saliency_per_token_speedup_vs_inseq']:.1f} x Inseq",
        ),
        (
            inseq_label,
            r["inseq_saliency"],
            f"ours (saliency) is {r['saliency_speedup_vs_inseq']:.1f} x faster",
        ),
    ]


def table_lines(rows: Sequence[tuple[str, dict[str, Any], str]]) -> list[str]:
    return [
        "| method | examples/s | seconds | comparison |",
        "|---|---:|---:|---|",
        *(f"| {name} | {m['examples_per_s']:.2f} | {m['seconds']:.3f} | {note} |" for name, m, note in rows),
    ]


def markdown(report: dict[str, Any]) -> str:
    env, settings, r = report["environment"], report["settings"], report["results"]
    rows = [
        *comparison_rows(r, "Inseq saliency"),
        (
            f"integrated_gradients ({settings['ig_steps']} steps)",
            r["integrated_gradients"],
            f"{r['integrated_gradients_cost_vs_n_steps_saliency']:.2f} x n_steps x saliency",
        ),
    ]
    spearman = r["spearman_saliency_per_token_vs_inseq"]
    decoder_only = report.get("decoder_only")
    lines = [
        "# Attribution speed",
        "",
        f"`{report['command']}` on {env['device_name']} ({env['device']}"
        + (f", {env['torch_threads']} torch threads" if env["torch_threads"] else "")
        + f"), torch {env['torch']}, transformers {env['transformers']}, inseq {env['inseq']}.",
        f"{settings['model']}; {settings['examples']} examples, batch size {settings['batch_size']}, source "
        f"tokens {settings['source_tokens']}, target tokens {settings['target_tokens']}; "
        f"{settings['timing']} ({settings['repeats']} repeats).",
        "",
        *table_lines(rows),
        "",
        f"Spearman correlation of per-source-token scores, our saliency_per_token vs Inseq saliency (same "
        f"definition): mean {spearman['mean']:.4f}, min {spearman['min']:.4f}; largest relative difference "
        f"{r['max_relative_difference_saliency_per_token_vs_inseq']:.2e}. Our saliency (norm of the mean "
        f"gradient, a different definition) vs Inseq: mean {r['spearman_saliency_vs_inseq']['mean']:.3f}.",
        "",
        *(decoder_only_markdown(decoder_only, settings["repeats"]) if decoder_only else []),
    ]
    return "\n".join(lines)


def decoder_only_markdown(section: dict[str, Any], repeats: int) -> list[str]:
    settings, r = section["settings"], section["results"]
    spearman = r["spearman_saliency_per_token_vs_inseq"]
    return [
        "## Decoder-only",
        "",
        f"{settings['model']}; the same {settings['examples']} examples, batch size {settings['batch_size']} "
        f"(Inseq: {settings['inseq_batch_size']}), source tokens {settings['source_tokens']}, target tokens "
        f"{settings['target_tokens']} (</s> included); timed in the same way ({repeats} repeats).",
        "",
        *table_lines(comparison_rows(r, "Inseq saliency (one example at a time)")),
        "",
        f"Spearman correlation of per-source-token scores, our saliency_per_token vs Inseq's decoder-only "
        f"saliency (same definition): mean {spearman['mean']:.4f}, min {spearman['min']:.4f}; largest "
        f"relative difference {r['max_relative_difference_saliency_per_token_vs_inseq']:.2e}. Our saliency "
        f"vs Inseq: mean {r['spearman_saliency_vs_inseq']['mean']:.3f}.",
        "",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = run_benchmark(args)
    write_outputs(args.output_dir, "attribution_speed", report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
