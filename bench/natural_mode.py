"""Mode ``natural`` against mode ``first``: how much more natural is the reported divergence?

Usage::

    nice -n 5 python bench/natural_mode.py --pair digits:int8-static --seeds 2 --rng-seeds 10 --budget 1000

Runs the genetic search on the same seeds with the same RNG seeds in both
modes, under the project's default validity rule, and prints per mode the
success rate and the median PSNR / SSIM (to the seed) of the divergence each
search reports. Mode ``natural`` spends the whole budget, so it also costs
more queries per seed; both numbers are printed side by side.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402

from fuzzer.campaign.config import CampaignConfig  # noqa: E402
from fuzzer.campaign.seed import seed_rng  # noqa: E402
from fuzzer.campaign.workload import prepare, seed_input, select_seeds  # noqa: E402
from fuzzer.models.pair import torch_threads  # noqa: E402
from fuzzer.search import SearchSpace, get_strategy  # noqa: E402
from fuzzer.search.evaluate import SeedEvaluator  # noqa: E402
from relations import DEFAULT_VALIDITY, Validity  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", default="digits:int8-static", help="example:precision (default digits:int8-static)")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--rng-seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    example, _, precision = args.pair.partition(":")
    out = {"args": vars(args), "validity": DEFAULT_VALIDITY, "modes": {}}
    with torch_threads(1):
        workload = prepare(CampaignConfig(example=example, precision=precision, seeds=args.seeds, budget=args.budget))
        indices = [int(i) for i in select_seeds(workload, args.seeds).indices]
        space = SearchSpace.from_names(workload.relations)
        validity = Validity.parse(DEFAULT_VALIDITY)
        strategy = get_strategy("genetic")
        for mode in ("first", "natural"):
            found, queries = [], []
            for r in range(args.rng_seeds):
                for index in indices:
                    ev = SeedEvaluator(workload.pair, seed_input(workload, index), index, args.budget, validity, mode=mode)
                    strategy.search(ev, space, seed_rng(r, index))
                    queries.append(ev.queries)
                    if ev.divergence is not None:
                        found.append((ev.divergence.validity["psnr"], ev.divergence.validity["ssim"]))
            n = args.seeds * args.rng_seeds
            rec = {
                "success": len(found) / n,
                "median_psnr": float(np.median([f[0] for f in found])) if found else None,
                "median_ssim": float(np.median([f[1] for f in found])) if found else None,
                "share_psnr_ge_20": float(np.mean([f[0] >= 20 for f in found])) if found else None,
                "mean_queries": float(np.mean(queries)),
            }
            out["modes"][mode] = rec
            print(f"{args.pair} mode {mode}: success {rec['success']:.2f}, median PSNR {rec['median_psnr']}, "
                  f"median SSIM {rec['median_ssim']}, divergences with PSNR>=20: {rec['share_psnr_ge_20']}, "
                  f"mean queries {rec['mean_queries']:.0f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
