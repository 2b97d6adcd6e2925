"""What a relation call costs at small inputs: time per call and per row, by batch size.

Usage::

    nice -n 5 python bench/relation_rows.py                 # 1x28x28, batches of 1, 4, 16 and 64 rows
    nice -n 5 python bench/relation_rows.py --shape 3,32,32

Every image relation's batched function (what :func:`diverfuzz.relations.apply_steps` calls)
is timed on a stack of random ``[0, 1]`` images, each row with its own random parameters
(drawn uniformly over the relation's range, a new set per repetition so no memo is hit
twice in a row), in one thread. torch is imported first, as in a campaign: importing it
changes NumPy's temporaries' allocation enough to matter (a 64-row rotation ran 4x slower
without it, measured). The table says whether batching more rows into one call would still
pay: where the time per row stops falling between 16 and 64 rows, the cost is per row, not
per call. Results are appended to ``bench/results/relation_rows.jsonl``.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
sys.path.append(str(_HERE))

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402, F401 - imported as in a campaign (see the module's notes)
from provenance import commit_label  # noqa: E402

from diverfuzz.relations import REGISTRY  # noqa: E402
from diverfuzz.relations.natural import natural_order  # noqa: E402

RESULTS = _HERE / "results" / "relation_rows.jsonl"
SIZES = (1, 4, 16, 64)
#: Seconds of repetitions per measurement (the mean over them is kept).
SECONDS = 0.2


def _params(relation, rng: np.random.Generator, n: int) -> list[dict]:
    out = []
    for _ in range(n):
        p = relation.from_unit(rng.random(len(relation.params)).tolist())
        if "seed" in p:
            p["seed"] = int(rng.integers(2**31))
        out.append(p)
    return out


def time_relation(name: str, shape: tuple[int, ...], rng: np.random.Generator) -> dict[int, float]:
    """Microseconds per call of ``name``'s batch function, by rows per call."""
    relation = REGISTRY[name]
    found = {}
    for n in SIZES:
        xs = rng.random((n, *shape), dtype=np.float32)
        draws = [_params(relation, rng, n) for _ in range(64)]
        relation.batch_func(xs.copy(), draws[0])
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < SECONDS:
            relation.batch_func(xs.copy(), draws[calls % len(draws)])
            calls += 1
        found[n] = 1e6 * (time.perf_counter() - start) / calls
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", default="1,28,28", help="C,H,W of the images (default 1,28,28)")
    args = parser.parse_args()
    shape = tuple(int(v) for v in args.shape.split(","))
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    names = [n for n in natural_order(list(REGISTRY)) if "image" in REGISTRY[n].kinds and REGISTRY[n].batch_func]
    rows = []
    print(f"us per call at {', '.join(map(str, SIZES))} rows; us per row at {SIZES[-1]} rows ({args.shape})")
    for name in names:
        per_call = time_relation(name, shape, rng)
        rows.append({"relation": name, "us_per_call": {str(k): round(v, 1) for k, v in per_call.items()}})
        cells = " ".join(f"{per_call[n]:8.0f}" for n in SIZES)
        print(f"{name:16s} {cells} | {per_call[SIZES[-1]] / SIZES[-1]:6.1f}")
    record = {"shape": list(shape), "sizes": list(SIZES), "relations": rows, "commit": commit_label()}
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a") as fh:
        fh.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
