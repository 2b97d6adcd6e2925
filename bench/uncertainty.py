"""Cost of MCA triage and of a precision sweep, as multiples of one fuzz campaign's time.

Usage: ``python bench/uncertainty.py [--seeds 20] [--budget 500] [--samples 16] [--quick-sweep]``

All in one run on the bundled digits CNN, one torch thread:

1. a default campaign (``--seeds`` x ``--budget``, int8-static counterpart)
   whose wall time is the unit;
2. MCA triage of that campaign's divergences (``--samples`` samples at t=24),
   per divergence, batched (one call for all) and one at a time;
3. per-forward costs behind both: the float32 reference on one input and on
   a batch of 64, and one MCA sample (float64 copy under a
   ``TorchFunctionMode``) on the same;
4. the full default sweep (49 formats + per-layer sensitivity, 10 seeds x 100
   queries per format), or ``--quick-sweep`` for the 6-format one.

Triage costs ``samples`` MCA forwards per divergence (plus one float32
forward), so it scales like the model's forward time times the MCA overhead
(printed): roughly linear in the number of arithmetic ops (FLOPs) once the
per-op interception overhead is amortised by large tensors. A sweep costs
one campaign (plus one clean pass over the data) per format, so it scales
with the campaign's cost, in which the model is one part next to relations
and validity checks.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

# Run as a script, this folder comes first on sys.path and its relations.py
# would shadow the ``relations`` package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))


def best(fn, repeat: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budget", type=int, default=500)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--quick-sweep", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)

    from diverfuzz.fuzzer.campaign.config import CampaignConfig
    from diverfuzz.fuzzer.campaign.driver import run_campaign
    from diverfuzz.fuzzer.sweep import default_formats, run_sweep
    from diverfuzz.models.examples import load_digits_data, trained_digits_cnn
    from diverfuzz.models.precision.mca import mca_samples
    from diverfuzz.oracles.triage import divergence_inputs, triage

    data = load_digits_data()
    reference = trained_digits_cnn(0, data)
    results: dict = {}

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        report = run_campaign(CampaignConfig(seeds=args.seeds, budget=args.budget), tmp).report
        campaign = time.perf_counter() - t0
    divergences = report["divergences"]
    results["campaign_s"] = campaign
    results["campaign"] = f"{args.seeds} seeds x {args.budget} queries, int8-static: {len(divergences)} divergences"

    inputs = divergence_inputs(data.x_test, divergences)
    if len(inputs) == 0:
        inputs = data.x_test[:8]
    t0 = time.perf_counter()
    rows = triage(reference, inputs, samples=args.samples)
    batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(len(inputs)):
        triage(reference, inputs[i : i + 1], samples=args.samples)
    single = time.perf_counter() - t0
    n = len(inputs)
    results["triage"] = {
        "divergences": n,
        "labels": {label: sum(r.label == label for r in rows) for label in ("precision-induced", "reference-unstable")},
        "batched_s_per_divergence": batched / n,
        "one_at_a_time_s_per_divergence": single / n,
        "per_divergence_x_campaign": single / n / campaign,
        "all_divergences_batched_x_campaign": batched / campaign,
    }

    forwards = {}
    for batch in (1, 64):
        x = torch.from_numpy(data.x_test[:batch])
        with torch.no_grad():
            f32 = best(lambda: reference(x))
        mca = best(lambda: mca_samples(reference, x, 2, 24)) / 2
        forwards[f"batch{batch}"] = {"float32_ms": 1e3 * f32, "mca_sample_ms": 1e3 * mca, "mca_overhead_x": mca / f32}
    results["forward"] = forwards

    formats = default_formats(quick=args.quick_sweep)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        sweep = run_sweep(tmp, quick=args.quick_sweep)
        sweep_s = time.perf_counter() - t0
    results["sweep"] = {
        "formats": len(formats),
        "layers": len(sweep.layers),
        "seconds": sweep_s,
        "x_campaign": sweep_s / campaign,
        "seconds_per_format": sweep_s / (len(formats) + len(sweep.layers)),
        "recommended": (sweep.recommendation["recommended"] or {}).get("format"),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
