"""Baseline vs PixelDP vs defensive distillation on the bundled digits CNN.

Usage: ``python bench/defenses.py [--seeds 30] [--budget 300]``

For each reference (the bundled digits CNN, its PixelDP version, its
distilled version): clean test accuracy, PixelDP certified accuracy at the
construction bound ``L`` (300 draws, Clopper-Pearson, eta = 0.05), and the
success rate of a genetic divergence search (same seeds and budget) against
the reference's own ``int8-static`` counterpart. The PixelDP reference is
fuzzed through its fixed-seed deterministic forward (``draws`` noise draws,
see ``defenses.defense_config("pixeldp")``). Then every supervisor's AUROC,
TPR at the 5% false-alarm threshold, nominal acceptance and accepted
accuracy on the baseline campaign's divergent mutants vs the nominal test
inputs. MC dropout monitors a dropout variant of the digits CNN and the deep
ensemble is three digits CNNs trained from different seeds (both trained
here, for fewer epochs), since the bundled model has no dropout.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from defenses import (  # noqa: E402
    build_supervisors,
    certified_accuracy,
    certify,
    defended_reference,
    defense_config,
    evaluate_supervisors,
)
from fuzzer.models.examples.digits import DigitsCNN, load_digits_data, trained_digits_cnn  # noqa: E402
from fuzzer.models.training import accuracy, cached_model, train_classifier  # noqa: E402


class DropoutDigitsCNN(DigitsCNN):
    """The digits CNN with dropout (p = 0.3) before each linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Dropout(0.3), nn.Linear(64, 10)
        )


def campaign(ref: nn.Module, data, seeds: int, budget: int) -> tuple[dict, list[np.ndarray]]:
    from fuzzer.campaign.driver import run_campaign
    from fuzzer.campaign.config import CampaignConfig
    from fuzzer.models.precision import build_counterpart
    from fuzzer.models.pair import ModelPair
    from fuzzer.campaign.workload import Workload
    from relations import Chain

    cand = build_counterpart("int8-static", ref, data.x_train)
    workload = Workload(ModelPair(ref, cand), data.x_test, data.y_test, {"data": "digits", "model": "bench"})
    with tempfile.TemporaryDirectory() as tmp:
        result = run_campaign(CampaignConfig(seeds=seeds, budget=budget), tmp, workload=workload)
    mutants = [
        Chain.from_list(d["chain"]).apply(data.x_test[d["seed_index"]]) for d in result.report["divergences"]
    ]
    return result.report["summary"], mutants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--budget", type=int, default=300)
    args = parser.parse_args()
    data = load_digits_data()
    t0 = time.perf_counter()
    models = {
        "baseline": trained_digits_cnn(0, data),
        "pixeldp": defended_reference("pixeldp", data, seed=0),
        "distillation": defended_reference("distillation", data, seed=0),
    }
    print(f"models ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    rows, baseline_mutants = [], []
    for name, ref in models.items():
        t = time.perf_counter()
        acc = accuracy(ref, data.x_test, data.y_test)
        cert = "-"
        if name == "pixeldp":
            cfg = defense_config("pixeldp")
            certs = certify(ref, data.x_test, cfg["certify_draws"], cfg["eta"], seed=1)
            cert = f"{certified_accuracy(certs, data.y_test):.3f}"
        summary, mutants = campaign(ref, data, args.seeds, args.budget)
        if name == "baseline":
            baseline_mutants = mutants
        rows.append((name, acc, cert, summary["success_rate"], len(mutants), time.perf_counter() - t))
    print(f"\nDefenses ({args.seeds} seeds x {args.budget} queries, int8-static counterparts)\n")
    print("| reference | clean acc | certified acc (L=0.1, L2) | success rate | divergences | wall s |")
    print("|---|---|---|---|---|---|")
    for name, acc, cert, rate, n, wall in rows:
        print(f"| {name} | {acc:.3f} | {cert} | {rate:.3f} | {n} | {wall:.0f} |")

    mc_model = cached_model(
        "digits_cnn_dropout_bench_v1_seed0",
        DropoutDigitsCNN,
        lambda: train_classifier(DropoutDigitsCNN, data, seed=0, epochs=15),
    )
    ensemble = [models["baseline"]] + [
        cached_model(
            f"digits_cnn_ens_bench_v1_seed{s}", DigitsCNN, lambda s=s: train_classifier(DigitsCNN, data, seed=s, epochs=15)
        )
        for s in (1, 2)
    ]
    sups = build_supervisors(models["baseline"], mc_model=mc_model, ensemble=ensemble, samples=20, seed=0)
    divergent = np.stack(baseline_mutants) if baseline_mutants else data.x_test[:0]
    scores = evaluate_supervisors(
        sups, data.x_test, data.y_test, divergent, false_alarm=0.05, model=models["baseline"]
    )
    print(f"\nSupervisors on the baseline's {len(divergent)} divergent mutants vs held-out nominal test inputs\n")
    print("| supervisor | AUROC | TPR @5% FA | nominal acceptance | accepted accuracy |")
    print("|---|---|---|---|---|")
    for s in scores:
        print(
            f"| {s.name} | {s.auroc:.3f} | {s.tpr_at_threshold:.3f} | "
            f"{s.nominal_acceptance:.3f} | {s.accepted_accuracy:.3f} |"
        )


if __name__ == "__main__":
    torch.set_grad_enabled(True)
    main()
