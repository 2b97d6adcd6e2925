"""Supervisors and defenses against quantization divergences, over several RNG seeds.

Usage::

    python bench/defenses.py supervisors [--rng-seeds 0 1 2 3 4] [--seeds 50] [--budget 500] [--example digits]
    python bench/defenses.py defenses [--rng-seeds 0 1 2 3 4] [--seeds 20] [--budget 150] [--certify 100]
    python bench/defenses.py sources DIR

``supervisors``: for each RNG seed, a default campaign (genetic, int8-static
counterpart, ``ssim>=0.6``) on the example, then ``diverfuzz
evaluate-supervisors`` (:func:`diverfuzz.supervisors.campaign.evaluate_campaign`):
every supervisor, monitored on the reference and on the candidate, against
matched negatives and nominal inputs. Prints mean and 95% t-interval over the
RNG seeds of the matched and nominal AUROC, average precision, and S1/S5/S10
TPR and matched-negative rejection; says in how many RNG seeds margin has the
highest matched AUROC (Hu et al. 2022's finding). Writes
``bench/results/defenses_supervisors_<example>.json``.

``defenses``: baseline digits CNN, PixelDP, randomized smoothing and
defensive distillation (:func:`diverfuzz.defenses.defended_reference`). For each:
clean test accuracy; certified accuracy at L2 radii 0, 0.25, 0.5 on the first
``--certify`` test inputs (PixelDP: its own certificate, 300 draws,
eta=0.05; smoothing: Cohen et al.'s CERTIFY, n0=100, n=1,000, alpha=0.001,
on the reference's base and on its int8 counterpart; baseline and
distillation certify nothing); fuzz success rate against the reference's
own int8-static counterpart under the default rule ``ssim>=0.6`` and under
``psnr>=20``, mean and 95% t-interval over the RNG seeds; and for every
divergence, whether its L2 distance to the seed lies inside the smoothed
reference's certified radius at that seed. Campaigns run with the reference
wrapped as a plain callable, which skips MCA triage (its cost on the
16-draw PixelDP and smoothed references dominates otherwise); the search is
unchanged. Writes ``bench/results/defenses_table.json``.

``sources DIR``: on a finished campaign, the matched AUROC of the softmax
quantifiers against each source of matched negatives separately (the
search's own agreeing candidates, which the search drove towards the
decision boundary, and the resampled chains). Writes
``bench/results/defenses_supervisors_sources.json``.

All numbers come from one run; nothing here is tuned on what it reports
(defense parameters are the papers' defaults, see
:func:`diverfuzz.defenses.defense_config`).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

RESULTS = _HERE / "results"


def interval(values) -> dict:
    """Mean and 95% Student-t interval over RNG seeds (NaNs dropped)."""
    from scipy import stats

    v = np.asarray([x for x in values if x is not None and x == x], dtype=float)
    if len(v) == 0:
        return {"mean": None, "low": None, "high": None, "n": 0}
    if len(v) == 1:
        return {"mean": float(v[0]), "low": None, "high": None, "n": 1}
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return {"mean": float(v.mean()), "low": float(v.mean() - half), "high": float(v.mean() + half), "n": int(len(v))}


def fmt(iv: dict) -> str:
    if iv["mean"] is None:
        return "-"
    if iv["low"] is None:
        return f"{iv['mean']:.3f}"
    return f"{iv['mean']:.3f} [{iv['low']:.3f}, {iv['high']:.3f}]"


# ---------------------------------------------------------------- supervisors


def supervisors(args) -> None:
    runs = [_supervisor_run(args, rng_seed) for rng_seed in args.rng_seeds]
    table = _supervisor_table(runs)
    best = _highest_matched_auroc_wins(runs)
    out = {
        "command": " ".join(["python bench/defenses.py", *sys.argv[1:]]),
        "example": args.example,
        "seeds": args.seeds,
        "budget": args.budget,
        "rng_seeds": list(args.rng_seeds),
        "success_rate": interval(run["success_rate"] for run in runs),
        "negatives": [run["negatives"] for run in runs],
        "absent": runs[0]["absent"],
        "table": table,
        "highest_matched_auroc_wins": best,
        "runs": runs,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"defenses_supervisors_{args.example}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    _print_supervisors(args, out, path)


def _supervisor_run(args, rng_seed: int) -> dict:
    """One default campaign on the example, then every supervisor evaluated on it."""
    from diverfuzz.fuzzer.campaign.config import CampaignConfig
    from diverfuzz.fuzzer.campaign.driver import run_campaign
    from diverfuzz.supervisors.campaign import evaluate_campaign

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        config = CampaignConfig(seeds=args.seeds, budget=args.budget, rng_seed=rng_seed, example=args.example)
        summary = run_campaign(config, tmp).report["summary"]
        result = evaluate_campaign(tmp)
    run = {
        "rng_seed": rng_seed,
        "success_rate": summary["success_rate"],
        "negatives": result.negatives,
        "absent": result.absent,
        "rows": [s.to_dict() for s in result.scores],
        "wall_s": time.perf_counter() - t0,
    }
    print(f"rng seed {rng_seed}: {result.negatives} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return run


def _supervisor_table(runs: list[dict]) -> list[dict]:
    """One entry per (monitored, supervisor): intervals over the RNG seeds."""
    keys = [(r["monitored"], r["name"]) for r in runs[0]["rows"]]
    table = []
    for monitored, name in keys:
        rows = [next(r for r in run["rows"] if (r["monitored"], r["name"]) == (monitored, name)) for run in runs]
        entry = {
            "monitored": monitored,
            "name": name,
            "auroc_matched": interval(r["auroc_matched"] for r in rows),
            "auroc_nominal": interval(r["auroc_nominal"] for r in rows),
            "average_precision": interval(r["average_precision"] for r in rows),
            "bootstrap_ci_first_seed": {
                "auroc_matched": rows[0]["auroc_matched_ci"],
                "auroc_nominal": rows[0]["auroc_nominal_ci"],
            },
        }
        for key in ("S1", "S5", "S10"):
            entry[key] = {
                field: interval(r["at"][key][field] for r in rows)
                for field in ("tpr", "acceptance", "accepted_accuracy", "matched_rejection")
            }
        table.append(entry)
    return table


def _highest_matched_auroc_wins(runs: list[dict]) -> dict:
    """Per monitored model: in how many RNG seeds each supervisor has the highest matched AUROC."""
    best = {}
    for monitored in ("reference", "candidate"):
        wins = {}
        for run in runs:
            rows = [r for r in run["rows"] if r["monitored"] == monitored and r["auroc_matched"] is not None]
            top = max(rows, key=lambda r: r["auroc_matched"])["name"]
            wins[top] = wins.get(top, 0) + 1
        best[monitored] = wins
    return best


def _print_supervisors(args, out: dict, path: Path) -> None:
    n = len(out["runs"])
    print(
        f"\nSupervisors, {args.example}: {n} RNG seeds x ({args.seeds} seeds x {args.budget} queries), "
        f"int8-static; mean [95% t-interval over RNG seeds]\n"
    )
    print("| monitored | supervisor | AUROC matched | AUROC nominal | AP matched | TPR S1 | TPR S5 | TPR S10 | "
          "matched rejected S5 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for e in out["table"]:
        print(
            f"| {e['monitored']} | {e['name']} | {fmt(e['auroc_matched'])} | {fmt(e['auroc_nominal'])} | "
            f"{fmt(e['average_precision'])} | {fmt(e['S1']['tpr'])} | {fmt(e['S5']['tpr'])} | {fmt(e['S10']['tpr'])} | "
            f"{fmt(e['S5']['matched_rejection'])} |"
        )
    print(f"\nhighest matched AUROC per RNG seed: {out['highest_matched_auroc_wins']}")
    for line in out["absent"]:
        print(f"absent: {line}")
    print(f"negatives per RNG seed: {out['negatives']}")
    print(f"written: {path}")


# ------------------------------------------------------------------- defenses


def _campaign(reference, counterpart, data, *, seeds: int, budget: int, rng_seed: int, validity: str) -> dict:
    from diverfuzz.fuzzer.campaign.config import CampaignConfig
    from diverfuzz.fuzzer.campaign.driver import run_campaign
    from diverfuzz.fuzzer.campaign.workload import Workload, search_relations
    from diverfuzz.models.pair import ModelPair

    def plain(x):  # a callable, not a Module: the campaign skips MCA triage
        return reference(x)

    config = CampaignConfig(seeds=seeds, budget=budget, rng_seed=rng_seed, validity=validity)
    kind, names = search_relations(config, data.x_test.shape[1:])
    workload = Workload(ModelPair(plain, counterpart), data.x_test, data.y_test, {"data": "digits", "model": "bench"},
                        kind, tuple(names))
    with tempfile.TemporaryDirectory() as tmp:
        report = run_campaign(config, tmp, workload=workload).report
    return report


#: L2 radii of the certified accuracies.
RADII = (0.0, 0.25, 0.5)
#: Validity rules each defended reference is fuzzed under: the default (natural) first, then the earlier metric rules.
RULES = ("natural", "ssim>=0.6", "psnr>=20")


def defenses_table(args) -> None:
    from diverfuzz.defenses import defense_config
    from diverfuzz.models.examples.digits import load_digits_data
    from diverfuzz.models.training import accuracy

    data = load_digits_data()
    references, counterparts, base_counterpart = _defended_models(data)
    rows = {}
    all_divergences = {}
    for name, ref in references.items():
        t = time.perf_counter()
        row: dict = {"clean_accuracy": accuracy(ref, data.x_test, data.y_test)}
        row["counterpart_accuracy"] = accuracy(counterparts[name], data.x_test, data.y_test)
        row.update(_certified(name, ref, data, args.certify, base_counterpart))
        for rule in RULES:
            row[rule], all_divergences[(name, rule)] = _fuzz(ref, counterparts[name], data, args, rule)
        row["wall_s"] = time.perf_counter() - t
        rows[name] = row
        print(f"{name}: {time.perf_counter() - t:.0f} s", file=sys.stderr)
    inside, radius_at = _inside_smoothed_radius(references["smoothing"].base, data, all_divergences)
    out = {
        "command": " ".join(["python bench/defenses.py", *sys.argv[1:]]),
        "seeds": args.seeds, "budget": args.budget, "rng_seeds": list(args.rng_seeds), "certify_inputs": args.certify,
        "radii": list(RADII), "defense_configs": {n: defense_config(n) for n in ("pixeldp", "smoothing", "distillation")},
        "rows": rows, "inside_smoothed_radius": inside,
        "median_smoothed_radius_at_seeds": float(np.median(list(radius_at.values()))) if radius_at else None,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "defenses_table.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    _print_defenses(args, out, path)


def _defended_models(data) -> tuple[dict, dict, object]:
    """``(references, counterparts, base_counterpart)``: the baseline and defended references, the
    int8-static counterpart of each, and that of the smoothed reference's base (which smoothing certifies)."""
    from diverfuzz.defenses import defended_reference
    from diverfuzz.models.examples.digits import trained_digits_cnn
    from diverfuzz.models.precision import build_counterpart

    t0 = time.perf_counter()
    references = {
        "baseline": trained_digits_cnn(0, data),
        "pixeldp": defended_reference("pixeldp", data, seed=0),
        "smoothing": defended_reference("smoothing", data, seed=0),
        "distillation": defended_reference("distillation", data, seed=0),
    }
    counterparts = {name: build_counterpart("int8-static", ref, data.x_train) for name, ref in references.items()}
    print(f"models ready in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    base_counterpart = build_counterpart("int8-static", references["smoothing"].base, data.x_train)
    return references, counterparts, base_counterpart


def _certified(name: str, ref, data, certify: int, base_counterpart) -> dict:
    """Certified accuracy at :data:`RADII` on the first ``certify`` test inputs, by the reference's own certificate.

    PixelDP: ``{"certified": ...}``; smoothing: ``certified`` (its base) and
    ``certified_counterpart`` (the base's int8 counterpart); otherwise
    ``{"certified": None}``.
    """
    from diverfuzz.defenses import certify as pixeldp_certify
    from diverfuzz.defenses import defense_config, smoothing
    from diverfuzz.defenses.pixeldp import certified_accuracy as pixeldp_certified

    xc, yc = data.x_test[:certify], data.y_test[:certify]
    if name == "pixeldp":
        cfg = defense_config("pixeldp")
        certs = pixeldp_certify(ref, xc, cfg["certify_draws"], cfg["eta"], seed=1)
        return {"certified": {str(r): pixeldp_certified(certs, yc, radius=r) for r in RADII}}
    if name == "smoothing":
        sm_cfg = defense_config("smoothing")
        row = {}
        for side, model in (("certified", ref.base), ("certified_counterpart", base_counterpart)):
            certs = smoothing.certify(
                model, xc, sm_cfg["sigma"], sm_cfg["certify_n0"], sm_cfg["certify_n"], sm_cfg["alpha"],
                np.random.default_rng(1),
            )
            row[side] = {str(r): smoothing.certified_accuracy(certs, yc, r) for r in RADII}
        return row
    return {"certified": None}


def _fuzz(ref, counterpart, data, args, rule: str) -> tuple[dict, list[dict]]:
    """``(row entry, divergences)``: success rate over the RNG seeds under ``rule``, and every divergence found."""
    rates, divs = [], []
    for rng_seed in args.rng_seeds:
        report = _campaign(ref, counterpart, data, seeds=args.seeds, budget=args.budget, rng_seed=rng_seed,
                           validity=rule)
        rates.append(report["summary"]["success_rate"])
        for d in report["divergences"]:
            divs.append({"rng_seed": rng_seed, "seed_index": d["seed_index"], "l2": d["validity"]["l2"],
                         "psnr": d["validity"]["psnr"], "ssim": d["validity"]["ssim"]})
    entry = {"success_rate": interval(rates), "per_rng_seed": rates, "divergences": len(divs),
             "median_psnr": float(np.median([d["psnr"] for d in divs])) if divs else None,
             "median_ssim": float(np.median([d["ssim"] for d in divs])) if divs else None}
    return entry, divs


def _inside_smoothed_radius(smoothed_base, data, all_divergences: dict) -> tuple[dict, dict]:
    """``(inside, radius_at)``: per (reference, rule), how many divergences lie inside the smoothed
    reference's certified radius at their seed; and that radius per seed."""
    from diverfuzz.defenses import defense_config, smoothing

    sm_cfg = defense_config("smoothing")
    seeds_needed = sorted({d["seed_index"] for divs in all_divergences.values() for d in divs})
    certs = smoothing.certify(
        smoothed_base, data.x_test[seeds_needed], sm_cfg["sigma"], sm_cfg["certify_n0"], sm_cfg["certify_n"],
        sm_cfg["alpha"], np.random.default_rng(2),
    )
    radius_at = {s: c.radius for s, c in zip(seeds_needed, certs)}
    inside = {}
    for (name, rule), divs in all_divergences.items():
        flags = [d["l2"] < radius_at[d["seed_index"]] for d in divs]
        inside[f"{name} {rule}"] = {"divergences": len(divs), "inside": int(sum(flags)),
                                    "fraction": float(np.mean(flags)) if flags else None}
    return inside, radius_at


def _print_defenses(args, out: dict, path: Path) -> None:
    def cert(row, key):
        c = row.get(key)
        return " / ".join(f"{c[str(r)]:.3f}" for r in RADII) if c else "-"

    print(f"\nDefenses: {len(args.rng_seeds)} RNG seeds x ({args.seeds} seeds x {args.budget} queries), int8-static "
          f"counterpart of each reference; certified accuracy on {args.certify} test inputs at L2 radius 0 / 0.25 / 0.5\n")
    rules = [rule for rule in RULES if all(rule in row for row in out["rows"].values())]
    print("| reference | clean acc | int8 acc | certified (ref) | certified (int8) | "
          + " | ".join(f"success {rule}" for rule in rules)
          + " | " + " | ".join(f"median PSNR ({rule})" for rule in rules) + " |")
    print("|---|---|---|---|---|" + "---|" * (2 * len(rules)))
    for name, row in out["rows"].items():
        psnrs = [row[rule]["median_psnr"] for rule in rules]
        print(f"| {name} | {row['clean_accuracy']:.3f} | {row['counterpart_accuracy']:.3f} | {cert(row, 'certified')} | "
              f"{cert(row, 'certified_counterpart')} | " + " | ".join(fmt(row[rule]["success_rate"]) for rule in rules)
              + " | " + " | ".join("-" if v is None else f"{v:.1f}" for v in psnrs) + " |")
    print(f"\ndivergences whose L2 to the seed lies inside the smoothed reference's certified radius "
          f"(median radius {out['median_smoothed_radius_at_seeds']}):")
    for key, v in out["inside_smoothed_radius"].items():
        print(f"  {key}: {v['inside']}/{v['divergences']}")
    print(f"written: {path}")


# -------------------------------------------------------------------- sources


def sources(args) -> None:
    """Point quantifiers' matched AUROC per source of negatives, on an existing campaign folder."""
    from diverfuzz.fuzzer.campaign.config import CampaignConfig
    from diverfuzz.fuzzer.campaign.storage.corpus import Corpus
    from diverfuzz.fuzzer.campaign.workload import prepare, seed_input
    from diverfuzz.supervisors import build_supervisors
    from diverfuzz.supervisors.evaluation import auroc, bootstrap_auroc
    from diverfuzz.supervisors.negatives import matched_negatives

    corpus, stored = Corpus.of_campaign(args.dir)
    with corpus:
        config = CampaignConfig.from_dict(stored)
        divergences = [d for _, d in corpus.divergences()]
    workload = prepare(config)
    divergent = np.stack([d.chain.apply(seed_input(workload, d.seed_index)) for d in divergences])
    neg = matched_negatives(config, workload, divergences)
    out = {"dir": str(args.dir), "divergences": len(divergent), "negatives": {}}
    print(f"\nMatched AUROC by source of negatives ({len(divergent)} divergences)\n")
    print("| monitored | supervisor | all | search only | chain only |")
    print("|---|---|---|---|---|")
    for monitored, model in (("reference", workload.pair.reference), ("candidate", workload.pair.candidate)):
        for sup in build_supervisors(model):
            pos = sup.score(divergent)
            cells = {}
            for src in ("all", "search", "chain"):
                x = neg.x if src == "all" else neg.x[neg.source == src]
                s_neg = sup.score(x)
                ci = bootstrap_auroc(pos, s_neg, np.random.default_rng(0))
                cells[src] = {"auroc": auroc(pos, s_neg), "ci": ci, "n": int(len(x))}
            out["negatives"][f"{monitored} {sup.name}"] = cells
            print(f"| {monitored} | {sup.name} | " + " | ".join(
                f"{c['auroc']:.3f} [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}] (n={c['n']})" for c in cells.values()) + " |")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "defenses_supervisors_sources.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"written: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    s = sub.add_parser("supervisors")
    s.add_argument("--rng-seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    s.add_argument("--seeds", type=int, default=50)
    s.add_argument("--budget", type=int, default=500)
    s.add_argument("--example", default="digits")
    d = sub.add_parser("defenses")
    d.add_argument("--rng-seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    d.add_argument("--seeds", type=int, default=20)
    d.add_argument("--budget", type=int, default=150)
    d.add_argument("--certify", type=int, default=100)
    src = sub.add_parser("sources")
    src.add_argument("dir", help="folder of a finished campaign (diverfuzz run --out DIR)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    {"supervisors": supervisors, "defenses": defenses_table, "sources": sources}[args.what](args)


if __name__ == "__main__":
    main()
