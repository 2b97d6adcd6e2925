"""One end-to-end campaign per model file format, on MNIST (28x28), through the CLI.

Usage: ``nice -n 5 python bench/file_formats.py [--seeds 20] [--budget 200] [--out DIR]``

Writes LeNet-5 (:func:`fuzzer.models.examples.mnist.trained_lenet5`) as
``.onnx`` (``torch.onnx.export``), ``.pt2`` (``torch.export.save``) and
TorchScript ``.pt``, plus its ONNX Runtime int8 counterpart as a file
(``onnx-int8``: the exported graph quantized by ``quantize_static``), and a
softmax-regression classifier trained on the same digits as ``.tflite``
(float32, and a fully-quantized copy with int8 input/output tensors and a
final softmax, written by :mod:`fuzzer.models.runtimes.tflite_writer`).
Then runs ``diverfuzz run --model REF --candidate CAND`` for each format
(``.onnx``: the float graph against the int8 file; ``.tflite``: float
against fully-quantized; ``.pt2``: against ``--precision int8-static``
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

from fuzzer.entry.cli import main as cli
from fuzzer.models.examples.mnist import load_mnist_data, trained_lenet5
from fuzzer.models.precision.onnx_runtime import export_onnx
from fuzzer.models.runtimes.tflite_writer import write_linear_tflite


def softmax_regression(x: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A linear classifier on NHWC-flattened images (full-batch Adam, 300 steps, seeded)."""
    gen = torch.Generator().manual_seed(seed)
    flat = torch.from_numpy(x.transpose(0, 2, 3, 1).reshape(len(x), -1).copy())
    w = (torch.randn(10, flat.shape[1], generator=gen) * 0.01).requires_grad_()
    b = torch.zeros(10, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=0.05)
    target = torch.from_numpy(y)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(flat @ w.T + b, target).backward()
        opt.step()
    return w.detach().numpy(), b.detach().numpy()


def quantize_onnx_file(source: _Path, target: _Path, calibration: np.ndarray) -> None:
    """What a user shipping ONNX does: ``quantize_static`` (QDQ, min/max) on the exported file."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from fuzzer.models.precision.onnx_runtime import _Reader

    name = onnx.load(str(source), load_external_data=False).graph.input[0].name
    with contextlib.redirect_stdout(io.StringIO()):
        quantize_static(
            str(source), str(target), _Reader(name, calibration), quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
            extra_options={"CalibStridedMinMax": 1},
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
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
    w, b = softmax_regression(data.x_train, data.y_train)
    write_linear_tflite(root / "linear.tflite", w, b, (28, 28, 1))
    write_linear_tflite(
        root / "linear_int8.tflite", w, b, (28, 28, 1), softmax=True, io_dtype="int8",
        input_quant=(1 / 255, -128), output_quant=(1 / 256, -128),
    )
    runs = {
        "onnx": ("lenet5.onnx", "lenet5_int8.onnx", None),
        "tflite": ("linear.tflite", "linear_int8.tflite", None),
        "pt2": ("lenet5.pt2", None, "int8-static"),
        "pt": ("lenet5.pt", None, "fp16"),
    }
    for fmt, (ref, cand, precision) in runs.items():
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
