"""One end-to-end campaign per model file format, on MNIST (28x28), through the CLI.

Usage: ``nice -n 5 python bench/file_formats.py [--seeds 20] [--budget 200] [--out DIR] [--formats onnx,tflite,pt2,pt]``

Writes LeNet-5 (:func:`diverfuzz.models.examples.mnist.trained_lenet5`) as
``.onnx`` (``torch.onnx.export``), ``.pt2`` (``torch.export.save``) and
TorchScript ``.pt``, plus its ONNX Runtime int8 counterpart as a file
(``onnx-int8``: the exported graph quantized by ``quantize_static``), and
as ``.tflite`` through :func:`diverfuzz.models.runtimes.torch_to_tflite.torch_to_tflite`
(no TensorFlow): a float32 file, and a fully-quantized int8 file (int8
input, weights and activations, int32 biases; min/max calibrated on the same
512 training images as the ONNX int8 file) that LiteRT runs with its int8
kernels. Then runs ``diverfuzz run --model REF --candidate CAND`` for each
format (``.onnx``: the float graph against the int8 file; ``.tflite``: float
against int8; ``.pt2``: against ``--precision int8-static``
built from the loaded program; ``.pt``: against ``--precision fp16``) and
replays each campaign, printing its summary line.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_HERE = _Path(__file__).resolve().parent
_sys.path[:] = [p for p in _sys.path if _Path(p or ".").resolve() != _HERE]
_sys.path.insert(0, str(_HERE.parent))

import argparse
import contextlib
import io
import json
import tempfile
import warnings

import numpy as np
import torch

from diverfuzz.entry.cli import main as cli
from diverfuzz.models.examples.mnist import load_mnist_data, trained_lenet5
from diverfuzz.models.precision.onnx_runtime import export_onnx
from diverfuzz.models.runtimes.torch_to_tflite import torch_to_tflite


def quantize_onnx_file(source: _Path, target: _Path, calibration: np.ndarray) -> None:
    """What a user shipping ONNX does: ``quantize_static`` (QDQ, min/max) on the exported file."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from diverfuzz.models.precision.onnx_runtime import _Reader

    name = onnx.load(str(source), load_external_data=False).graph.input[0].name
    with contextlib.redirect_stdout(io.StringIO()):
        quantize_static(
            str(source), str(target), _Reader(name, calibration), quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
            extra_options={"CalibStridedMinMax": 1},
        )


def test_accuracy(path: _Path, x: np.ndarray, y: np.ndarray) -> float:
    """Share of the test digits the model file at ``path`` labels right (loaded as ``--model`` loads it)."""
    from diverfuzz.models.inference import batched_logits
    from diverfuzz.models.loading import load_model

    return float((batched_logits(load_model(str(path)), x).argmax(axis=1) == y).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--out", default=None)
    parser.add_argument("--formats", default="onnx,tflite,pt2,pt", help="comma-separated subset to run")
    args = parser.parse_args()
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    warnings.simplefilter("ignore")
    root = _Path(args.out or tempfile.mkdtemp(prefix="diverfuzz-formats-"))
    root.mkdir(parents=True, exist_ok=True)
    data = load_mnist_data()
    model = trained_lenet5(0, data)
    np.savez(root / "mnist_test.npz", x=data.x_test, y=data.y_test)
    export_onnx(model, data.x_train[:2], root / "lenet5.onnx", "bench")
    ep = torch.export.export(model, (torch.from_numpy(data.x_train[:2]),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(ep, str(root / "lenet5.pt2"))
    torch.jit.trace(model, torch.from_numpy(data.x_train[:2])).save(str(root / "lenet5.pt"))
    quantize_onnx_file(root / "lenet5.onnx", root / "lenet5_int8.onnx", data.x_train[:512])
    torch_to_tflite(model, root / "lenet5.tflite", (1, 28, 28))
    torch_to_tflite(model, root / "lenet5_int8.tflite", (1, 28, 28), quantize="int8", calibration=data.x_train[:512])
    for name in ("lenet5.onnx", "lenet5_int8.onnx", "lenet5.tflite", "lenet5_int8.tflite"):
        acc = test_accuracy(root / name, data.x_test, data.y_test)
        print(f"{name}: {round(acc * len(data.y_test))}/{len(data.y_test)} test digits right ({acc:.3f})", flush=True)
    runs = {
        "onnx": ("lenet5.onnx", "lenet5_int8.onnx", None),
        "tflite": ("lenet5.tflite", "lenet5_int8.tflite", None),
        "pt2": ("lenet5.pt2", None, "int8-static"),
        "pt": ("lenet5.pt", None, "fp16"),
    }
    unknown = sorted(set(formats) - set(runs))
    if unknown:
        parser.error(f"--formats: unknown {', '.join(unknown)}; choose from {', '.join(runs)}")
    for fmt, (ref, cand, precision) in runs.items():
        if fmt not in formats:
            continue
        out = root / f"run_{fmt}"
        argv = ["run", "--model", str(root / ref), "--data", str(root / "mnist_test.npz"), "--seeds", str(args.seeds),
                "--budget", str(args.budget), "--out", str(out), "--force", "--quiet"]
        argv += ["--candidate", str(root / cand)] if cand else ["--precision", precision]
        code = cli(argv)
        s = json.loads((out / "report.json").read_text())["summary"]
        replay = cli(["replay", str(out)])
        print(
            f"{fmt}: diverfuzz {' '.join(a for a in argv if a not in ('--force', '--quiet'))} -> exit {code}; {s['seeds_with_divergence']}/{s['seeds']} seeds "
            f"diverged ({100 * s['success_rate']:.0f}%), {s['queries']} queries, {s['wall_seconds']:.1f} s; replay exit {replay}",
            flush=True,
        )


if __name__ == "__main__":
    main()
