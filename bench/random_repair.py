"""Random search with and without the genetic search's validity repair and noise tail, on the digits pair.

Usage::

    python bench/random_repair.py --seeds 10 --rng-seeds 3 --levels default --json bench/results/random_repair_default.json
    python bench/random_repair.py --seeds 10 --rng-seeds 3 --levels natural --json bench/results/random_repair_natural.json

Measures the defaults of :class:`diverfuzz.fuzzer.search.random_search.RandomSearch`
(``repair``, ``tail``) on the bundled digits example against ``int8-static``
only (no reported pair is used for tuning), at the project's default validity
rule (``natural``: the natural distortion model, random sampling it uniformly) and at
the natural level of ``bench/search_suite.py`` (``psnr>=20`` on these 8x8 inputs): per
configuration, success at budgets 100 / 300 / 1000 (mode ``first``, read off
one run at the largest budget) with a 95% Wilson interval over seeds x RNG
seeds, the mean queries to the first divergence (``budget + 1`` when none),
and the median PSNR of what was found. Seeds are drawn at random from the
eligible test inputs with a recorded RNG seed (``--seed-rng``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402

from diverfuzz.fuzzer.campaign.config import CampaignConfig  # noqa: E402
from diverfuzz.fuzzer.campaign.seed import seed_rng  # noqa: E402
from diverfuzz.fuzzer.campaign.workload import prepare, seed_input, select_seeds  # noqa: E402
from diverfuzz.fuzzer.search import SearchSpace, get_strategy  # noqa: E402
from diverfuzz.fuzzer.search.evaluate import SeedEvaluator  # noqa: E402
from diverfuzz.relations import DEFAULT_VALIDITY, Validity  # noqa: E402

BUDGETS = (100, 300, 1000)
LEVELS = {"default": DEFAULT_VALIDITY, "natural": "psnr>=20"}
CONFIGS = ({}, {"repair": 5}, {"repair": 5, "tail": True})


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--rng-seeds", type=int, default=5)
    ap.add_argument("--seed-rng", type=int, default=24, help="RNG seed of the random choice of seeds")
    ap.add_argument("--levels", default=",".join(LEVELS), help="comma-separated, of: " + ", ".join(LEVELS))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    workload = prepare(CampaignConfig(example="digits", precision="int8-static", seeds=10**6, budget=max(BUDGETS)))
    eligible = [int(i) for i in select_seeds(workload, 10**6).indices]
    rng = np.random.default_rng(args.seed_rng)
    indices = sorted(int(i) for i in rng.choice(eligible, size=min(args.seeds, len(eligible)), replace=False))
    out: dict = {"pair": "digits:int8-static", "seeds": indices, "seed_rng": args.seed_rng,
                 "rng_seeds": args.rng_seeds, "levels": {}}
    try:
        out["commit"] = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False,
                                       cwd=_HERE.parent).stdout.strip()
    except OSError:
        pass
    for level in args.levels.split(","):
        rule = LEVELS[level]
        validity = Validity.parse(rule)
        if validity.natural:  # the natural model's space, as a campaign builds it (bench/search_suite.py)
            space = SearchSpace.natural(workload.relations, validity.severity_for(tuple(workload.x.shape[1:])))
        else:
            space = SearchSpace.from_names(workload.relations)
        rows = {}
        for params in CONFIGS:
            search = get_strategy("random", params=params)
            t0 = time.perf_counter()
            q, psnr = [], []
            for r in range(args.rng_seeds):
                for index in indices:
                    ev = SeedEvaluator(workload.pair, seed_input(workload, index), index, max(BUDGETS), validity)
                    search.search(ev, space, seed_rng(r, index))
                    d = ev.divergence
                    q.append(None if d is None else d.queries)
                    if d is not None:
                        psnr.append(float(d.validity["psnr"]))
            row = {"n": len(q), "seconds": round(time.perf_counter() - t0, 1)}
            for b in BUDGETS:
                k = sum(x is not None and x <= b for x in q)
                row[f"success@{b}"] = [k / len(q), *wilson(k, len(q))]
            row["mean_cost@1000"] = float(np.mean([x if x is not None else max(BUDGETS) + 1 for x in q]))
            row["median_psnr"] = float(np.median(psnr)) if psnr else None
            key = "random" + ("" if not params else "(" + ",".join(f"{k}={v}" for k, v in sorted(params.items())) + ")")
            rows[key] = row
            print(f"[{level}: {rule}] {key}: " + ", ".join(
                f"{b}: {row[f'success@{b}'][0]:.2f} [{row[f'success@{b}'][1]:.2f}, {row[f'success@{b}'][2]:.2f}]"
                for b in BUDGETS) + f", mean cost {row['mean_cost@1000']:.0f}, median PSNR {row['median_psnr']}, "
                f"{row['seconds']} s", flush=True)
        out["levels"][level] = {"rule": rule, "configs": rows}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
