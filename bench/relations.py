"""Cost of every relation next to one forward pass of the bundled model.

Usage: ``python bench/relations.py [--batch 64] [--repeat 3]``

For each relation, microseconds per input when :func:`diverfuzz.relations.apply_batch`
applies it (random non-identity parameters, one chain per input) to a batch
of inputs of size 8x8 (C=1), 32x32 (C=3), 32x32 with C=100 bands (only
relations whose kinds include ``spectral``) and ``(6, 128)`` signals (only
``signal`` relations); and the ratio of the whole batch's time to one
forward pass of the bundled digits CNN (``trained_digits_cnn(0)``) on a
``(batch, 1, 8, 8)`` tensor under ``torch.no_grad``. Then the lock-step
fast path of ``apply_batch`` against applying chains one by one, on a
population of random 3-step image chains.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

# This file is named like the package: run as a script, its folder comes
# first on sys.path and would shadow ``relations``.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from diverfuzz.relations import REGISTRY, Chain, Step, apply_batch, names_for_kind  # noqa: E402

SIZES = (
    ("8x8 C=1", (1, 8, 8), "image"),
    ("32x32 C=3", (3, 32, 32), "image"),
    ("32x32 C=100", (100, 32, 32), "spectral"),
    ("signal 6x128", (6, 128), "signal"),
)


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _chains(name: str, n: int, rng: np.random.Generator) -> list[Chain]:
    rel = REGISTRY[name]
    # u in [0.2, 1]: away from the identity of one-sided ranges
    return [Chain((Step(name, rel.from_unit(rng.uniform(0.2, 1.0, len(rel.params)))),)) for _ in range(n)]


def model_forward_s(batch: int, repeat: int) -> float:
    """Seconds for one forward pass of the bundled digits CNN on ``batch`` inputs."""
    import torch

    from diverfuzz.models.examples.digits import trained_digits_cnn

    model = trained_digits_cnn(0)
    model.eval()
    x = torch.rand(batch, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model(x)
        return _best(lambda: model(x), max(repeat, 10))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.batch
    fwd = model_forward_s(n, args.repeat)
    print(f"model forward, batch {n} (1x8x8): {fwd * 1e6:.0f} us ({fwd / n * 1e6:.1f} us/input)")
    print()
    header = f"{'relation':<20}" + "".join(f"{label:>22}" for label, _, _ in SIZES)
    print("us/input (x forward pass on the same batch)")
    print(header)
    rng = np.random.default_rng(0)
    for name, rel in REGISTRY.items():
        cells = []
        for _, shape, kind in SIZES:
            if kind not in rel.kinds or not rel.accepts_channels(shape[0]):
                cells.append(f"{'-':>22}")
                continue
            x = rng.uniform(0.05, 0.95, shape).astype(np.float32)
            chains = _chains(name, n, rng)
            t = _best(lambda: apply_batch(chains, x), args.repeat)
            cells.append(f"{t / n * 1e6:>12.1f} ({t / fwd:>6.1f}x)")
        print(f"{name:<20}" + "".join(cells))

    print()
    print(f"apply_batch lock-step path vs one chain at a time ({n} random 3-step chains)")
    for label, shape, kind in SIZES:
        pool = [m for m in names_for_kind(kind) if REGISTRY[m].accepts_channels(shape[0])]
        for subset, names in (("all", pool), ("pointwise", ["brightness", "contrast", "vignette"])):
            if not set(names) <= set(pool):
                continue
            x = rng.uniform(0.05, 0.95, shape).astype(np.float32)
            chains = []
            for _ in range(n):
                picks = rng.choice(names, size=3)
                chains.append(Chain(tuple(_chains(str(p), 1, rng)[0].steps[0] for p in picks)))
            t_batch = _best(lambda: apply_batch(chains, x), args.repeat)
            t_loop = _best(lambda: np.stack([c.apply(x) for c in chains]), args.repeat)
            same = np.array_equal(apply_batch(chains, x), np.stack([c.apply(x) for c in chains]))
            print(
                f"  {label:<13} {subset:<10} batch {t_batch / n * 1e6:8.1f} us/input, "
                f"loop {t_loop / n * 1e6:8.1f} us/input, speed-up {t_loop / t_batch:4.2f}x, "
                f"identical={same}, x forward {t_batch / fwd:.1f}"
            )


if __name__ == "__main__":
    main()
