"""Replay of campaigns recorded by an earlier release: how far its mutants move, and whether they still reproduce.

Relations are defined by their batched implementations since issue 27 (scikit-image is their test
oracle within a stated tolerance, no longer their definition), so a chain recorded by an earlier
release rebuilds a mutant that may differ from the recorded one by float32 round-off. This script
measures that on real campaigns.

Usage (two trees: the earlier release in a git worktree, the current one here)::

    git worktree add /tmp/old <earlier commit>
    PYTHONPATH=/tmp/old python bench/replay_tolerance.py record /tmp/replay      # campaigns + mutants, old code
    python bench/replay_tolerance.py compare /tmp/replay                           # rebuild + replay, this code

``record`` runs each campaign of :data:`CAMPAIGNS` (``diverfuzz run ... --mode many``) into
``DIR/<name>`` with whichever ``diverfuzz`` is imported (``PYTHONPATH`` picks the earlier tree) and
stores every stored divergence's mutant (its stored chain applied to its seed) in
``DIR/<name>/mutants.npz`` with the commit that computed them. ``compare`` rebuilds the same
mutants with this tree's relations (largest absolute difference, how many are bit-identical) and
replays each corpus with ``diverfuzz.fuzzer.campaign.replay.replay`` (label pair and validity
again), counts the mutants that moved by more than :data:`ROUND_OFF` and the relations in their
chains, then appends one JSON line per campaign to ``bench/results/replay_tolerance.jsonl``.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.append(str(_HERE))  # last: bench/provenance.py only

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

REALPAIRS = _HERE.parent.parent / "shared" / "realpairs"
TINY = REALPAIRS / "mlperf-tiny-ic"
#: name -> ``diverfuzz run`` arguments (mode many: every cluster's divergence is stored).
CAMPAIGNS = {
    "digits-int8-static": ["--example", "digits", "--precision", "int8-static", "--seeds", "40", "--budget", "300"],
    "lenet5-int8-static": ["--example", "mnist", "--precision", "int8-static", "--seeds", "30", "--budget", "300"],
    "resnet8-tflite": ["--model", str(TINY / "pretrainedResnet.tflite"),
                       "--candidate", str(TINY / "pretrainedResnet_quant.tflite"),
                       "--data", str(REALPAIRS / "cifar10-test"), "--input-range", "0,255",
                       "--seeds", "20", "--budget", "100"],
}
RESULTS = _HERE / "results" / "replay_tolerance.jsonl"
#: Differences above this (values in [0, 1]) are more than float32 round-off of a few operations.
ROUND_OFF = 1e-5


def _commit_of_imported_package() -> str:
    import diverfuzz

    root = Path(diverfuzz.__file__).resolve().parent.parent
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=False)
    return done.stdout.strip() or "?"


def _stored(out: Path) -> list:
    from diverfuzz.fuzzer.campaign.storage.corpus import Corpus

    corpus, _ = Corpus.of_campaign(out)
    with corpus:
        return corpus.stored(None)


def _mutants(out: Path) -> tuple[list[str], np.ndarray]:
    """Keys and mutants (stored chain on its seed) of every divergence stored in campaign ``out``."""
    from diverfuzz.fuzzer.campaign.rebuild import build_workload, open_stored
    from diverfuzz.fuzzer.campaign.storage.corpus import Corpus

    corpus, stored_config = Corpus.of_campaign(out)
    with corpus:
        campaign = open_stored(out, corpus, stored_config)
        stored = corpus.stored(None)
    x = build_workload(campaign).x
    keys = [s.key for s in stored]
    mutants = [s.chain.apply(np.ascontiguousarray(x[s.seed_index], np.float32)) for s in stored]
    return keys, (np.stack(mutants) if mutants else np.zeros((0,), np.float32))


def record(folder: Path, names: list[str]) -> None:
    from diverfuzz.entry.cli import main as cli

    for name in names:
        out = folder / name
        code = cli(["run", *CAMPAIGNS[name], "--mode", "many", "--rng-seed", "0", "--out", str(out), "--force", "--quiet"])
        if code != 0:
            raise SystemExit(f"{name}: diverfuzz run exited {code}")
        keys, mutants = _mutants(out)
        np.savez_compressed(out / "mutants.npz", keys=np.array(keys), mutants=mutants,
                            commit=np.array(_commit_of_imported_package()))
        print(f"{name}: {len(keys)} divergences recorded at {_commit_of_imported_package()}", file=sys.stderr)


def compare(folder: Path, names: list[str]) -> None:
    from provenance import commit_label

    from diverfuzz.fuzzer.campaign.replay import replay

    rows = []
    for name in names:
        out = folder / name
        saved = np.load(out / "mutants.npz")
        keys, mutants = _mutants(out)
        if list(saved["keys"]) != keys:
            raise SystemExit(f"{name}: the stored divergences differ from those recorded with the mutants")
        diff = np.abs(mutants.astype(np.float64) - saved["mutants"]) if len(keys) else np.zeros((0, 1))
        per = diff.reshape(len(keys), -1).max(axis=1) if len(keys) else np.zeros(0)
        result = replay(out)
        # Relations of the chains whose mutants moved by more than float32 round-off: discontinuous ones
        # (8-bit quantization, histogram bins, thresholds) can turn an ulp upstream into a grey level.
        chains = {s.key: s.chain for s in _stored(out)}
        moved: dict[str, int] = {}
        for key, d in zip(keys, per):
            if d > ROUND_OFF:
                for relation in sorted({step.relation for step in chains[key].steps}):
                    moved[relation] = moved.get(relation, 0) + 1
        rows.append({
            "campaign": name, "recorded_at": str(saved["commit"]), "replayed_at": commit_label(),
            "divergences": len(keys), "bit_identical": int((per == 0).sum()),
            "max_abs_difference": float(per.max()) if len(per) else 0.0,
            "median_abs_difference": float(np.median(per)) if len(per) else 0.0,
            "beyond_round_off": int((per > ROUND_OFF).sum()), "relations_beyond_round_off": moved,
            "reproduced": result.reproduced, "failures": result.failures[:5],
            # How far each divergence that did not reproduce had moved: round-off on a near-tie, or more.
            "not_reproduced_differences": [float(per[keys.index(o.stored.key)]) for o in result.outcomes
                                           if not o.reproduced],
        })
    with open(RESULTS, "a") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    print("| campaign | recorded at | replayed at | divergences | mutants bit-identical | largest abs. difference "
          "| median | beyond 1e-5 (their relations) | reproduced |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        relations = ", ".join(f"{k} {v}" for k, v in sorted(r["relations_beyond_round_off"].items(), key=lambda kv: -kv[1]))
        print(f"| {r['campaign']} | {r['recorded_at']} | {r['replayed_at']} | {r['divergences']} | {r['bit_identical']} "
              f"| {r['max_abs_difference']:.2e} | {r['median_abs_difference']:.2e} | {r['beyond_round_off']} "
              f"({relations or '-'}) | {r['reproduced']}/{r['divergences']} (not reproduced moved by "
              f"{', '.join(f'{d:.1e}' for d in r['not_reproduced_differences']) or '-'}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("record", "compare"))
    parser.add_argument("folder", type=Path)
    parser.add_argument("--campaigns", default=",".join(CAMPAIGNS), help="comma-separated subset of " + ",".join(CAMPAIGNS))
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    names = [n for n in args.campaigns.split(",") if n != "resnet8-tflite" or TINY.is_dir()]
    unknown = [n for n in names if n not in CAMPAIGNS]
    if unknown:
        raise SystemExit(f"--campaigns: {unknown} unknown; choose from {', '.join(CAMPAIGNS)}")
    (record if args.action == "record" else compare)(args.folder, names)


if __name__ == "__main__":
    main()
