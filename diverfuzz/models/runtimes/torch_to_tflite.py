"""Convert a PyTorch stack of layers (LeNet-1/5 and the like) into a ``.tflite`` file.

The module is traced with ``torch.fx``; its graph must be a chain (each
operation feeds only the next) of supported layers:

=====================================  ==========================================
PyTorch                                LiteRT
=====================================  ==========================================
``Conv2d`` (groups 1, zero padding)    ``CONV_2D``, filter OIHW -> OHWI; symmetric
                                       padding as ``SAME`` when it equals it, else
                                       ``PAD`` + ``VALID``
``BatchNorm2d`` right after a conv     folded into the conv's weights and bias
``MaxPool2d`` / ``AvgPool2d``          ``MAX_POOL_2D`` / ``AVERAGE_POOL_2D``
                                       (``VALID``; an average pool's zero padding
                                       counted as torch's ``count_include_pad``)
``Flatten`` / ``torch.flatten(x, 1)``  ``RESHAPE`` in NHWC order; the next
                                       ``Linear``'s columns are permuted from
                                       torch's (C, H, W) order to (H, W, C)
``Linear``                             ``FULLY_CONNECTED``
``ReLU`` / ``ReLU6``                   fused into the conv / linear before, else
                                       ``RELU`` / ``RELU6``
``Tanh`` / ``Sigmoid``                 ``TANH`` / ``LOGISTIC``
``Softmax(dim=1)`` / ``LogSoftmax``    ``SOFTMAX`` / ``LOG_SOFTMAX``
``Dropout`` / ``Identity``             nothing (inference)
=====================================  ==========================================

Anything else is refused with a one-line :class:`DiverfuzzError` naming the
layer.

With ``quantize="int8"`` the file is fully integer-quantized, as LiteRT's
post-training integer quantization makes deployed models: every tensor's
range is the min/max over a calibration set (see
:func:`diverfuzz.models.runtimes.tflite_writer.write_tflite`), and LiteRT runs
its int8 kernels.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.runtimes.base import one_line
from diverfuzz.models.runtimes.tflite_writer import (
    Activation,
    Conv2D,
    Dense,
    Flatten,
    Pad,
    Pool2D,
    Softmax,
    write_tflite,
)

SUPPORTED = (
    "Conv2d, BatchNorm2d (after a Conv2d), MaxPool2d, AvgPool2d, Flatten, Linear, ReLU, ReLU6, Tanh, Sigmoid, "
    "Softmax, LogSoftmax, Dropout, Identity"
)
_ACTIVATION_FUNCTIONS = {torch.relu: "RELU", F.relu: "RELU", torch.tanh: "TANH",
                         torch.sigmoid: "LOGISTIC"}
_ACTIVATION_METHODS = {"relu": "RELU", "tanh": "TANH", "sigmoid": "LOGISTIC"}


def torch_to_tflite(
    model: nn.Module,
    path: str | Path,
    input_shape: tuple[int, ...],
    *,
    softmax: bool = False,
    io_dtype: str = "float32",
    input_quant: tuple[float, int] = (1 / 255, 0),
    output_quant: tuple[float, int] = (1 / 256, 0),
    quantize: str | None = None,
    calibration: np.ndarray | None = None,
) -> Path:
    """Write ``model`` (a chain of supported layers) as a ``.tflite`` file, float32 or fully int8.

    Parameters
    ----------
    model : torch.nn.Module
        An ``nn.Sequential`` or a module whose ``forward`` chains supported
        layers (see the module docstring), e.g.
        :class:`diverfuzz.models.examples.mnist.LeNet5`. Used in eval mode.
    path : path-like
        Where to write the ``.tflite`` file.
    input_shape : tuple of int
        One input as PyTorch takes it: ``(C, H, W)`` (the file's input is
        NHWC ``(1, H, W, C)``; the ``.tflite`` loader transposes NCHW
        batches) or ``(features,)``.
    softmax : bool, optional
        Append a ``SOFTMAX`` (default False). The ``.tflite`` loader returns
        a softmax output as log-probabilities.
    io_dtype : {"float32", "int8", "uint8"}, optional
        Type of the file's input and output tensors (default float32); see
        :func:`diverfuzz.models.runtimes.tflite_writer.write_tflite`.
    input_quant, output_quant : tuple (float, int), optional
        ``(scale, zero_point)`` of quantized input and output tensors of a
        float graph.
    quantize : {None, "int8"}, optional
        ``"int8"``: write a fully-quantized int8 graph (int8 input, weights,
        activations and output; int32 biases) calibrated on ``calibration``;
        ``io_dtype`` and the ``*_quant`` options are then ignored. Default
        None: float32 kernels.
    calibration : ndarray, float32, (N, *input_shape), optional
        Inputs whose per-tensor min/max set the int8 ranges (required with
        ``quantize="int8"``; a few hundred training images suffice).

    Returns
    -------
    Path

    Raises
    ------
    DiverfuzzError
        One line: a layer or operation that has no LiteRT counterpart here,
        a graph that is not a chain, or a module that ``torch.fx`` cannot trace.
    """
    if quantize not in (None, "int8"):
        raise DiverfuzzError(f"quantize={quantize!r}: choose None (float32) or 'int8'")
    if quantize and (calibration is None or len(calibration) == 0):
        raise DiverfuzzError("quantize='int8' needs calibration inputs (an (N, C, H, W) float32 array)")
    steps = _chain(model)
    layers = _convert(steps, tuple(int(d) for d in input_shape))
    if softmax:
        layers.append(Softmax())
    image = len(input_shape) == 3
    shape = (input_shape[1], input_shape[2], input_shape[0]) if image else tuple(input_shape)
    ranges = None
    if quantize:
        x = np.asarray(calibration, dtype=np.float32)
        if tuple(x.shape[1:]) != tuple(input_shape):
            raise DiverfuzzError(f"calibration inputs have shape {x.shape[1:]}, the model takes {tuple(input_shape)}")
        outputs = run_layers(layers, x.transpose(0, 2, 3, 1) if image else x)
        ranges = [(float(o.min()), float(o.max())) for o in outputs]
    return write_tflite(
        path, layers, shape, io_dtype=io_dtype, input_quant=input_quant, output_quant=output_quant,
        description=f"diverfuzz: {type(model).__name__} converted from PyTorch{' (int8)' if quantize else ''}",
        int8_ranges=ranges,
    )


def run_layers(layers: list, x: np.ndarray) -> list[np.ndarray]:
    """The input and every layer record's float output on ``x`` (NHWC or flat), computed with torch.

    The records' reference semantics (float64): what a float32 ``.tflite``
    file of ``layers`` computes, up to rounding; used to calibrate int8 ranges.
    """
    t = torch.from_numpy(np.asarray(x, dtype=np.float64))
    if t.dim() == 4:
        t = t.permute(0, 3, 1, 2)  # records are NHWC; torch's functions take NCHW
    outputs = [np.asarray(x)]
    clamp = {"NONE": lambda v: v, "RELU": torch.relu, "RELU6": lambda v: v.clamp(0, 6)}
    with torch.no_grad():
        for layer in layers:
            if isinstance(layer, Conv2D):
                w = torch.from_numpy(layer.weight.astype(np.float64)).permute(0, 3, 1, 2)
                if layer.padding == "SAME":
                    pads = []
                    for size, k, st, d in zip(t.shape[2:], w.shape[2:], layer.stride, layer.dilation):
                        total = max((-(-size // st) - 1) * st + d * (k - 1) + 1 - size, 0)
                        pads.append((total // 2, total - total // 2))
                    t = F.pad(t, (*pads[1], *pads[0]))
                t = F.conv2d(t, w, torch.from_numpy(layer.bias.astype(np.float64)), layer.stride, 0, layer.dilation)
                t = clamp[layer.activation](t)
            elif isinstance(layer, Pool2D):
                pool = F.max_pool2d if layer.kind == "MAX" else F.avg_pool2d
                t = pool(t, layer.size, layer.stride)
            elif isinstance(layer, Pad):
                (top, bottom), (left, right) = layer.pads
                t = F.pad(t, (left, right, top, bottom))
            elif isinstance(layer, Flatten):
                t = t.permute(0, 2, 3, 1).reshape(len(t), -1) if t.dim() == 4 else t
            elif isinstance(layer, Dense):
                t = clamp[layer.activation](F.linear(t, torch.from_numpy(layer.weight.astype(np.float64)),
                                                     torch.from_numpy(layer.bias.astype(np.float64))))
            elif isinstance(layer, Activation):
                t = {"RELU": torch.relu, "RELU6": clamp["RELU6"], "TANH": torch.tanh, "LOGISTIC": torch.sigmoid}[layer.kind](t)
            elif isinstance(layer, Softmax):
                t = torch.log_softmax(t, -1) if layer.log else torch.softmax(t, -1)
            else:
                raise TypeError(f"not a layer record: {type(layer).__name__}")
            outputs.append((t.permute(0, 2, 3, 1) if t.dim() == 4 else t).numpy())
    return outputs


def _chain(model: nn.Module) -> list[tuple[str, object]]:
    """``[(name, module or activation kind or "flatten"), ...]`` in call order, or a one-line error."""
    try:
        traced = torch.fx.symbolic_trace(model)
    except Exception as exc:
        raise DiverfuzzError(
            f"cannot convert {type(model).__name__} to .tflite: torch.fx cannot trace it ({one_line(exc)})"
        ) from exc
    modules = dict(traced.named_modules())
    steps: list[tuple[str, object]] = []
    previous = None
    for node in traced.graph.nodes:
        if node.op == "placeholder":
            if previous is not None:
                raise DiverfuzzError(f"cannot convert {type(model).__name__} to .tflite: it takes more than one input")
            previous = node
            continue
        if node.op == "output":
            if node.args[0] is not previous:
                raise DiverfuzzError(f"cannot convert {type(model).__name__} to .tflite: its output is not one tensor")
            break
        if node.op == "get_attr" or node.args[:1] != (previous,) or len(previous.users) != 1:
            raise DiverfuzzError(
                f"cannot convert {type(model).__name__} to .tflite: {node.target} is not part of a chain of "
                f"layers (branches, residual connections and parameters used in forward are not supported)"
            )
        extra = tuple(node.args[1:])
        if node.op == "call_module" and not extra and not node.kwargs:
            steps.append((str(node.target), modules[node.target]))
        elif node.op == "call_function" and node.target in _ACTIVATION_FUNCTIONS and not extra and set(node.kwargs) <= {"inplace"}:
            steps.append((node.name, _ACTIVATION_FUNCTIONS[node.target]))
        elif node.op == "call_method" and node.target in _ACTIVATION_METHODS and not extra and not node.kwargs:
            steps.append((node.name, _ACTIVATION_METHODS[node.target]))
        elif _is_flatten(node):
            steps.append((node.name, "flatten"))
        else:
            what = node.target if node.op != "call_module" else type(modules[node.target]).__name__
            raise DiverfuzzError(
                f"cannot convert {type(model).__name__} to .tflite: unsupported operation {getattr(what, '__name__', what)!s} "
                f"({node.name}); supported: {SUPPORTED}"
            )
        previous = node
    return steps


def _is_flatten(node) -> bool:
    """``torch.flatten(x, 1)``, ``x.flatten(1)``, ``x.view(-1, F)`` or ``x.reshape(-1, F)``."""
    args = tuple(node.args[1:])
    start = node.kwargs.get("start_dim", args[0] if args else 0)
    end = node.kwargs.get("end_dim", args[1] if len(args) > 1 else -1)
    if (node.op, node.target) in (("call_function", torch.flatten), ("call_method", "flatten")):
        return start == 1 and end == -1
    if node.op == "call_method" and node.target in ("view", "reshape"):
        dims = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
        return len(dims) == 2 and dims[0] == -1 and isinstance(dims[1], int) and not node.kwargs
    return False


def _refuse(name: str, module: object, why: str) -> DiverfuzzError:
    kind = type(module).__name__ if isinstance(module, nn.Module) else str(module)
    return DiverfuzzError(f"cannot convert layer {name} ({kind}) to .tflite: {why}")


def _numpy(t: torch.Tensor | None, shape: int | None = None) -> np.ndarray:
    if t is None:
        return np.zeros(shape, dtype=np.float32)
    return t.detach().to("cpu", torch.float32).numpy().copy()


#: Activation modules and the LiteRT operator each becomes.
_ACTIVATION_MODULES = {nn.ReLU: "RELU", nn.ReLU6: "RELU6", nn.Tanh: "TANH", nn.Sigmoid: "LOGISTIC"}


def _convert(steps: list[tuple[str, object]], input_shape: tuple[int, ...]) -> list:
    """Layer records for ``steps``, tracking the NHWC shape ``(H, W, C)`` or ``(features,)``."""
    converter = _Converter(input_shape[1:] + input_shape[:1] if len(input_shape) == 3 else input_shape)
    for name, m in steps:
        converter.add(name, m)
    if converter.permute is not None:
        # Flattened NHWC output with no Linear after it: outputs come in (H, W, C) order, torch gives (C, H, W).
        raise DiverfuzzError(
            "cannot convert the model to .tflite: its output is a flattened image (no Linear after Flatten), "
            "whose order differs between NHWC and torch's NCHW"
        )
    return converter.layers


class _Converter:
    """Turns :func:`_chain`'s steps into layer records one at a time.

    ``shape`` is the NHWC shape ``(H, W, C)`` or ``(features,)`` the next step
    gets; ``permute`` the ``(H, W, C)`` of an image flattened since the last
    ``Linear``, whose columns that ``Linear`` must reorder.
    """

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.layers: list = []
        self.shape = shape
        self.permute: tuple[int, int, int] | None = None

    def add(self, name: str, m: object) -> None:
        """Append the records of one step (module, activation kind or ``"flatten"``), or refuse it."""
        if isinstance(m, (nn.Dropout, nn.Identity)):
            return
        kind = _ACTIVATION_MODULES.get(type(m), m)
        if isinstance(kind, str) and kind in ("RELU", "RELU6", "TANH", "LOGISTIC"):
            self._activation(kind)
        elif m == "flatten" or isinstance(m, nn.Flatten):
            self._flatten(name, m)
        elif isinstance(m, nn.Conv2d):
            self._conv(name, m)
        elif isinstance(m, nn.BatchNorm2d):
            self._batchnorm(name, m)
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            self._pool(name, m)
        elif isinstance(m, nn.Linear):
            self._linear(name, m)
        elif isinstance(m, (nn.Softmax, nn.LogSoftmax)):
            if len(self.shape) != 1 or m.dim not in (1, -1):
                raise _refuse(name, m, "only over the classes of a flat (N, classes) output (dim=1)")
            self.layers.append(Softmax(log=isinstance(m, nn.LogSoftmax)))
        else:
            raise _refuse(name, m, f"no LiteRT counterpart here; supported: {SUPPORTED}")

    def _activation(self, kind: str) -> None:
        """Fuse RELU / RELU6 into the conv or linear right before, else a stand-alone operator."""
        layers = self.layers
        last = layers[-1] if layers else None
        if kind in ("RELU", "RELU6") and isinstance(last, (Conv2D, Dense)) and last.activation == "NONE":
            layers[-1] = replace(last, activation=kind)
        else:
            layers.append(Activation(kind))

    def _flatten(self, name: str, m: object) -> None:
        if isinstance(m, nn.Flatten) and (m.start_dim != 1 or m.end_dim != -1):
            raise _refuse(name, m, f"only Flatten(start_dim=1, end_dim=-1), got ({m.start_dim}, {m.end_dim})")
        if len(self.shape) == 3:
            self.permute = self.shape
            self.layers.append(Flatten())
            self.shape = (int(np.prod(self.shape)),)

    def _conv(self, name: str, m: nn.Conv2d) -> None:
        """``CONV_2D`` (OIHW -> OHWI): symmetric padding as ``SAME`` when it equals it, else ``PAD`` + ``VALID``."""
        if len(self.shape) != 3:
            raise _refuse(name, m, "a Conv2d after Flatten")
        if m.groups != 1 or m.padding_mode != "zeros":
            raise _refuse(name, m, f"only groups=1 and zero padding (got groups={m.groups}, padding_mode={m.padding_mode!r})")
        (kh, kw), (sh, sw), (dh, dw) = m.kernel_size, m.stride, m.dilation
        weight = _numpy(m.weight).transpose(0, 2, 3, 1)  # OIHW -> OHWI
        bias = _numpy(m.bias, m.out_channels)
        if m.padding == "valid":
            ph = pw = 0
        elif m.padding == "same":
            ph, pw = dh * (kh - 1) // 2, dw * (kw - 1) // 2
            if (dh * (kh - 1)) % 2 or (dw * (kw - 1)) % 2:
                raise _refuse(name, m, "padding='same' with an even receptive field (uneven padding)")
        else:
            ph, pw = m.padding
        same = (sh, sw) == (1, 1) and 2 * ph == dh * (kh - 1) and 2 * pw == dw * (kw - 1) and (ph or pw)
        padding = "SAME" if same else "VALID"
        shape = self.shape
        if (ph or pw) and not same:
            self.layers.append(Pad(((ph, ph), (pw, pw))))
            shape = (shape[0] + 2 * ph, shape[1] + 2 * pw, shape[2])
        if shape[2] != m.in_channels:
            raise _refuse(name, m, f"expects {m.in_channels} input channels, gets {shape[2]}")
        self.layers.append(Conv2D(weight, bias, (sh, sw), padding, (dh, dw)))
        if padding == "SAME":
            self.shape = (shape[0], shape[1], m.out_channels)
        else:
            self.shape = ((shape[0] - dh * (kh - 1) - 1) // sh + 1, (shape[1] - dw * (kw - 1) - 1) // sw + 1,
                          m.out_channels)

    def _batchnorm(self, name: str, m: nn.BatchNorm2d) -> None:
        """Fold a ``BatchNorm2d`` into the weights and bias of the Conv2D right before it."""
        last = self.layers[-1] if self.layers else None
        if not isinstance(last, Conv2D) or last.activation != "NONE" or not m.track_running_stats:
            raise _refuse(name, m, "a BatchNorm2d is folded into the Conv2d right before it, and there is none")
        gamma = _numpy(m.weight, m.num_features) if m.affine else np.ones(m.num_features, np.float32)
        beta = _numpy(m.bias, m.num_features) if m.affine else np.zeros(m.num_features, np.float32)
        scale = gamma / np.sqrt(_numpy(m.running_var) + m.eps)
        self.layers[-1] = Conv2D(
            (last.weight * scale[:, None, None, None]).astype(np.float32),
            ((last.bias - _numpy(m.running_mean)) * scale + beta).astype(np.float32),
            last.stride, last.padding, last.dilation,
        )

    def _pool(self, name: str, m: nn.MaxPool2d | nn.AvgPool2d) -> None:
        """``MAX_POOL_2D`` / ``AVERAGE_POOL_2D`` (``VALID``), after a ``PAD`` for a padded average pool."""
        if len(self.shape) != 3:
            raise _refuse(name, m, "a pooling layer after Flatten")
        k = _pair(m.kernel_size)
        stride = _pair(m.stride if m.stride not in (None, ()) else m.kernel_size)
        pad = _pair(m.padding)
        if m.ceil_mode:
            raise _refuse(name, m, "ceil_mode=True")
        if isinstance(m, nn.MaxPool2d):
            if _pair(m.dilation) != (1, 1) or m.return_indices:
                raise _refuse(name, m, "only dilation 1 and return_indices=False")
            if pad != (0, 0):
                raise _refuse(name, m, "a padded max pool (LiteRT pads with zeros, torch with -inf)")
        elif pad != (0, 0) and (not m.count_include_pad or m.divisor_override):
            raise _refuse(name, m, "a padded average pool needs count_include_pad=True and no divisor_override")
        elif m.divisor_override:
            raise _refuse(name, m, "divisor_override")
        shape = self.shape
        if pad != (0, 0):
            self.layers.append(Pad(((pad[0], pad[0]), (pad[1], pad[1]))))
            shape = (shape[0] + 2 * pad[0], shape[1] + 2 * pad[1], shape[2])
        self.layers.append(Pool2D("MAX" if isinstance(m, nn.MaxPool2d) else "AVERAGE", k, stride))
        self.shape = ((shape[0] - k[0]) // stride[0] + 1, (shape[1] - k[1]) // stride[1] + 1, shape[2])

    def _linear(self, name: str, m: nn.Linear) -> None:
        """``FULLY_CONNECTED``; after a flattened image, columns reordered from (C, H, W) to (H, W, C)."""
        if len(self.shape) != 1:
            raise _refuse(name, m, "a Linear on an image (add Flatten before it)")
        weight = _numpy(m.weight)
        if weight.shape[1] != self.shape[0]:
            raise _refuse(name, m, f"expects {weight.shape[1]} features, gets {self.shape[0]}")
        if self.permute is not None:  # torch flattened (C, H, W); the file flattens (H, W, C)
            h, w, c = self.permute
            weight = weight.reshape(-1, c, h, w).transpose(0, 2, 3, 1).reshape(len(weight), -1)
            self.permute = None
        self.layers.append(Dense(np.ascontiguousarray(weight), _numpy(m.bias, m.out_features)))
        self.shape = (m.out_features,)


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


__all__ = ["SUPPORTED", "run_layers", "torch_to_tflite"]
