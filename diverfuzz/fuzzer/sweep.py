"""Precision sweep: how low can the precision go before the model changes its predictions?

For one reference model and one data set, :func:`run_sweep` builds the
emulated counterpart of every format of a grid (VPREC-style minifloats
``float:eXmY``, fixed point ``fixed:W.F``, integers ``intN``), for weights,
activations or both, and measures for each

``accuracy``
    top-1 accuracy of the counterpart on the data (None without labels);
``agreement``
    fraction of the inputs on which its top-1 label equals the reference's;
``significant_bits``
    mean over the inputs of ``-log2(||c - r||_inf / ||r||_inf)``, the
    norm-wise relative error of the counterpart's logits ``c`` against the
    float32 reference's ``r``, clipped to ``[0, 24]`` (24: identical to
    float32; normalising by the row's largest logit keeps logits near zero
    from dominating);
``fuzz_success_rate``
    the fraction of seeds on which a short fuzz campaign finds a divergence
    (:func:`diverfuzz.fuzzer.campaign.driver.run_campaign` on the pair; None when no seed is
    eligible because the models already disagree on every correct input).

It then recommends the smallest format (by total bits) whose agreement is
at least a threshold on clean inputs *and* on fuzzed ones (``1 -
fuzz_success_rate``), and lowers one layer at a time to a low format to show
which layer's precision causes most divergences (where mixed precision
should keep more bits).

Notes
-----
The exponent x mantissa grid follows VPREC (Chatelain et al., "Automatic
exploration of reduced floating-point representations in iterative
methods", Euro-Par 2019) as used on DeepGOPlus by Kiar et al. ("Numerical
uncertainty in analytical pipelines lead to impactful variability in brain
networks" / the DeepGOPlus precision study); per-layer sensitivity is the
usual first step of mixed-precision search (e.g. HAWQ, Dong et al., ICCV
2019).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from torch import nn

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.fuzzer.campaign.driver import run_campaign
from diverfuzz.fuzzer.campaign.workload import (
    Workload,
    load_reference,
    load_seeds,
    search_relations,
)
from diverfuzz.models.inference import batched_logits
from diverfuzz.models.layers import leaf_layers
from diverfuzz.models.pair import ModelPair, torch_threads
from diverfuzz.models.precision.build import build_counterpart
from diverfuzz.models.precision.spec import parse_precision

SWEEP_JSON = "sweep.json"
LAYERS_JSON = "layers.json"
RECOMMENDATION_JSON = "recommendation.json"
AGREEMENT_PNG = "agreement_vs_mantissa.png"
HEATMAP_PNG = "heatmap_exp_man.png"

#: Row keys of ``sweep.json``, in order.
ROW_KEYS = ("format", "target", "accuracy", "agreement", "significant_bits", "fuzz_success_rate")

EXP_BITS = (4, 5, 8)
MAN_BITS = (1, 2, 3, 4, 7, 10, 23)
FIXED = ((8, 4), (12, 6), (16, 8), (16, 10), (24, 14))
INT_BITS = (2, 4, 8)
TARGETS = ("both", "weights", "activations")


@dataclass(frozen=True)
class Format:
    """One point of the grid: a precision spec for one target, and its size in bits."""

    spec: str
    target: str
    bits: int
    exp_bits: int | None = None
    man_bits: int | None = None

    @property
    def text(self) -> str:
        """The spec :func:`diverfuzz.models.precision.build_counterpart` gets (``float:e5m2:weights``)."""
        return self.spec if self.target == "both" else f"{self.spec}:{self.target}"


def default_formats(*, quick: bool = False) -> list[Format]:
    """The grid: minifloats, fixed point (target both) and integers (all targets).

    Minifloats cover exponent bits :data:`EXP_BITS` x mantissa bits
    :data:`MAN_BITS` for target ``both``, and exponent bits 8 for
    ``weights`` and ``activations`` (49 formats in all, about 3 minutes on
    one core with the default fuzz campaigns: about 3.2 s per format). ``quick`` keeps six (e8
    mantissas 1, 3, 7, 23; e5m2; int4, all target both), for tests.
    """
    out: list[Format] = []
    if quick:
        for m in (1, 3, 7, 23):
            out.append(Format(f"float:e8m{m}", "both", 9 + m, 8, m))
        out.append(Format("float:e5m2", "both", 8, 5, 2))
        out.append(Format("int4", "both", 4))
        return out
    for target in TARGETS:
        for e in EXP_BITS if target == "both" else (8,):
            for m in MAN_BITS:
                out.append(Format(f"float:e{e}m{m}", target, 1 + e + m, e, m))
    for w, f in FIXED:
        out.append(Format(f"fixed:{w}.{f}", "both", w))
    for target in TARGETS:
        for b in INT_BITS:
            out.append(Format(f"int{b}", target, b))
    return out


def relative_bits(candidate: np.ndarray, reference: np.ndarray, *, max_bits: float = 24.0) -> np.ndarray:
    """Per-row significant bits of ``candidate`` against ``reference``: ``-log2(||c-r||_inf / ||r||_inf)``.

    Parameters
    ----------
    candidate, reference : ndarray, (N, classes)
    max_bits : float
        Upper clip (default 24, float32's significand); the lower clip is 0.

    Returns
    -------
    ndarray, float64, (N,)
    """
    err = np.abs(candidate - reference).max(axis=1)
    scale = np.abs(reference).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        bits = -np.log2(err / scale)
    bits = np.where(np.isfinite(bits), bits, np.where(err == 0, max_bits, 0.0))
    return np.clip(bits, 0.0, max_bits)


@dataclass
class SweepData:
    """What a sweep runs on: the reference, its data and how a campaign describes them."""

    reference: nn.Module
    x: np.ndarray
    y: np.ndarray | None
    calibration: np.ndarray
    description: dict


def load_sweep_data(model: str | None = None, data: str | None = None, *, normalize: bool = False) -> SweepData:
    """The reference and data of ``diverfuzz sweep`` (bundled digits CNN and test split by default).

    Loaded exactly as a campaign loads them (:func:`diverfuzz.fuzzer.campaign.workload.load_seeds`
    and :func:`~diverfuzz.fuzzer.campaign.workload.load_reference`), calibration set included.
    """
    config = CampaignConfig(model=model, data=data, normalize=normalize)
    seeds = load_seeds(config)
    reference, model_description = load_reference(config, seeds)
    x, y, calibration = seeds.x, seeds.y, seeds.calibration
    description = {"data": seeds.description, "model": model_description}
    if not isinstance(reference, nn.Module):
        raise DiverfuzzError(f"--model={model!r} must return a torch.nn.Module to build emulated counterparts")
    reference.eval()
    return SweepData(reference, np.ascontiguousarray(x, dtype=np.float32), y, np.asarray(calibration, np.float32), description)


def _fuzz_rate(data: SweepData, counterpart: nn.Module, label: str, *, seeds: int, budget: int, rng_seed: int) -> float | None:
    config = CampaignConfig(seeds=seeds, budget=budget, rng_seed=rng_seed, candidate=label, population=10)
    kind, names = search_relations(config, data.x.shape[1:])
    pair = ModelPair(data.reference, counterpart, labels=("reference", label))
    workload = Workload(pair, data.x, data.y, {**data.description, "candidate": label}, kind, names)
    with tempfile.TemporaryDirectory(prefix="diverfuzz-sweep-") as tmp:
        try:
            report = run_campaign(config, tmp, workload=workload).report
        except DiverfuzzError as exc:
            if "no eligible seeds" in str(exc):
                return None
            raise
    return float(report["summary"]["success_rate"])


def _measure(data: SweepData, ref_logits: np.ndarray, counterpart: nn.Module) -> tuple[float | None, float, float]:
    logits = batched_logits(counterpart, data.x)
    labels = logits.argmax(axis=1)
    accuracy = None if data.y is None else float((labels == data.y).mean())
    agreement = float((labels == ref_logits.argmax(axis=1)).mean())
    bits = float(relative_bits(logits, ref_logits).mean())
    return accuracy, agreement, bits


def recommend(rows: Sequence[dict], bits: dict[tuple[str, str], int], threshold: float) -> dict:
    """The smallest format per target whose clean and fuzzed agreement are >= ``threshold``.

    Fuzzed agreement is ``1 - fuzz_success_rate`` (a row without one does not
    qualify). Ties in bits go to the higher clean agreement. Returns
    ``{"threshold", "recommended" (target both, or None), "by_target": {target: row or None}}``.
    """
    by_target: dict[str, dict | None] = {}
    for target in TARGETS:
        ok = [
            r for r in rows
            if r["target"] == target and r["agreement"] >= threshold
            and r["fuzz_success_rate"] is not None and 1.0 - r["fuzz_success_rate"] >= threshold
        ]
        ok.sort(key=lambda r: (bits[(r["format"], r["target"])], -r["agreement"], r["fuzz_success_rate"]))
        by_target[target] = {**ok[0], "bits": bits[(ok[0]["format"], ok[0]["target"])]} if ok else None
    return {"threshold": threshold, "recommended": by_target["both"], "by_target": by_target}


def layer_sensitivity(
    data: SweepData,
    ref_logits: np.ndarray,
    layer_format: str,
    *,
    fuzz_seeds: int,
    fuzz_budget: int,
    rng_seed: int,
    workdir: Path,
) -> list[dict]:
    """Lower one parameterised leaf layer at a time to ``layer_format`` (the others stay float32).

    Each layer's counterpart is a one-entry policy file ``{layer: layer_format}``
    written to ``workdir`` (so it can be rerun with ``--precision FILE.json``).
    Returns rows ``{"layer", "format", "agreement", "significant_bits",
    "fuzz_success_rate"}``, most sensitive (lowest agreement, then highest
    fuzz success) first.
    """
    layers = [name for name, _ in leaf_layers(data.reference) if name]
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in layers:
        policy = workdir / f"layer_{name.replace('.', '_')}.json"
        policy.write_text(json.dumps({name: layer_format}))
        counterpart = build_counterpart(str(policy), data.reference, data.calibration)
        _, agreement, bits = _measure(data, ref_logits, counterpart)
        rate = _fuzz_rate(data, counterpart, f"{name}={layer_format}", seeds=fuzz_seeds, budget=fuzz_budget, rng_seed=rng_seed)
        rows.append({"layer": name, "format": layer_format, "agreement": agreement, "significant_bits": bits, "fuzz_success_rate": rate})
    rows.sort(key=lambda r: (r["agreement"], -(r["fuzz_success_rate"] or 0.0)))
    return rows


def y_range(values: Sequence[float], *, low: float = 0.0, high: float = 1.0, min_span: float = 0.02) -> tuple[float, float]:
    """Y-axis limits that show where ``values`` differ, inside ``[low, high]``.

    The plotted rates often all sit between 0.97 and 1.0; on a fixed 0..1
    axis their lines coincide. The range is the values' span plus 10% on
    each side (at least ``min_span`` wide), clipped to ``[low, high]`` with
    a small margin so points on the bounds stay visible.
    """
    finite = [float(v) for v in values if v is not None and v == v]
    if not finite:
        return low - 0.02, high + 0.02
    lo, hi = min(finite), max(finite)
    pad = max((hi - lo) * 0.1, (min_span - (hi - lo)) / 2, 0.0)
    margin = 0.01 * (high - low)
    return max(lo - pad, low - margin), min(hi + pad, high + margin)


def plot_agreement(rows: Sequence[dict], formats: Sequence[Format], path: Path) -> None:
    """Agreement and accuracy versus mantissa bits, one line per (exponent bits, target)."""
    import matplotlib  # lazy: a heavy dependency only the plots need

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    series: dict[tuple[int, str], list[tuple[int, dict]]] = {}
    plotted: tuple[list[float], list[float]] = ([], [])
    for f, r in zip(formats, rows):
        if f.man_bits is not None:
            series.setdefault((f.exp_bits, f.target), []).append((f.man_bits, r))
    for (e, target), points in sorted(series.items()):
        points.sort(key=lambda p: p[0])
        m = [p[0] for p in points]
        style = {"both": "-", "weights": "--", "activations": ":"}[target]
        axes[0].plot(m, [p[1]["agreement"] for p in points], style, marker="o", label=f"e{e} {target}")
        plotted[0].extend(p[1]["agreement"] for p in points)
        if all(p[1]["accuracy"] is not None for p in points):
            axes[1].plot(m, [p[1]["accuracy"] for p in points], style, marker="o", label=f"e{e} {target}")
            plotted[1].extend(p[1]["accuracy"] for p in points)
    for ax, title, values in zip(axes, ("agreement with the float32 reference", "accuracy"), plotted):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("mantissa bits")
        ax.set_title(title)
        ax.set_ylim(*y_range(values))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_heatmap(rows: Sequence[dict], formats: Sequence[Format], path: Path) -> None:
    """Agreement over exponent x mantissa bits (target ``both``), values printed in the cells."""
    import matplotlib  # lazy: a heavy dependency only the plots need

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = {(f.exp_bits, f.man_bits): r["agreement"] for f, r in zip(formats, rows) if f.man_bits is not None and f.target == "both"}
    exps = sorted({e for e, _ in cells})
    mans = sorted({m for _, m in cells})
    grid = np.full((len(exps), len(mans)), np.nan)
    for (e, m), v in cells.items():
        grid[exps.index(e), mans.index(m)] = v
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * max(len(mans), 1), 1.2 + 0.6 * max(len(exps), 1)))
    image = ax.imshow(grid, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto", origin="lower")
    ax.set_xticks(range(len(mans)), [str(m) for m in mans])
    ax.set_yticks(range(len(exps)), [str(e) for e in exps])
    ax.set_xlabel("mantissa bits")
    ax.set_ylabel("exponent bits")
    ax.set_title("agreement (weights and activations)")
    for i in range(len(exps)):
        for j in range(len(mans)):
            if np.isfinite(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="black" if grid[i, j] > 0.6 else "white")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


@dataclass
class SweepResult:
    rows: list[dict]
    layers: list[dict]
    recommendation: dict
    out: Path


def run_sweep(
    out: str | Path,
    *,
    model: str | None = None,
    data: str | None = None,
    threshold: float = 0.99,
    fuzz_seeds: int = 10,
    fuzz_budget: int = 100,
    rng_seed: int = 0,
    quick: bool = False,
    formats: Sequence[Format] | None = None,
    layer_format: str = "float:e4m2",
    sweep_data: SweepData | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    normalize: bool = False,
) -> SweepResult:
    """Sweep the format grid and write ``sweep.json``, ``layers.json``, ``recommendation.json`` and two plots.

    Parameters
    ----------
    out : path-like
        Output folder (created).
    model, data : str or None
        ``FILE.py:FUNC`` and ``FILE.npz`` (default: the bundled digits CNN and
        its test split; static integer activations are calibrated on the
        training split, or on the first 512 inputs of ``data``).
    normalize : bool, optional
        Min-max scale ``data`` into [0, 1] instead of refusing values outside it.
    threshold : float
        Agreement in ``(0, 1]`` a recommended format keeps on clean and fuzzed inputs (default 0.99).
    fuzz_seeds, fuzz_budget : int
        Size of each format's fuzz campaign (>= 1; default 10 seeds x 100 queries).
    rng_seed : int
        Seed of every campaign (>= 0).
    quick : bool
        A handful of formats (see :func:`default_formats`), for tests.
    formats : sequence of Format, optional
        Overrides the grid.
    layer_format : str
        The low format layers are lowered to one at a time (default ``float:e4m2``).
    sweep_data : SweepData, optional
        Reference and data already loaded (overrides ``model`` / ``data``).
    progress : callable, optional
        ``progress(done, total, what)`` after each format and layer.

    Returns
    -------
    SweepResult
    """
    if not 0.0 < threshold <= 1.0:
        raise DiverfuzzError(f"--threshold={threshold!r} must be in (0, 1], e.g. 0.99")
    for name, value, low in (("fuzz-seeds", fuzz_seeds, 1), ("fuzz-budget", fuzz_budget, 1), ("rng-seed", rng_seed, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise DiverfuzzError(f"--{name}={value!r} must be an integer >= {low}")
    parse_precision(layer_format)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data_ = sweep_data or load_sweep_data(model, data, normalize=normalize)
    grid = list(formats) if formats is not None else default_formats(quick=quick)
    rows: list[dict] = []
    with torch_threads(1):
        ref_logits = batched_logits(data_.reference, data_.x)
        n_layers = sum(1 for name, _ in leaf_layers(data_.reference) if name)
        total = len(grid) + n_layers
        for k, f in enumerate(grid):
            counterpart = build_counterpart(f.text, data_.reference, data_.calibration)
            accuracy, agreement, bits = _measure(data_, ref_logits, counterpart)
            rate = _fuzz_rate(data_, counterpart, f.text, seeds=fuzz_seeds, budget=fuzz_budget, rng_seed=rng_seed)
            rows.append(dict(zip(ROW_KEYS, (f.spec, f.target, accuracy, agreement, bits, rate))))
            if progress:
                progress(k + 1, total, f.text)
        layers = layer_sensitivity(
            data_, ref_logits, layer_format, fuzz_seeds=fuzz_seeds, fuzz_budget=fuzz_budget, rng_seed=rng_seed,
            workdir=out / "layer_policies",
        )
        if progress:
            progress(total, total, "layers")
    bits_of = {(f.spec, f.target): f.bits for f in grid}
    recommendation = recommend(rows, bits_of, threshold)
    recommendation["layer_format"] = layer_format
    recommendation["most_sensitive_layer"] = layers[0]["layer"] if layers else None
    (out / SWEEP_JSON).write_text(json.dumps(rows, indent=2))
    (out / LAYERS_JSON).write_text(json.dumps(layers, indent=2))
    (out / RECOMMENDATION_JSON).write_text(json.dumps(recommendation, indent=2))
    plot_agreement(rows, grid, out / AGREEMENT_PNG)
    plot_heatmap(rows, grid, out / HEATMAP_PNG)
    return SweepResult(rows, layers, recommendation, out)


__all__ = [
    "Format",
    "SweepData",
    "SweepResult",
    "default_formats",
    "layer_sensitivity",
    "load_sweep_data",
    "recommend",
    "relative_bits",
    "run_sweep",
]
