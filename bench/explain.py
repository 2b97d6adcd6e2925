"""``diverfuzz explain`` on a bundled example: culprit layers, the per-layer fix, and what the fix buys.

Usage: ``python bench/explain.py [--example mnist] [--precision int8-static] [--seeds 50] [--budget 300]
[--target 0.9] [--max-weights 0.25] [--result bench/results/explain_lenet5.json]``

In one run, one torch thread:

1. a campaign (``--seeds`` x ``--budget``, ``--rng-seed``) against ``--precision``, whose wall
   time (the driver's ``wall_seconds``, and the call's wall time with model building) is the unit;
2. ``explain`` of it twice: without a weight limit (the smallest set of layers that removes
   ``--target`` of the stored divergences), then within ``--max-weights`` of the weights;
   each one's wall time as a multiple of the campaign's;
3. for each fix: the share of the stored divergences that no longer diverge against the
   counterpart built from the policy file (replay), and a fresh campaign with the same seeds,
   budget and RNG seed against it: divergences and success rate next to the original's;
4. the culprit histogram, each fix's layers, weight and MAC shares, and clean accuracy before
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


def campaign(example: str, precision: str, seeds: int, budget: int, rng_seed: int, out: Path) -> dict:
    """Run one campaign; its divergences, success rate and times."""
    from diverfuzz.fuzzer.campaign.config import CampaignConfig
    from diverfuzz.fuzzer.campaign.driver import run_campaign

    config = CampaignConfig(example=example, precision=precision, seeds=seeds, budget=budget, rng_seed=rng_seed)
    started = time.perf_counter()
    report = run_campaign(config, out).report
    summary = report["summary"]
    return {
        "precision": precision,
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
    parser.add_argument("--result", default=str(_HERE / "results" / "explain_lenet5.json"))
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="diverfuzz-bench-explain-") as tmp:
        tmp = Path(tmp)
        base = campaign(args.example, args.precision, args.seeds, args.budget, args.rng_seed, tmp / "campaign")
        print(f"campaign: {base['divergences']} divergences on {base['seeds_with_divergence']} of {args.seeds} seeds, "
              f"{base['wall_seconds']:.1f} s (call {base['call_seconds']:.1f} s)")
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
    record = {
        "example": args.example, "precision": args.precision, "seeds": args.seeds, "budget": args.budget,
        "commit": commit_label(),
        "rng_seed": args.rng_seed, "target": args.target, "max_weights": args.max_weights, "torch_threads": 1,
        "campaign": base, "histogram": histogram, "fixes": fixes,
    }
    Path(args.result).parent.mkdir(parents=True, exist_ok=True)
    Path(args.result).write_text(json.dumps(record, indent=2))
    print(f"written: {args.result}")


if __name__ == "__main__":
    main()
