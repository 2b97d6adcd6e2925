"""Batched inference: the one place a model is run on a NumPy batch."""

from __future__ import annotations

from typing import Callable, Union

import numpy as np
import torch

from diverfuzz.common.errors import ModelError

Model = Union[torch.nn.Module, Callable[[torch.Tensor], torch.Tensor]]


def run_model(model: Model, x: torch.Tensor, *, name: str = "model") -> np.ndarray:
    """``model(x)`` as float64 logits ``(N, classes)``, checked.

    Parameters
    ----------
    model : torch.nn.Module or callable
        Maps a float32 batch to logits.
    x : torch.Tensor, float32, (N, *input_shape)
    name : str, optional
        How error messages name the model (default ``"model"``).

    Raises
    ------
    ModelError
        When the model raises, returns something other than a ``(N, classes)``
        tensor, or returns NaN or inf.
    """
    try:
        out = model(x)
    except Exception as exc:  # a user model may raise anything
        raise ModelError(
            f"the {name} model raised {type(exc).__name__}: {exc} "
            f"(input batch shape {tuple(x.shape)}, dtype float32)" + channel_axis_hint(tuple(x.shape), str(exc))
        ) from exc
    if not isinstance(out, torch.Tensor):
        raise ModelError(f"the {name} model returned {type(out).__name__}, expected a logits tensor")
    out = out.detach().float().cpu()
    if out.ndim != 2 or out.shape[0] != x.shape[0]:
        raise ModelError(
            f"the {name} model returned shape {tuple(out.shape)} for a batch of "
            f"{x.shape[0]}; expected (batch, classes)"
        )
    result = out.numpy().astype(np.float64)
    bad = ~np.isfinite(result)
    if bad.any():
        row = int(np.argwhere(bad.any(axis=1))[0, 0])
        raise ModelError(
            f"the {name} model returned NaN or inf logits (first at batch row {row} of {x.shape[0]}); "
            "divergences cannot be judged on non-finite outputs: check the model (overflow in a "
            "reduced-precision format?)"
        )
    return result


def channel_axis_hint(shape: tuple[int, ...], message: str) -> str:
    """A hint when inputs ``(N, H, W)`` lacking a channel axis made a convolution fail (else ``""``).

    ``(N, 8, 8)`` grey images reach a ``Conv2d`` as one unbatched input of
    ``N`` channels, and torch's error talks about channels, not the data.
    """
    text = message.lower()
    if len(shape) != 3 or not ("conv" in text or "channels" in text or "3d" in text or "rank" in text):
        return ""
    return (
        f"; the data's inputs have shape {shape[1:]} with no channel axis: for single-channel images "
        "add one, x[:, None] (shape (N, 1, H, W)), before saving --data"
    )


def batched_logits(model: Model, x: np.ndarray, *, batch_size: int = 1024, name: str = "model") -> np.ndarray:
    """Logits of ``model`` on every row of ``x``, ``batch_size`` rows at a time.

    Parameters
    ----------
    model : torch.nn.Module or callable
    x : ndarray, (N, *input_shape)
        Converted to contiguous float32.
    batch_size : int, optional
        Largest batch sent to the model at once (>= 1, default 1024).
    name : str, optional
        How error messages name the model.

    Returns
    -------
    ndarray, float64, (N, classes); ``(0, 0)`` for an empty ``x``.
    """
    if batch_size < 1:
        raise ModelError(f"batch_size={batch_size} must be >= 1")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.strides != _row_major_strides(x):
        # A C-contiguous array may still carry odd strides on axes of length 1 (a channel
        # axis added by ``x[:, None]``); torch then sees a channels-last tensor and picks
        # other kernels, which round differently: the same input must give the same logits.
        x = x.copy()
    outs = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            outs.append(run_model(model, torch.from_numpy(x[start : start + batch_size]), name=name))
    return np.concatenate(outs) if outs else np.zeros((0, 0))


def _row_major_strides(x: np.ndarray) -> tuple[int, ...]:
    strides, step = [], x.itemsize
    for n in reversed(x.shape):
        strides.append(step)
        step *= n
    return tuple(reversed(strides))


def calibrate(model: Model, data: np.ndarray, *, batch_size: int = 256) -> None:
    """Run ``model`` over every row of ``data`` for its observers, discarding the outputs.

    The one calibration loop of every counterpart that observes activations
    (static int8 through PT2E, emulated integer activations, approximate
    multipliers): batches of ``batch_size`` rows (default 256) under
    ``torch.no_grad``, in row order.
    """
    data = np.ascontiguousarray(data, dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            model(torch.from_numpy(data[start : start + batch_size]))
