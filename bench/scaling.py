"""Seeds per second on the local, process and Ray backends, measured in one run.

Usage: ``python bench/scaling.py [--seeds 24] [--budget 200] [--workers 1,2] [--no-ray]``

Runs the same campaign (bundled digits CNN vs its int8-static counterpart,
one ``--rng-seed``) on ``local`` and on ``process`` and ``ray`` with each
worker count, checks that every run stored the same divergences, and prints:

- wall time of the whole campaign (model building, worker start-up, seeds)
  and seeds per second over it;
- steady-state seeds per second: seeds finished after the first one, over
  the time from the first stored seed to the last (start-up excluded);
- overhead per seed: worker-seconds per seed at steady state
  (``workers / steady seeds per second``) minus the local per-seed cost
  (``1 / local steady seeds per second``), i.e. what a backend adds to each
  seed (transport, scheduling, CPU contention), floored at 0;
- the driver's cost per seed (decode a worker's result, write it to SQLite),
  which bounds the throughput of any number of workers;
- projected seeds per second on 100 workers, ``min(100 / (c + o), 1 / d)``
  with ``c`` the local per-seed cost, ``o`` a backend's overhead per seed and
  ``d`` the driver cost per seed (the fixed start-up is left out: it is paid
  once per campaign).

Numbers from a machine with fewer cores than workers + 1 understate the
speed-up: the driver and the workers then share cores.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

# bench/relations.py and bench/defenses.py are named like the packages they
# measure: run as a script, this folder comes first on sys.path and would
# shadow them, so it is taken off.
_HERE = _Path(__file__).resolve().parent
_sys.path[:] = [p for p in _sys.path if _Path(p or ".").resolve() != _HERE]
_sys.path.insert(0, str(_HERE.parent))

import argparse
import os
import pickle
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

# Run as a script, bench/ heads sys.path and bench/relations.py would shadow
# the relations package (here and in the spawned workers, which inherit sys.path).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from diverfuzz.fuzzer.campaign.backends.worker import from_wire, to_wire
from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.fuzzer.campaign.driver import run_campaign
from diverfuzz.fuzzer.campaign.seed import SeedOutcome
from diverfuzz.fuzzer.campaign.storage.corpus import Corpus


def _campaign(config: CampaignConfig, out: Path) -> dict:
    stamps: list[float] = []
    t0 = time.perf_counter()
    run_campaign(config, out, progress=lambda *_: stamps.append(time.perf_counter()))
    wall = time.perf_counter() - t0
    with Corpus.in_folder(out) as corpus:
        found = sorted((d.seed_index, d.chain.to_json(), d.queries) for _, d in corpus.divergences())
        seeds = len(corpus.seed_records())
    seed_stamps = stamps[1:]  # stamps[0]: progress(0, ...) before the first seed
    steady = (len(seed_stamps) - 1) / (seed_stamps[-1] - seed_stamps[0]) if len(seed_stamps) > 1 else float("nan")
    return {
        "wall": wall,
        "seeds": seeds,
        "found": found,
        "startup": seed_stamps[0] - t0 if seed_stamps else float("nan"),
        "steady": steady,
    }


def _driver_cost(out: Path, repeats: int = 200) -> float:
    """Seconds the driver spends per seed: unpickle + decode a worker's result, store it."""
    with Corpus.in_folder(out) as corpus:
        divergences = tuple(d for _, d in corpus.divergences())[:1]
        record = corpus.seed_records()[0]
    wire = pickle.dumps(to_wire(SeedOutcome(record, divergences)))
    with tempfile.TemporaryDirectory() as tmp, Corpus.in_folder(tmp) as sink:
        t0 = time.perf_counter()
        for i in range(repeats):
            outcome = from_wire(pickle.loads(wire))
            sink.finish_seed(replace(record, seed_index=i), outcome.divergences)
        return (time.perf_counter() - t0) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=24)
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated (default 1,2)")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray backend")
    parser.add_argument("--rng-seed", type=int, default=0)
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    try:
        import ray  # noqa: F401
    except ImportError:
        args.no_ray = True
        print("Ray not installed: skipping --backend ray (pip install 'diverfuzz[ray]')")
    base = dict(seeds=args.seeds, budget=args.budget, rng_seed=args.rng_seed)
    runs = [("local", 1)] + [(b, w) for b in ("process", "ray") for w in counts if not (b == "ray" and args.no_ray)]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend, workers in runs:
            config = CampaignConfig(**base, backend=backend, workers=workers)
            results[backend, workers] = _campaign(config, Path(tmp) / f"{backend}-{workers}")
            print(f"  done: {backend} x{workers} in {results[backend, workers]['wall']:.1f} s", flush=True)
        driver = _driver_cost(Path(tmp) / "local-1")
    local = results["local", 1]
    cost = 1 / local["steady"]
    same = all(r["found"] == local["found"] for r in results.values())

    print()
    print(
        f"bundled digits CNN vs int8-static, {args.seeds} seeds x budget {args.budget}, genetic, "
        f"{os.cpu_count()} CPUs; same divergences on every backend: {'yes' if same else 'NO'}"
    )
    head = (
        f"{'backend':<10}{'workers':>8}{'wall s':>9}{'seeds/s':>9}{'speed-up':>9}"
        f"{'start-up s':>11}{'steady seeds/s':>15}{'overhead ms/seed':>17}{'100 workers seeds/s':>21}"
    )
    print(head)
    print("-" * len(head))
    for (backend, workers), r in results.items():
        rate = r["seeds"] / r["wall"]
        overhead = max(0.0, workers / r["steady"] - cost) if backend != "local" else 0.0
        projected = min(100 / (cost + overhead), 1 / driver) if backend != "local" else float("nan")
        print(
            f"{backend:<10}{workers:>8}{r['wall']:>9.1f}{rate:>9.2f}{rate / (local['seeds'] / local['wall']):>9.2f}"
            f"{r['startup']:>11.1f}{r['steady']:>15.2f}{1000 * overhead:>17.1f}"
            + (f"{projected:>21.0f}" if projected == projected else f"{'-':>21}")
        )
    print()
    print(f"local cost per seed c = {1000 * cost:.0f} ms; driver cost per seed d = {1000 * driver:.2f} ms "
          f"(caps any backend at {1 / driver:.0f} seeds/s)")


if __name__ == "__main__":
    main()
