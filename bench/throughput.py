"""Campaign throughput next to raw inference, measured side by side in one run.

Usage: ``python bench/throughput.py [--seeds 20] [--budget 500] [--strategy genetic]``

Prints candidates evaluated per second by a real campaign on the bundled
digits CNN and its int8-static counterpart, and raw batched inference of
both models on the same number of inputs (in batches of the population
size, and in one large batch), with the ratios. The gap is the cost of
everything that is not inference: applying relation chains with
scikit-image, the validity metrics (SSIM), the search itself and the corpus.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

# bench/relations.py and bench/defenses.py are named like the packages they
# measure: run as a script, this folder comes first on sys.path and would
# shadow them, so it is taken off.
_HERE = _Path(__file__).resolve().parent
_sys.path[:] = [p for p in _sys.path if _Path(p or ".").resolve() != _HERE]
_sys.path.insert(0, str(_HERE.parent))

import argparse
import tempfile
import time

import numpy as np

from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.fuzzer.campaign.driver import run_campaign
from diverfuzz.fuzzer.campaign.workload import prepare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budget", type=int, default=500)
    parser.add_argument("--strategy", default="genetic", choices=("genetic", "random"))
    args = parser.parse_args()

    config = CampaignConfig(seeds=args.seeds, budget=args.budget, strategy=args.strategy)
    workload = prepare(config)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        result = run_campaign(config, out, workload=workload)
        campaign_s = time.perf_counter() - t0
    queries = result.report["summary"]["queries"]

    rng = np.random.default_rng(0)
    inputs = workload.x[rng.integers(0, len(workload.x), size=queries)]
    pair = workload.pair
    t0 = time.perf_counter()
    for start in range(0, queries, config.population):
        pair.logits(inputs[start : start + config.population])
    raw_small_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pair.logits(inputs)
    raw_large_s = time.perf_counter() - t0

    print(f"bundled digits CNN vs int8-static, {args.seeds} seeds x budget {args.budget}, {args.strategy}")
    print(f"{'what':<42}{'inputs':>9}{'seconds':>10}{'inputs/s':>12}")
    rows = [
        ("campaign (relations+validity+search+models)", queries, campaign_s),
        (f"raw inference, batches of {config.population}", queries, raw_small_s),
        ("raw inference, one batch", queries, raw_large_s),
    ]
    for name, n, s in rows:
        print(f"{name:<42}{n:>9}{s:>10.2f}{n / s:>12.0f}")
    print(f"ratio campaign / raw (batches of {config.population}): {raw_small_s / campaign_s:.3f}")
    print(f"ratio campaign / raw (one batch): {raw_large_s / campaign_s:.3f}")
    print(f"success rate {result.report['summary']['success_rate']:.2f}, "
          f"median queries to first divergence {result.report['summary']['median_queries_to_first_divergence']}")


if __name__ == "__main__":
    main()
