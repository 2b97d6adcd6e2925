"""diverfuzz estimate: draws/s against raw batched dual inference, and the full table of a pair.

Two parts, each measured in this one process on one thread:

``throughput``
    ``estimate`` on ``--seeds`` seeds x ``--samples`` draws x every relation of the input kind at
    ``--severities``; then the same number of inputs through both models as raw batched inference
    (``ModelPair.logits`` on the seeds tiled, in the workload's batch size). Prints both rates
    and their ratio (the issue's goal: >= 0.5).

``table``
    The full table (every relation x severities 1-5, ``--seeds`` x ``--samples`` draws per cell)
    written to ``--doc`` as Markdown, with the search's success on the same pair and seeds
    (``--search-seeds`` seeds, ``--search-budget`` queries each, default ``natural`` rule).

Examples
--------
python bench/estimate.py throughput --example mnist --precision int8-static --seeds 20 --samples 50 --severities 3
python bench/estimate.py throughput --pair mobilenet --precision onnx-int8 --seeds 2 --samples 3 --severities 3
python bench/estimate.py table --example mnist --precision int8-static --seeds 100 --samples 10 \\
    --doc docs/estimate-lenet5.md --name "LeNet-5 vs int8-static"
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from provenance import commit_label  # bench/provenance.py

from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.fuzzer.campaign.driver import run_campaign
from diverfuzz.fuzzer.campaign.workload import Workload, batch_rows, prepare
from diverfuzz.fuzzer.estimate import estimate, run_estimate
from diverfuzz.models.pair import ModelPair, torch_threads
from diverfuzz.reports.estimate_view import cell_text, estimate_markdown_rows, worst_entry


def _config(args: argparse.Namespace, seeds: int) -> CampaignConfig:
    given = {k: getattr(args, k) for k in ("example", "model", "candidate", "data", "input_range") if getattr(args, k)}
    if not args.candidate:
        given["precision"] = args.precision
    return CampaignConfig(seeds=seeds, threads=1, **given)


def _mobilenet(args: argparse.Namespace) -> Workload:
    """MobileNetV2 at 3x224x224 (untrained weights: throughput only) on photo crops, as bench/realsize.py builds it."""
    from realsize import pair_data  # bench/realsize.py, beside this script

    from diverfuzz.models.precision import build_counterpart
    from diverfuzz.relations import names_for_kind

    reference, x, y, calibration, description = pair_data("mobilenet", args.seeds)
    candidate = build_counterpart(args.precision, reference, calibration)
    pair = ModelPair(reference, candidate, batch_size=batch_rows(x.shape[1:]))
    return Workload(pair, x, y, {"model": description, "candidate": args.precision},
                    relations=names_for_kind("image", channels=3))


def throughput(args: argparse.Namespace) -> None:
    with torch_threads(1):
        workload = _mobilenet(args) if args.pair == "mobilenet" else prepare(_config(args, args.seeds))
        x = workload.x[: args.seeds]
        rows = batch_rows(x.shape[1:])
        result = estimate(workload.pair, x, relations=workload.relations, samples=args.samples,
                          severities=args.severities, batch_rows=rows)
        sampled = result.draws / result.seconds
        inputs = np.ascontiguousarray(np.resize(x, (result.draws,) + x.shape[1:]), dtype=np.float32)
        started = time.perf_counter()
        for lo in range(0, len(inputs), rows):
            workload.pair.logits(inputs[lo : lo + rows])
        raw = len(inputs) / (time.perf_counter() - started)
    print(f"pair: {workload.description['model']} vs {workload.description['candidate']}, inputs {tuple(x.shape[1:])}")
    print(f"estimate: {result.draws} draws ({args.seeds} seeds x {args.samples} samples x {len(workload.relations)} "
          f"relations x severities {args.severities} + clean) in {result.seconds:.1f} s: {sampled:.0f} draws/s")
    print(f"raw batched dual inference, same inputs count, batch {rows}: {raw:.0f} inputs/s")
    print(f"ratio: {sampled / raw:.2f}")
    if args.result:  # one JSON line per run, with the command and the commit it measured
        record = {"command": "python bench/estimate.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
                  "commit": commit_label(), "inputs": list(x.shape[1:]), "draws": result.draws,
                  "draws_per_s": round(sampled, 1), "raw_inputs_per_s": round(raw, 1), "ratio": round(sampled / raw, 3)}
        with open(args.result, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")


def table(args: argparse.Namespace) -> None:
    config = _config(args, args.seeds)
    command = "python bench/estimate.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with tempfile.TemporaryDirectory() as tmp:
        run = run_estimate(config, Path(tmp) / "estimate", samples=args.samples, severities="1-5")
        search = None
        if args.search_seeds:
            search_config = CampaignConfig(**{**config.to_dict(), "seeds": args.search_seeds,
                                              "budget": args.search_budget, "relations": None})
            started = time.perf_counter()
            report = run_campaign(search_config, Path(tmp) / "search").report
            search = (report["summary"], time.perf_counter() - started)
    result = run.result
    records = result.records()
    header, rows = estimate_markdown_rows(records)
    worst = worst_entry(records)
    per_cell = run.seeds * args.samples
    lines = [
        f"# Divergence probability: {args.name}",
        "",
        f"Produced by `{command}` at commit {commit_label()} on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC (2 shared cores, one thread).",
        "",
        f"Every relation of the input kind x severities 1-5: {run.seeds} seeds (the first inputs of the data, "
        f"unscreened) x {args.samples} draws = {per_cell} draws per cell, {result.draws} draws in all, "
        f"{result.seconds:.0f} s ({result.draws / result.seconds:.0f} draws/s). Percent of draws on which the "
        "two labels differ, with the 95% interval over seeds (BCa bootstrap over seeds; exact Clopper-Pearson "
        "over seeds for the clean column, over all draws where no draw disagrees). Severity s draws each "
        "relation's parameters uniformly over its natural range at s (identity to the severity-s bound); no "
        "pixel rule.",
        "",
        f"Highest upper bound: {worst['relation']} at severity {worst['severity']}, {cell_text(worst)} %.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
    ]
    if search is not None:
        summary, seconds = search
        lines += [
            "## Against the search on the same pair",
            "",
            f"A campaign on the first {args.search_seeds} inputs (default genetic search, `natural` rule, "
            f"{args.search_budget} queries per seed, {seconds:.0f} s): search success "
            f"{summary.get('success_rate', 0):.2f} of {summary.get('seeds')} fuzzed seeds, divergence rate "
            f"{summary.get('divergence_rate', 0):.2f} counting clean disagreements.",
            "",
            f"The search shows that a divergence exists near {summary.get('success_rate', 0):.0%} of the seeds; "
            f"the estimate says how often a random natural distortion meets one: at most "
            f"{100 * max(r['probability'] for r in records):.2f}% of draws in any cell (upper bounds up to "
            f"{100 * max(r['high'] for r in records if r['severity'] > 0):.2f}% for the distorted cells).",
            "",
        ]
    Path(args.doc).parent.mkdir(parents=True, exist_ok=True)
    Path(args.doc).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    print(f"written: {args.doc}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("throughput", "table"))
    parser.add_argument("--pair", choices=("config", "mobilenet"), default="config",
                        help="throughput part: the pair the options name, or MobileNetV2 at 224x224 (untrained)")
    parser.add_argument("--example", default="mnist")
    parser.add_argument("--model")
    parser.add_argument("--candidate")
    parser.add_argument("--data")
    parser.add_argument("--input-range", dest="input_range")
    parser.add_argument("--precision", default="int8-static")
    parser.add_argument("--seeds", type=int, default=20, help="seeds (default 20)")
    parser.add_argument("--samples", type=int, default=50, help="draws per seed and cell (default 50)")
    parser.add_argument("--severities", default="3", help="throughput part only (default 3)")
    parser.add_argument("--result", default=None, help="throughput part: append one JSON line here")
    parser.add_argument("--doc", default="docs/estimate-lenet5.md", help="table part: the Markdown file written")
    parser.add_argument("--name", default="LeNet-5 vs int8-static", help="table part: the pair's name in the title")
    parser.add_argument("--search-seeds", type=int, default=20, help="table part: seeds of the search run (0: none)")
    parser.add_argument("--search-budget", type=int, default=200, help="table part: queries per seed of the search")
    args = parser.parse_args(argv)
    (throughput if args.part == "throughput" else table)(args)


if __name__ == "__main__":
    main()
