"""``diverfuzz explain`` on a bundled example: culprit layers, the per-layer fix, and what the fix buys.

Usage: ``python bench/explain.py [--example mnist] [--precision int8-static] [--seeds 50] [--budget 300]
[--target 0.9] [--max-weights 0.25] [--min-margin 0.05] [--decisive-budgets 200,50]
[--result bench/results/explain_lenet5.json]``

In one run, one torch thread:

1. a campaign (``--seeds`` x ``--budget``, ``--rng-seed``) against ``--precision``, whose wall
   time (the driver's ``wall_seconds``, and the call's wall time with model building) is the unit;
2. ``explain`` of it twice: without a weight limit (the smallest set of layers that removes
   ``--target`` of the stored divergences), then within ``--max-weights`` of the weights;
   each one's wall time as a multiple of the campaign's;
3. for each fix: the share of the stored divergences that no longer diverge against the
   counterpart built from the policy file (replay), and a fresh campaign with the same seeds,
   budget and RNG seed against it: divergences and success rate next to the original's;
4. decisive divergences (``--min-margin``, default 0.05; 0 skips this step): per budget of
   ``--decisive-budgets`` (default ``--budget``), a campaign with the same seeds and RNG seed whose
   search and count take only divergences on which the reference's top-1 minus top-2 probability
   is at least ``--min-margin``, against the original counterpart and against each fix: a measure
   of "fewer divergences" that saturates later than the plain count when every seed diverges;
5. the culprit histogram, each fix's layers, weight and MAC shares, and clean accuracy before
   and after, printed and written to ``--result``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this folder comes first on sys.path and its relations.py
# would shadow the ``relations`` package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
sys.path.append(str(_HERE))  # last, so that only bench/provenance.py is found here

from provenance import commit_label  # noqa: E402


def campaign(
    example: str, precision: str, seeds: int, budget: int, rng_seed: int, out: Path, min_margin: float = 0.0
) -> dict:
    """Run one campaign (divergences count only at reference margin >= ``min_margin``); its counts and times."""
    from diverfuzz.fuzzer.campaign.config import CampaignConfig
    from diverfuzz.fuzzer.campaign.driver import run_campaign

    config = CampaignConfig(
        example=example, precision=precision, seeds=seeds, budget=budget, rng_seed=rng_seed, min_margin=min_margin
    )
    started = time.perf_counter()
    report = run_campaign(config, out).report
    summary = report["summary"]
    return {
        "precision": precision,
        "min_margin": min_margin,
        "divergences": len(report["divergences"]),
        "seeds_with_divergence": summary["seeds_with_divergence"],
        "success_rate": summary["success_rate"],
        "clean_disagreements": len(summary.get("clean_disagreements") or []),
        "median_queries_to_first_divergence": summary.get("median_queries_to_first_divergence"),
        "reference_margin_median": (summary.get("reference_margins") or {}).get("median"),
        "decisive_counts": summary.get("decisive_counts"),
        "wall_seconds": summary["wall_seconds"],
        "call_seconds": round(time.perf_counter() - started, 3),
    }


def explain_once(out: Path, target: float, max_weights: float, keep_as: Path) -> dict:
    """Explain ``out``; keep the fix's policy file as ``keep_as``; the fix and the timing."""
    from diverfuzz.fuzzer.explain import FIX_POLICY, explain

    started = time.perf_counter()
    result = explain(out, target=target, max_weights=max_weights)
    seconds = time.perf_counter() - started
    shutil.copy(out / FIX_POLICY, keep_as)
    fix = dict(result.fix, policy=str(keep_as))
    return {"seconds": round(seconds, 3), "builds": result.builds, "histogram": result.histogram, "fix": fix,
            "layers": result.layers, "divergences": result.divergences}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", default="mnist")
    parser.add_argument("--precision", default="int8-static")
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--rng-seed", type=int, default=0)
    parser.add_argument("--target", type=float, default=0.9)
    parser.add_argument("--max-weights", type=float, default=0.25)
    parser.add_argument("--min-margin", type=float, default=0.05,
                        help="decisive campaigns: reference margin at least this (0: skip them)")
    parser.add_argument("--decisive-budgets", default=None,
                        help="comma-separated budgets of the decisive campaigns (default: --budget)")
    parser.add_argument("--result", default=str(_HERE / "results" / "explain_lenet5.json"))
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="diverfuzz-bench-explain-") as tmp:
        tmp = Path(tmp)
        base = campaign(args.example, args.precision, args.seeds, args.budget, args.rng_seed, tmp / "campaign")
        print(f"campaign: {base['divergences']} divergences on {base['seeds_with_divergence']} of {args.seeds} seeds, "
              f"{base['wall_seconds']:.1f} s (call {base['call_seconds']:.1f} s)")
        budgets = [int(b) for b in (args.decisive_budgets or str(args.budget)).split(",")]
        decisive = {}  # budget -> the decisive campaign against the original counterpart
        for budget in budgets if args.min_margin > 0 else []:
            decisive[budget] = campaign(args.example, args.precision, args.seeds, budget, args.rng_seed,
                                        tmp / f"decisive_{budget}", min_margin=args.min_margin)
            print(f"decisive campaign (min margin {args.min_margin:g}, budget {budget}): "
                  f"{decisive[budget]['divergences']} divergences on {decisive[budget]['seeds_with_divergence']} "
                  f"of {args.seeds} seeds, {decisive[budget]['wall_seconds']:.1f} s")
        fixes = {}
        for name, limit in (("smallest", 1.0), (f"within_{args.max_weights:g}_of_weights", args.max_weights)):
            if limit < 1.0 and fixes["smallest"]["fix"]["weights_share"] <= limit:
                print(f"fix [{name}]: the smallest fix is already within {100 * limit:.0f}% of the weights")
                continue
            found = explain_once(tmp / "campaign", args.target, limit, tmp / f"fix_{name}.json")
            policy = json.loads(Path(found["fix"]["policy"]).read_text())
            fresh = campaign(args.example, found["fix"]["policy"], args.seeds, args.budget, args.rng_seed, tmp / f"fresh_{name}")
            found["fix"]["policy_content"] = policy
            found["fresh_campaign"] = fresh
            found["fresh_decisive_campaigns"] = {
                budget: campaign(args.example, found["fix"]["policy"], args.seeds, budget, args.rng_seed,
                                 tmp / f"fresh_decisive_{name}_{budget}", min_margin=args.min_margin)
                for budget in decisive
            }
            found["explain_over_campaign"] = round(found["seconds"] / base["wall_seconds"], 3)
            found["explain_over_campaign_call"] = round(found["seconds"] / base["call_seconds"], 3)
            fixes[name] = found
        histogram = fixes["smallest"]["histogram"]
        print("culprit histogram (divergences naming each layer):")
        for layer, count in histogram.items():
            print(f"  {layer:<14} {count:>4}  {'#' * count}")
        for name, found in fixes.items():
            fix, fresh = found["fix"], found["fresh_campaign"]
            accuracy = fix["accuracy"] or {}
            print(
                f"fix [{name}]: keep {', '.join(fix['layers']) or '(none)'}; weights {100 * fix['weights_share']:.1f}%, "
                f"MACs {100 * fix['macs_share']:.1f}%; removed by replay {100 * fix['removed']:.1f}% "
                f"(target reached: {fix['reached']}); accuracy {100 * accuracy.get('before', float('nan')):.2f}% -> "
                f"{100 * accuracy.get('after', float('nan')):.2f}% (reference {100 * accuracy.get('reference', float('nan')):.2f}%)"
            )
            for step in fix["steps"]:
                print(f"    keeping {', '.join(step['layers'])}: {100 * step['removed']:.1f}% removed")
            change = 1 - fresh["divergences"] / base["divergences"] if base["divergences"] else float("nan")
            print(
                f"  fresh campaign: {fresh['divergences']} divergences ({100 * change:.0f}% fewer), success rate "
                f"{fresh['success_rate']:.2f} vs {base['success_rate']:.2f}, median queries to the first "
                f"{fresh['median_queries_to_first_divergence']} vs {base['median_queries_to_first_divergence']}, "
                f"decisive (margin >= 0.05/0.1) {fresh['decisive_counts']} vs {base['decisive_counts']}; "
                f"explain took {found['seconds']:.1f} s = "
                f"{found['explain_over_campaign']:.2f}x the campaign ({found['explain_over_campaign_call']:.2f}x its call)"
            )
            found["decisive_change"] = {}
            for budget, original in decisive.items():
                fresh_decisive = found["fresh_decisive_campaigns"][budget]
                change = 1 - fresh_decisive["divergences"] / original["divergences"] if original["divergences"] else None
                found["decisive_change"][budget] = change
                print(
                    f"  decisive (min margin {args.min_margin:g}, budget {budget}): {fresh_decisive['divergences']} "
                    f"divergences on {fresh_decisive['seeds_with_divergence']} seeds vs {original['divergences']} on "
                    f"{original['seeds_with_divergence']} (" + ("n/a" if change is None else f"{100 * change:.0f}% fewer")
                    + f"), median queries to the first {fresh_decisive['median_queries_to_first_divergence']} vs "
                    f"{original['median_queries_to_first_divergence']}"
                )
    record = {
        "example": args.example, "precision": args.precision, "seeds": args.seeds, "budget": args.budget,
        "commit": commit_label(),
        "rng_seed": args.rng_seed, "target": args.target, "max_weights": args.max_weights, "torch_threads": 1,
        "min_margin": args.min_margin, "campaign": base, "decisive_campaigns": decisive,
        "histogram": histogram, "fixes": fixes,
    }
    Path(args.result).parent.mkdir(parents=True, exist_ok=True)
    Path(args.result).write_text(json.dumps(record, indent=2))
    print(f"written: {args.result}")


if __name__ == "__main__":
    main()
