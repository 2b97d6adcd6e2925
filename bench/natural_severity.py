"""Which severity should ``natural`` default to? The reference's own label under random natural chains.

Usage::

    python bench/natural_severity.py --seeds 100 --draws 20 --json bench/results/natural_severity.json

For each bundled example that is *not* one of the search benchmark's reported pairs (the
8x8 digits CNN, the synthetic spectral and signal CNNs), and each severity 1-5, draw
chains uniformly over the natural space at that severity (each relation active with
probability 2.5 / relations, each graded parameter uniform over its interval), keep those
that meet the default pixel rule against the moved seed, and measure how often the
*reference* model keeps the seed's label. A severity a person accepts as "the same
object" should leave a well-trained reference's answer nearly always unchanged; the
default is the highest severity at which every example keeps at least 90%. The counterpart
plays no part, so the choice is not tuned on any divergence.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import numpy as np  # noqa: E402
from scipy.stats import binomtest  # noqa: E402

from diverfuzz.fuzzer.campaign.config import CampaignConfig  # noqa: E402
from diverfuzz.fuzzer.campaign.workload import prepare, seed_input, select_seeds  # noqa: E402
from diverfuzz.fuzzer.search.space import EXPECTED_ACTIVE, SearchSpace  # noqa: E402
from diverfuzz.models.pair import torch_threads  # noqa: E402
from diverfuzz.relations import Validity, natural  # noqa: E402
from diverfuzz.relations.validity import DEFAULT_PIXEL_RULE  # noqa: E402

EXAMPLES = ("digits", "spectral", "signal")
KEEP = 0.9


def uniform_genomes(space: SearchSpace, rng: np.random.Generator, n: int) -> np.ndarray:
    """Genomes uniform over the space, each relation active with probability EXPECTED_ACTIVE / relations."""
    genomes = rng.random((n, space.genome_length))
    p_active = min(0.5, EXPECTED_ACTIVE / len(space.relations))
    pos = 0
    for relation in space.relations:
        genomes[:, pos] = np.where(rng.random(n) < p_active, 0.75, 0.25)
        pos += 1 + len(relation.params)
    return genomes


def measure(example: str, seeds: int, draws: int) -> dict:
    workload = prepare(CampaignConfig(example=example, precision="fp16", seeds=seeds))
    indices = [int(i) for i in select_seeds(workload, seeds).indices]
    out = {}
    for severity in (1, 2, 3, 4, 5):
        validity = Validity.parse(f"natural:{severity} and {DEFAULT_PIXEL_RULE}")
        space = SearchSpace.natural(workload.relations, severity)
        kept = total = rejected = 0
        for index in indices:
            seed = seed_input(workload, index)
            rng = np.random.default_rng([severity, index])
            chains = [space.decode(g) for g in uniform_genomes(space, rng, draws)]
            mutants = np.stack([c.apply(seed) for c in chains])
            valid, _, _ = natural.judge(validity, seed, chains, mutants)
            rejected += int((~valid).sum())
            if valid.any():
                ref, _ = workload.pair.logits(np.concatenate([seed[None], mutants[valid]]))
                labels = ref.argmax(axis=1)
                kept += int((labels[1:] == labels[0]).sum())
                total += int(valid.sum())
        ci = binomtest(kept, total).proportion_ci(0.95) if total else None
        out[severity] = {"kept": kept, "total": total, "rate": kept / total if total else None,
                         "low": None if ci is None else ci.low, "high": None if ci is None else ci.high,
                         "rejected_by_pixel_rule": rejected}
        print(f"{example} severity {severity}: reference keeps its label on {kept}/{total} "
              f"({100 * kept / max(total, 1):.1f}%), pixel rule rejected {rejected}", flush=True)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--draws", type=int, default=20, help="chains per seed and severity")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    with torch_threads(1):
        results = {example: measure(example, args.seeds, args.draws) for example in EXAMPLES}
    ok = [s for s in (1, 2, 3, 4, 5) if all(results[e][s]["rate"] is not None and results[e][s]["rate"] >= KEEP
                                             for e in EXAMPLES)]
    chosen = max(ok) if ok else 1
    print(f"highest severity at which every example's reference keeps >= {KEEP:.0%} of its labels: {chosen}")
    if args.json:
        Path(args.json).write_text(json.dumps({"command": "python bench/natural_severity.py " + " ".join(
            argv if argv is not None else sys.argv[1:]), "keep": KEEP, "chosen": chosen, "results": results},
            indent=1) + "\n")


if __name__ == "__main__":
    main()
