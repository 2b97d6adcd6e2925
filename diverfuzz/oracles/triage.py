"""Divergence triage: is the reference itself numerically stable on a divergent input?

A divergence is a bug of the reduced-precision counterpart only if the
full-precision reference is sure of its own answer. :func:`triage` runs the
reference under Monte Carlo Arithmetic (MCA) at its own precision (``t=24``
for float32) and labels each input

``precision-induced``
    every MCA sample keeps the reference's top-1 label: the reference is
    stable, so the counterpart's different label comes from its precision;
``reference-unstable``
    some samples change the reference's label: rounding noise at the
    reference's own precision already decides the answer, so the divergence
    says nothing about the counterpart.
``not triaged``
    MCA cannot reach the reference's own arithmetic (:func:`triage_obstacle`,
    :class:`NotTriaged`): a model file run by ONNX Runtime or LiteRT, with or
    without a torch preprocessing wrapper in front (MCA would perturb the
    input scaling alone), a plain callable, a TorchScript module or a
    ``torch.export`` program. The divergence stands, unjudged, with the reason.

Notes
-----
D. S. Parker, "Monte Carlo Arithmetic" (UCLA TR 970002, 1997);
Verificarlo (Denis et al., ARITH 2016) for MCA on real programs; significant
bits as in Sohier et al., "Confidence intervals for stochastic arithmetic"
(ACM TOMS 2021). The question "is the full-precision model itself stable?"
is the one asked of DeepGOPlus by Kiar et al. / the VPREC studies of
reduced-precision neural networks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.precision.mca import count_arithmetic, mca_samples, significant_bits
from diverfuzz.models.preprocessed import Preprocessed
from diverfuzz.relations import Chain

PRECISION_INDUCED = "precision-induced"
REFERENCE_UNSTABLE = "reference-unstable"
LABELS = (PRECISION_INDUCED, REFERENCE_UNSTABLE)
#: The label of a divergence whose reference MCA cannot instrument (with a ``reason``).
NOT_TRIAGED = "not triaged"

#: Runtimes of model files, by the class that runs them.
_RUNTIMES = {"OnnxModel": "ONNX Runtime", "TfliteModel": "LiteRT"}


class NotTriaged(DiverfuzzError):
    """MCA cannot instrument the reference's own arithmetic; the message says why."""


def _peel(reference: Any) -> tuple[Any, list]:
    """``(model, preprocessing)``: the model inside any :class:`Preprocessed` wrappers, and their preprocessing, outermost first."""
    steps = []
    while isinstance(reference, Preprocessed):
        steps.append(reference.preprocess)
        reference = reference.model
    return reference, steps


def _what(model: Any) -> str:
    """How a reason names ``model``: its runtime and file, or its type."""
    path = getattr(model, "path", None)
    name = Path(str(path)).name if path is not None else None
    runtime = _RUNTIMES.get(type(model).__name__)
    if runtime is not None:
        return f"runs in {runtime}" + (f" ({name})" if name else "")
    kind = getattr(model, "kind", None)
    if kind == "torchscript":
        return f"is a TorchScript module ({name}), run by the TorchScript interpreter"
    if kind == "pt2":
        return f"is a torch.export program ({name}), which calls aten operator overloads"
    inner, device = getattr(model, "model", None), getattr(model, "device", None)
    if isinstance(inner, nn.Module) and isinstance(device, str) and device != "cpu":
        return f"runs on {device}, and MCA runs on the CPU"
    if not isinstance(model, nn.Module):
        return f"is a plain callable ({getattr(model, '__qualname__', type(model).__qualname__)}), not a torch.nn.Module"
    return f"is a {type(model).__name__} whose forward calls no torch function MCA intercepts"


def triage_obstacle(reference: Any) -> str | None:
    """Why MCA cannot triage ``reference``, found without running it; None when it may.

    MCA (:class:`~diverfuzz.models.precision.mca.MCAMode`) perturbs the torch functions a
    ``torch.nn.Module`` calls. A reference that is no module, or a :class:`Preprocessed`
    wrapper around one that is not (a model file behind ``--input-range``), offers it no
    arithmetic of the model's: triaging it would perturb the input scaling alone and call
    every divergence ``precision-induced``. Modules that call no perturbable function
    (TorchScript, ``torch.export`` programs) are found by :func:`triage` on its first pass.
    """
    model, steps = _peel(reference)
    if isinstance(model, nn.Module):
        return None
    reason = f"MCA instruments the arithmetic of torch modules, and the reference {_what(model)}"
    if steps:
        reason += "; the torch wrapper in front of it only preprocesses the input, and is all MCA could perturb"
    return reason


