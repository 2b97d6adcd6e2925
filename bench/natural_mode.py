"""Mode ``natural`` against mode ``first``: how much more natural is the reported divergence?

Usage::

    nice -n 5 python bench/natural_mode.py --pair digits:int8-static --seeds 2 --rng-seeds 10 --budget 1000

    nice -n 5 python bench/natural_mode.py --goal "psnr>=20" --pair mnist:int8-static --seeds 10 --rng-seeds 5 \
        --params '[{}, {"bisect": 16, "screen": 2}, {"bisect": 16, "screen": 4}]' \
        --json bench/results/search_goal_lenet5.json

    nice -n 5 python bench/natural_mode.py --whitebox --pair mnist:int8-static --seeds 200 \
        --json bench/results/search_whitebox_lenet5.json

    nice -n 10 python bench/natural_mode.py --ceiling --pair mnist:int8-static --seeds 10 --budget 6000 \
        --json bench/results/search_ceiling_lenet5.json

Runs the genetic search on the same seeds with the same RNG seeds in both
modes, under the project's default validity rule, and prints per mode the
success rate and the median PSNR / SSIM (to the seed) of the divergence each
search reports. Mode ``natural`` spends the whole budget, so it also costs
more queries per seed; both numbers are printed side by side.

``--ceiling`` instead estimates how many seeds can be flipped at all under
the natural rules (``psnr>=20``, ``psnr>=20 and ssim>=0.9``): per seed,
random chains at six strengths (``scale`` 0.02 to 1, an equal share of
``--budget`` each) and the genetic search with validity repair and the log
objective, each with the whole ``--budget``; a seed counts as flippable when
either finds a divergence. It also prints the reference's top-2 probability
margin on each seed.

``--goal RULE`` runs the genetic search with each configuration of
``--params`` under ``RULE`` on ``--seeds`` seeds x ``--rng-seeds`` RNG
seeds and prints the success rate with its 95% Wilson interval and the
median PSNR / SSIM of the divergences found.

``--whitebox`` bounds what *any* search could reach under ``psnr>=20``:
projected gradient ascent on the reference's cross-entropy (L2 ball of
radius ``sqrt(n_pixels) * 10**(-20/20)``, the PSNR-20 budget on [0, 1]
inputs; ``--whitebox-steps`` steps, ``--whitebox-restarts`` random
starts) from every seed, checking both models' labels at every iterate. A
seed counts as reachable when some iterate inside the ball changes either
model's label: on the straight path from the seed to it the models then
change label at (generically) different points, and a divergence lies in
between. Gradient attacks find an upper part of the reachable set, not all
of it, so this is an estimate from below of the ceiling; a black-box search
over natural transformations sits at or under it.
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

from diverfuzz.fuzzer.campaign.config import CampaignConfig  # noqa: E402
from diverfuzz.fuzzer.campaign.seed import seed_rng  # noqa: E402
from diverfuzz.fuzzer.campaign.workload import prepare, seed_input, select_seeds  # noqa: E402
from diverfuzz.fuzzer.search import SearchSpace, get_strategy  # noqa: E402
from diverfuzz.fuzzer.search.evaluate import SeedEvaluator  # noqa: E402
from diverfuzz.models.pair import torch_threads  # noqa: E402
from diverfuzz.relations import DEFAULT_VALIDITY, Validity  # noqa: E402

CEILING_SCALES = (0.02, 0.05, 0.1, 0.2, 0.4, 1.0)
CEILING_RULES = ("psnr>=20", "psnr>=20 and ssim>=0.9")


def ceiling(workload, indices: list[int], budget: int) -> dict:
    """Per natural rule and seed: does a big random or genetic budget flip it (see ``--ceiling``)."""
    from diverfuzz.oracles import softmax

    space = SearchSpace.from_names(workload.relations)
    genetic = get_strategy("genetic", params={"repair": 5, "objective": "log"})
    per = budget // len(CEILING_SCALES)
    out = {}
    for rule in CEILING_RULES:
        validity = Validity.parse(rule)
        rows = []
        for index in indices:
            x = seed_input(workload, index)
            ref, _ = workload.pair.logits(x[None])
            top = np.sort(softmax(ref)[0])[::-1]
            row = {"seed": index, "top2_margin": float(top[0] - top[1])}
            rng = seed_rng(0, index)
            ev = SeedEvaluator(workload.pair, x, index, per * len(CEILING_SCALES), validity)
            for scale in CEILING_SCALES:
                while not ev.done and ev.queries < per * (CEILING_SCALES.index(scale) + 1):
                    n = min(50, per * (CEILING_SCALES.index(scale) + 1) - ev.queries)
                    ev.evaluate([space.decode(g) for g in space.sample(rng, n, scale=scale)])
            gev = SeedEvaluator(workload.pair, x, index, budget, validity)
            genetic.search(gev, space, seed_rng(0, index))
            for name, e in (("random", ev), ("genetic", gev)):
                d = e.divergence
                row[name] = None if d is None else {"queries": d.queries, "psnr": d.validity["psnr"],
                                                    "ssim": d.validity["ssim"], "chain": d.chain.to_list()}
            rows.append(row)
            print(f"{rule} seed {index}: top-2 margin {row['top2_margin']:.4f}, random "
                  f"{'-' if row['random'] is None else row['random']['queries']}, genetic "
                  f"{'-' if row['genetic'] is None else row['genetic']['queries']}", flush=True)
        flippable = sum(r["random"] is not None or r["genetic"] is not None for r in rows)
        out[rule] = {"seeds": rows, "flippable": flippable, "of": len(rows)}
        print(f"{rule}: {flippable}/{len(rows)} seeds flippable within {budget} queries", flush=True)
    return out


def whitebox(workload, indices: list[int], steps: int, restarts: int, psnr: float = 20.0) -> dict:
    """PGD-L2 reachability under ``psnr`` (see ``--whitebox``); the reference must be a torch module."""
    import torch

    model = workload.pair.reference
    if not isinstance(model, torch.nn.Module):
        raise SystemExit("--whitebox needs a PyTorch reference")
    x = torch.tensor(np.stack([seed_input(workload, i) for i in indices]))
    eps = float(np.sqrt(x[0].numel()) * 10 ** (-psnr / 20))
    ref0, _ = workload.pair.logits(x.numpy())
    y = torch.tensor(ref0.argmax(axis=1))
    reached = np.zeros(len(indices), dtype=bool)
    gen = torch.Generator().manual_seed(0)
    for restart in range(restarts):
        delta = torch.zeros_like(x)
        if restart:
            delta = torch.randn(x.shape, generator=gen)
            delta *= 0.5 * eps / delta.flatten(1).norm(dim=1)[:, None, None, None]
        for it in range(steps):
            delta.requires_grad_(True)
            loss = torch.nn.functional.cross_entropy(model(torch.clamp(x + delta, 0, 1)), y)
            (grad,) = torch.autograd.grad(loss, delta)
            size = 0.1 * eps * (1 - it / steps) + 0.01 * eps  # a decaying step
            with torch.no_grad():
                delta = delta + size * grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12)[:, None, None, None]
                delta *= torch.clamp(eps / delta.flatten(1).norm(dim=1).clamp_min(1e-12), max=1.0)[:, None, None, None]
                delta = torch.clamp(x + delta, 0, 1) - x
                ref, cand = workload.pair.logits((x + delta).numpy())
                reached |= (ref.argmax(axis=1) != y.numpy()) | (cand.argmax(axis=1) != y.numpy())
        print(f"restart {restart}: {reached.sum()}/{len(indices)} seeds reachable", flush=True)
    return {"psnr": psnr, "l2_radius": eps, "steps": steps, "restarts": restarts,
            "reachable": int(reached.sum()), "of": len(indices),
            "unreachable_seeds": [i for i, r in zip(indices, reached) if not r]}


def goal(workload, indices: list[int], rng_seeds: int, budget: int, configs: list[dict], rule: str) -> dict:
    """Success of genetic configurations under ``rule`` over seeds x RNG seeds (see ``--goal``)."""
    from scipy.stats import binomtest

    space = SearchSpace.from_names(workload.relations)
    validity = Validity.parse(rule)
    out = {}
    for params in configs:
        found, n = [], 0
        strategy = get_strategy("genetic", params=params)
        for r in range(rng_seeds):
            for index in indices:
                ev = SeedEvaluator(workload.pair, seed_input(workload, index), index, budget, validity)
                strategy.search(ev, space, seed_rng(r, index))
                n += 1
                if ev.divergence is not None:
                    found.append((ev.divergence.validity["psnr"], ev.divergence.validity["ssim"]))
        k = len(found)
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        rec = {"success": k / n, "n": n, "ci95": [float(ci.low), float(ci.high)],
               "median_psnr": float(np.median([f[0] for f in found])) if found else None,
               "median_ssim": float(np.median([f[1] for f in found])) if found else None}
        out[json.dumps(params, sort_keys=True)] = rec
        print(f"{rule} genetic {params}: success {k}/{n} = {rec['success']:.2f} "
              f"[{rec['ci95'][0]:.2f}, {rec['ci95'][1]:.2f}], median PSNR {rec['median_psnr']}, "
              f"median SSIM {rec['median_ssim']}", flush=True)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", default="digits:int8-static", help="example:precision (default digits:int8-static)")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--rng-seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--json", default=None)
    parser.add_argument("--ceiling", action="store_true", help="estimate flippable seeds under the natural rules")
    parser.add_argument("--whitebox", action="store_true", help="PGD-L2 reachability under psnr>=20 (see above)")
    parser.add_argument("--whitebox-steps", type=int, default=200)
    parser.add_argument("--whitebox-restarts", type=int, default=3)
    parser.add_argument("--goal", default=None, metavar="RULE",
                        help="success of genetic configurations (--params) under RULE, e.g. 'psnr>=20'")
    parser.add_argument("--params", default='[{}]', help="JSON list of genetic field overrides for --goal")
    args = parser.parse_args(argv)
    example, _, precision = args.pair.partition(":")
    if args.goal or args.whitebox or args.ceiling:
        with torch_threads(1):
            workload = prepare(CampaignConfig(example=example, precision=precision, seeds=args.seeds, budget=1000))
            indices = [int(i) for i in select_seeds(workload, args.seeds).indices]
            out = {"args": vars(args)}
            if args.goal:
                out["goal"] = goal(workload, indices, args.rng_seeds, args.budget, json.loads(args.params), args.goal)
            elif args.whitebox:
                out["whitebox"] = whitebox(workload, indices, args.whitebox_steps, args.whitebox_restarts)
                print(f"{args.pair}: {out['whitebox']['reachable']}/{len(indices)} seeds reachable under psnr>=20 "
                      f"(PGD-L2, radius {out['whitebox']['l2_radius']:.2f})", flush=True)
            else:
                out["rules"] = ceiling(workload, indices, args.budget)
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=1))
        return
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
