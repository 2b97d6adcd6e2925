"""Cost of each precision backend next to native float32, measured side by side in one run.

Usage: ``python bench/precision.py [--repeat 5] [--batch 540] [--specs fp16,float:e4m3,...]``

Prints, for each backend on the bundled digits CNN, the counterpart's
inference time on the test split over the native float32 model's (best of
``--repeat`` runs each), then elements/s of ``quantize_float`` (nearest and
stochastic, float16 and bfloat16 formats) next to the native ``.half()`` /
``.bfloat16()`` casts on a 1M-element tensor. The goal for minifloat
emulation is within 10x of the native cast. ``quantize_float`` uses the
native cast itself for float16/bfloat16/float8_e5m2 with nearest rounding;
the "integer path" rows force the bit-manipulation emulation that every
other format (e.g. e4m3) and stochastic rounding use.
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
import time

import torch

from diverfuzz.models.examples.digits import load_digits_data, trained_digits_cnn
from diverfuzz.models.precision import build_counterpart, quantize_fixed, quantize_float

SPECS = (
    "fp16", "bf16", "int8-static", "int8-dynamic", "int8-weight", "int4-weight", "float:e4m3", "float:e4m3fn",
    "float:e5m2:sr",
    "fixed:16.14:sr", "int8", "int4:weights", "binary-weight", "ternary-weight", "mca:t=11", "approx:exact",
    "approx:mitchell", "approx:mitchell:mantissa=7",
)


def best_of(fn, baseline, repeat: int) -> tuple[float, float]:
    """Best times of ``fn`` and ``baseline``, run alternately so both see the same machine load."""
    fn(), baseline()  # warm-up
    times, base = [], []
    for _ in range(repeat):
        for f, acc in ((fn, times), (baseline, base)):
            t0 = time.perf_counter()
            f()
            acc.append(time.perf_counter() - t0)
    return min(times), min(base)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch", type=int, default=None, help="test inputs per forward (default: all 540)")
    parser.add_argument("--specs", default=",".join(SPECS))
    args = parser.parse_args()

    data = load_digits_data()
    model = trained_digits_cnn(0, data)
    x = torch.from_numpy(data.x_test[: args.batch])
    with torch.no_grad():
        print(f"bundled digits CNN, {len(x)} inputs per forward, {torch.get_num_threads()} threads, best of {args.repeat}")
        print(f"{'backend':<28}{'ms':>10}{'fp32 ms':>9}{'x fp32':>9}{'build s':>9}")
        for spec in args.specs.split(","):
            t0 = time.perf_counter()
            counterpart = build_counterpart(spec, model, data.x_train)
            build = time.perf_counter() - t0
            seconds, native = best_of(lambda: counterpart(x), lambda: model(x), args.repeat)
            print(f"{spec:<28}{seconds * 1e3:>10.2f}{native * 1e3:>9.2f}{seconds / native:>9.1f}{build:>9.2f}")

    n = 1_000_000
    t = torch.randn(n, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    rows = [
        ("native .half()", lambda: t.half()),
        ("native .half().float()", lambda: t.half().float()),
        ("quantize_float e5m10", lambda: quantize_float(t, 5, 10)),
        ("  integer path", lambda: quantize_float(t, 5, 10, native=False)),
        ("  stochastic", lambda: quantize_float(t, 5, 10, rounding="stochastic", generator=g)),
        ("native .bfloat16()", lambda: t.bfloat16()),
        ("quantize_float e8m7", lambda: quantize_float(t, 8, 7)),
        ("  integer path", lambda: quantize_float(t, 8, 7, native=False)),
        ("native float8_e5m2", lambda: t.to(torch.float8_e5m2)),
        ("quantize_float e5m2", lambda: quantize_float(t, 5, 2)),
        ("  integer path", lambda: quantize_float(t, 5, 2, native=False)),
        ("native float8_e4m3fn", lambda: t.to(torch.float8_e4m3fn)),
        ("quantize_float e4m3fn", lambda: quantize_float(t, 4, 3, finite=True)),
        ("  integer path", lambda: quantize_float(t, 4, 3, finite=True, native=False)),
        ("quantize_float e4m3 (IEEE)", lambda: quantize_float(t, 4, 3)),
        ("quantize_fixed 16.14", lambda: quantize_fixed(t, 16, 14)),
    ]
    print(f"\n1M float32 elements (randn), best of {args.repeat}")
    print(f"{'operation':<28}{'ms':>9}{'Melem/s':>10}{'.half() ms':>11}{'x .half()':>11}")
    for name, fn in rows:
        seconds, half = best_of(fn, rows[0][1], args.repeat)
        print(f"{name:<28}{seconds * 1e3:>9.3f}{n / seconds / 1e6:>10.1f}{half * 1e3:>11.3f}{seconds / half:>11.1f}")


if __name__ == "__main__":
    main()