def not_triaged(reason: str) -> dict:
    """The ``triage`` of a divergence MCA could not judge: ``{"label": "not triaged", "reason": reason}``."""
    return {"label": NOT_TRIAGED, "reason": reason}


@dataclass(frozen=True)
class Triage:
    """The triage of one input: plain data, JSON-ready through :meth:`to_dict`.

    Attributes
    ----------
    label : str
        ``"precision-induced"`` (the reference's label is stable under MCA)
        or ``"reference-unstable"``.
    significant_bits : float
        Mean over the logits of the per-logit significant bits of the
        reference's output (relative error, centred-normal estimate,
        95 % probability at 95 % confidence), each clipped to ``[0, t]``.
    margin_bits : float
        Significant bits of the decision margin (top-1 minus top-2 logit of
        the unperturbed output) across the samples, clipped to ``[0, t]``:
        the quantity the label actually depends on; near 0 when noise at
        the reference's precision is as large as the margin.
    label_stability : float
        Fraction of the MCA samples whose top-1 label equals the
        unperturbed reference's label, in ``[0, 1]``.
    reference_label : int
        Top-1 label of the unperturbed (float32) reference.
    samples : int
        MCA samples drawn.
    t : int
        Virtual precision of the MCA runs.
    """

    label: str
    significant_bits: float
    margin_bits: float
    label_stability: float
    reference_label: int
    samples: int
    t: int

    def to_dict(self) -> dict:
        """``{"label": ..., "significant_bits": ..., ...}`` with plain Python types."""
        return asdict(self)


def _clean_bits(bits: np.ndarray, t: int) -> np.ndarray:
    # Identical samples give +inf (no observed error): at most t bits can be claimed.
    bits = np.where(np.isnan(bits), 0.0, bits)
    return np.clip(bits, 0.0, float(t))


def triage(
    reference: nn.Module,
    inputs: np.ndarray,
    *,
    samples: int = 16,
    t: int = 24,
    seed: int = 0,
    min_stability: float = 1.0,
    mode: str = "rr",
) -> list[Triage]:
    """Triage ``inputs`` by running ``reference`` under Monte Carlo Arithmetic.

    Parameters
    ----------
    reference : torch.nn.Module
        The full-precision model; left unchanged (MCA runs a float64 copy).
    inputs : ndarray, float32, (N, *input_shape)
        The divergent inputs (N >= 0), as the models see them.
    samples : int, optional
        MCA samples per input, >= 2 (default 16). The label is decided from
        this many samples: a flip probability p per sample goes unseen with
        probability ``(1 - p) ** samples``.
    t : int, optional
        Virtual precision in bits, 1..52 (default 24: float32's significand).
    seed : int, optional
        Seed of the MCA streams (>= 0, default 0); the result is a function
        of ``(reference, inputs, samples, t, seed)`` and does not depend on
        how inputs are batched.
    min_stability : float, optional
        Smallest label stability counted as stable, in ``(0, 1]`` (default
        1.0: every sample must keep the label).
    mode : {"rr", "pb", "full"}, optional
        MCA mode (default ``rr``, random rounding of every result).

    Returns
    -------
    list of Triage
        One per input, in order.

    Raises
    ------
    NotTriaged
        When MCA cannot reach the reference's arithmetic (:func:`triage_obstacle`), or
        when its plain pass over ``inputs`` called no function MCA perturbs (checked
        on that pass, before any sample is drawn).

    Examples
    --------
    >>> net = nn.Linear(4, 3)
    >>> [r.label for r in triage(net, np.ones((2, 4), np.float32), samples=4)]
    ['precision-induced', 'precision-induced']
    """
    if not isinstance(reference, nn.Module):
        raise DiverfuzzError(
            f"reference={type(reference).__name__}: triage needs a torch.nn.Module (MCA runs a float64 copy)"
        )
    if (obstacle := triage_obstacle(reference)) is not None:
        raise NotTriaged(obstacle)
    if not 0.0 < min_stability <= 1.0:
        raise DiverfuzzError(f"min_stability={min_stability!r} must be in (0, 1]")
    x = np.ascontiguousarray(inputs, dtype=np.float32)
    if x.ndim < 2:
        raise DiverfuzzError(f"inputs of shape {x.shape}: expected a batch (N, *input_shape)")
    if len(x) == 0:
        return []
    was_training = reference.training
    reference.eval()
    try:
        model, steps = _peel(reference)
        with torch.no_grad():
            inner = torch.from_numpy(x)
            for step in steps:  # outside the count: MCA perturbing the preprocessing alone triages nothing
                inner = step(inner)
            out, calls = count_arithmetic(model, inner)
            unperturbed = out.detach().float().cpu().numpy().astype(np.float64)
        if calls == 0:
            raise NotTriaged(f"MCA intercepted none of the reference's arithmetic: it {_what(model)}")
        runs = mca_samples(reference, x, samples, t, seed, mode=mode).cpu().numpy()  # (n, N, classes)
    finally:
        reference.train(was_training)
    labels = unperturbed.argmax(axis=1)
    stability = (runs.argmax(axis=2) == labels[None, :]).mean(axis=0)
    logit_bits = _clean_bits(significant_bits(runs), t)  # (N, classes)
    order = np.argsort(unperturbed, axis=1)
    top1, top2 = order[:, -1], order[:, -2] if unperturbed.shape[1] > 1 else order[:, -1]
    rows = np.arange(len(x))
    margins = runs[:, rows, top1] - (runs[:, rows, top2] if unperturbed.shape[1] > 1 else 0.0)
    margin_bits = _clean_bits(significant_bits(margins), t)  # (N,)
    out = []
    for i in range(len(x)):
        stable = bool(stability[i] >= min_stability)
        out.append(
            Triage(
                label=PRECISION_INDUCED if stable else REFERENCE_UNSTABLE,
                significant_bits=float(logit_bits[i].mean()),
                margin_bits=float(margin_bits[i]),
                label_stability=float(stability[i]),
                reference_label=int(labels[i]),
                samples=int(samples),
                t=int(t),
            )
        )
    return out


