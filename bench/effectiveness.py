"""Search effectiveness: genetic vs DFlare vs DiffChaser vs random at equal budgets.

Usage::

    python bench/effectiveness.py                       # default: ~5 min on 2 cores
    python bench/effectiveness.py --seeds 100 --budget 500 --rng-seeds 10 \\
        --pairs digits:int8-static,digits:int4-weight,spectral:int8-static

For every model pair and strategy, each seed is searched once per RNG seed in
mode ``first`` (stop at the first divergence), then a subset in mode ``many``.
Reported per strategy: success rate, median / mean queries to the first
divergence (over successes), wall seconds per seed, divergences (clusters) and
distinct label pairs per seed in ``many`` mode, mean SSIM / L2 of the shrunk
(minimal) chains; then, for genetic against each other strategy, the
Vargha–Delaney A12 effect size and the two-sided Mann–Whitney U p-value on
per-search queries to first divergence (a failed search counts as budget + 1,
so the comparison covers success and speed at once; A12 > 0.5 means genetic
needs fewer queries). Results are also written as JSON (``--json``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# Run as a script, this folder comes first on sys.path and its relations.py
# would shadow the relations package: put the repository root there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402
from scipy.stats import mannwhitneyu  # noqa: E402

from diverfuzz.fuzzer.campaign.config import CampaignConfig  # noqa: E402
from diverfuzz.fuzzer.campaign.seed import seed_rng  # noqa: E402
from diverfuzz.fuzzer.campaign.workload import prepare, seed_input, select_seeds  # noqa: E402
from diverfuzz.fuzzer.search import SearchSpace, get_strategy  # noqa: E402
from diverfuzz.fuzzer.search.evaluate import SeedEvaluator  # noqa: E402
from diverfuzz.fuzzer.search.shrink import shrink_divergence  # noqa: E402
from diverfuzz.models.pair import torch_threads  # noqa: E402
from diverfuzz.relations import Validity, l2, ssim  # noqa: E402

STRATEGIES = ("genetic", "dflare", "diffchaser", "random")


@dataclass
class Runs:
    costs: list[int] = field(default_factory=list)  # queries to first divergence, budget + 1 if none
    walls: list[float] = field(default_factory=list)
    ssims: list[float] = field(default_factory=list)
    l2s: list[float] = field(default_factory=list)
    many_divergences: list[int] = field(default_factory=list)
    many_pairs: list[int] = field(default_factory=list)


def a12(x: list[float], y: list[float]) -> float:
    """Vargha–Delaney A12: probability that a draw of ``x`` is smaller than one of ``y`` (ties count half)."""
    xa, ya = np.asarray(x)[:, None], np.asarray(y)[None, :]
    return float(((xa < ya).sum() + 0.5 * (xa == ya).sum()) / (xa.size * ya.size))


def available_pairs(requested: list[str]) -> list[tuple[str, str]]:
    """The requested ``example:precision`` pairs this installation can build (others are skipped, with a note)."""
    from diverfuzz.models.examples import EXAMPLES
    from diverfuzz.models.precision import parse_precision

    out = []
    for item in requested:
        example, _, precision = item.partition(":")
        try:
            if example not in EXAMPLES:
                raise ValueError(f"example {example!r} is not bundled")
            parse_precision(precision)
        except Exception as exc:  # noqa: BLE001 - report and skip
            print(f"skipping {item}: {exc}")
            continue
        out.append((example, precision))
    return out


def run_pair(example: str, precision: str, args) -> dict[str, Runs]:
    config = CampaignConfig(example=example, precision=precision, seeds=args.seeds, budget=args.budget)
    workload = prepare(config)
    indices = [int(i) for i in select_seeds(workload, args.seeds).indices]
    space = SearchSpace.from_names(workload.relations)
    validity = Validity.parse(config.validity)
    results = {name: Runs() for name in args.strategies}
    for name in args.strategies:
        strategy = get_strategy(name, population=args.population)
        runs = results[name]
        for r in range(args.rng_seeds):
            for index in indices:
                seed = seed_input(workload, index)
                t0 = time.perf_counter()
                ev = SeedEvaluator(workload.pair, seed, index, args.budget, validity)
                strategy.search(ev, space, seed_rng(r, index))
                runs.walls.append(time.perf_counter() - t0)
                if ev.queries > args.budget:
                    raise AssertionError(f"{name} spent {ev.queries} > budget {args.budget}")
                if ev.divergence is None:
                    runs.costs.append(args.budget + 1)
                    continue
                runs.costs.append(ev.divergence.queries)
                d = shrink_divergence(ev.divergence, ev)
                mutant = d.minimal_chain.apply(seed)
                runs.ssims.append(ssim(seed, mutant))
                runs.l2s.append(l2(seed, mutant))
        for index in indices[: args.many_seeds]:
            ev = SeedEvaluator(workload.pair, seed_input(workload, index), index, args.budget, validity, mode="many")
            strategy.search(ev, space, seed_rng(0, index))
            if ev.queries != args.budget:
                raise AssertionError(f"{name} (many) spent {ev.queries} != budget {args.budget}")
            runs.many_divergences.append(len(ev.divergences))
            runs.many_pairs.append(len({(d.reference_label, d.candidate_label) for d in ev.divergences}))
        print(f"  {example}:{precision} {name}: done", flush=True)
    return results


def _fmt(v, spec=".1f") -> str:
    return "-" if v is None else format(v, spec)


def table(pair: str, results: dict[str, Runs], budget: int) -> tuple[str, dict]:
    rows, record = [], {}
    head = (
        f"| {pair} | success | median q | mean q | s/seed | many: div/seed | many: pairs/seed "
        "| min-chain SSIM | min-chain L2 |"
    )
    rows.append(head)
    rows.append("|" + "---|" * 9)
    for name, runs in results.items():
        hits = [c for c in runs.costs if c <= budget]
        rec = {
            "success_rate": len(hits) / len(runs.costs),
            "median_queries": float(statistics.median(hits)) if hits else None,
            "mean_queries": float(np.mean(hits)) if hits else None,
            "wall_per_seed": float(np.mean(runs.walls)),
            "many_divergences_per_seed": float(np.mean(runs.many_divergences)) if runs.many_divergences else None,
            "many_label_pairs_per_seed": float(np.mean(runs.many_pairs)) if runs.many_pairs else None,
            "min_chain_ssim": float(np.mean(runs.ssims)) if runs.ssims else None,
            "min_chain_l2": float(np.mean(runs.l2s)) if runs.l2s else None,
            "searches": len(runs.costs),
        }
        record[name] = rec
        rows.append(
            f"| {name} | {100 * rec['success_rate']:.1f}% | {_fmt(rec['median_queries'], 'g')} "
            f"| {_fmt(rec['mean_queries'])} | {_fmt(rec['wall_per_seed'], '.2f')} "
            f"| {_fmt(rec['many_divergences_per_seed'], '.2f')} | {_fmt(rec['many_label_pairs_per_seed'], '.2f')} "
            f"| {_fmt(rec['min_chain_ssim'], '.3f')} | {_fmt(rec['min_chain_l2'], '.3f')} |"
        )
    if "genetic" in results:
        rows.append("")
        rows.append("| genetic vs | A12 (queries, >0.5 favours genetic) | Mann–Whitney U p |")
        rows.append("|---|---|---|")
        g = results["genetic"].costs
        for name, runs in results.items():
            if name == "genetic":
                continue
            effect = a12(g, runs.costs)
            p = float(mannwhitneyu(g, runs.costs, alternative="two-sided").pvalue) if g != runs.costs else 1.0
            record[name]["a12_genetic_vs"] = effect
            record[name]["mannwhitney_p_genetic_vs"] = p
            rows.append(f"| {name} | {effect:.3f} | {p:.2g} |")
    return "\n".join(rows), record


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30, help="seeds per pair (default 30)")
    parser.add_argument("--budget", type=int, default=300, help="queries per seed (default 300)")
    parser.add_argument("--rng-seeds", type=int, default=5, help="RNG seeds per strategy (default 5)")
    parser.add_argument("--many-seeds", type=int, default=5, help="seeds also searched in mode many (default 5)")
    parser.add_argument("--population", type=int, default=10, help="genetic population / random batch (default 10); DiffChaser and DFlare keep their published defaults")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--pairs", default="digits:int8-static", help="example:precision,... (default digits:int8-static)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    args.strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    out = {}
    started = time.perf_counter()
    with torch_threads(args.threads):
        for example, precision in available_pairs(args.pairs.split(",")):
            results = run_pair(example, precision, args)
            text, record = table(f"{example}:{precision}", results, args.budget)
            print(text, flush=True)
            out[f"{example}:{precision}"] = record
    print(
        f"\n{args.seeds} seeds x {args.rng_seeds} RNG seeds, budget {args.budget}, "
        f"many mode on {args.many_seeds} seeds; {time.perf_counter() - started:.0f} s total"
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "results": out}, fh, indent=2)


if __name__ == "__main__":
    main()