def divergence_inputs(seeds: np.ndarray, divergences: Sequence[dict]) -> np.ndarray:
    """Rebuild each divergence's input: its chain applied to ``seeds[seed_index]``.

    Parameters
    ----------
    seeds : ndarray, float32, (M, *input_shape)
        The campaign's seed data (the array ``seed_index`` points into).
    divergences : sequence of dict
        Rows of ``report.json``'s ``divergences`` (``seed_index``, ``chain``).

    Returns
    -------
    ndarray, float32, (len(divergences), *input_shape)
    """
    seeds = np.asarray(seeds)
    rows = []
    for k, d in enumerate(divergences):
        index = d.get("seed_index") if isinstance(d, dict) else None
        if not isinstance(index, int) or not 0 <= index < len(seeds):
            raise DiverfuzzError(
                f"divergences[{k}]['seed_index']={index!r}: expected an index into the {len(seeds)} seeds"
            )
        rows.append(Chain.from_list(d["chain"]).apply(np.asarray(seeds[index], dtype=np.float32)))
    if not rows:
        return np.zeros((0, *seeds.shape[1:]), dtype=np.float32)
    return np.stack(rows).astype(np.float32, copy=False)


def triage_divergences(reference: nn.Module, seeds: np.ndarray, divergences: Sequence[dict], **kw) -> list[dict]:
    """Triage a campaign's divergences; returns one :meth:`Triage.to_dict` per divergence, in order.

    Each input is rebuilt as ``Chain.from_list(d["chain"]).apply(seeds[d["seed_index"]])``
    (the recorded chain, not the shrunk one: it is the input the campaign found).
    Keyword arguments go to :func:`triage` (``samples``, ``t``, ``seed``, ...).

    Examples
    --------
    >>> rows = triage_divergences(model, workload.x, report["divergences"])  # doctest: +SKIP
    >>> for d, tr in zip(report["divergences"], rows):  # doctest: +SKIP
    ...     d["triage"] = tr
    """
    return [r.to_dict() for r in triage(reference, divergence_inputs(seeds, divergences), **kw)]


__all__ = [
    "LABELS", "NOT_TRIAGED", "NotTriaged", "PRECISION_INDUCED", "REFERENCE_UNSTABLE", "Triage", "divergence_inputs",
    "not_triaged", "triage", "triage_divergences", "triage_obstacle",
]
