"""Core types of the relations package: kinds, input checks, parameter specs, relations.

A *relation* is a pure, deterministic transformation of a channel-first
float32 array with values in ``[0, 1]`` that is expected to preserve the
label (a metamorphic relation, as in DeepTest and DiverGet). Inputs come in
three *kinds*: ``"image"`` and ``"spectral"`` arrays ``(C, H, W)`` (few
colour channels, or many spectral bands) and ``"signal"`` arrays ``(C, T)``
(multi-channel time series); each relation declares the kinds it supports.
A :class:`Chain` is plain data (relation names and numbers), so it can be
stored as JSON, replayed, shrunk and shown without the code that found it.

The registry order is: photometric (brightness, contrast, gamma,
gaussian_blur), noise (gaussian_noise, salt_pepper), geometric (rotation,
translation, zoom, shear), occlusion (the original eleven, whose names,
parameters and ranges never change because recorded campaigns replay them),
then filters (motion_blur, box_blur, sharpen, pixelate, jpeg), sensor noise
(speckle_noise, poisson_noise), corruptions (fog, vignette, clahe,
channel_shift, elastic, perspective), spectral (band_loss, ...) and signal
(jitter, ...).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

KINDS = frozenset({"image", "spectral", "signal"})
"""The input kinds: ``"image"`` and ``"spectral"`` are ``(C, H, W)``, ``"signal"`` is ``(C, T)``."""

_NDIM = {"image": 3, "spectral": 3, "signal": 2}
_LAYOUT = {3: "(C, H, W)", 2: "(C, T)"}


class RelationError(ValueError):
    """Bad relation name, parameter value, chain record or input array."""


def check_image(x: np.ndarray, *, name: str = "x") -> np.ndarray:
    """Validate a channel-first image and return it as float32.

    Parameters
    ----------
    x : np.ndarray
        Array of shape ``(C, H, W)``, any floating dtype, finite values in
        ``[0, 1]``.
    name : str, optional
        Name used in error messages. Default ``"x"``.

    Returns
    -------
    np.ndarray
        ``x`` as float32 (a copy only if the dtype differs).

    Raises
    ------
    RelationError
        If ``x`` is not a 3-D floating array with finite values in [0, 1].
    """
    if not isinstance(x, np.ndarray):
        raise RelationError(
            f"{name} must be a numpy array of shape (C, H, W), got {type(x).__name__}; "
            "convert it with np.asarray(..., dtype=np.float32)"
        )
    if x.ndim != 3:
        raise RelationError(
            f"{name}.ndim={x.ndim} (shape {x.shape}): expected 3 dimensions (C, H, W), "
            "channel first; add a channel axis with x[None] for a single-channel image"
        )
    if not np.issubdtype(x.dtype, np.floating):
        raise RelationError(
            f"{name}.dtype={x.dtype}: expected a floating dtype with values in [0, 1]; "
            "for 8-bit images use x.astype(np.float32) / 255"
        )
    if x.size == 0:
        raise RelationError(f"{name}.shape={x.shape}: expected a non-empty image")
    x32 = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x32)):
        raise RelationError(f"{name} contains NaN or inf values; expected finite values in [0, 1]")
    lo, hi = float(x32.min()), float(x32.max())
    if lo < 0.0 or hi > 1.0:
        raise RelationError(
            f"{name} has values in [{lo}, {hi}]: expected values in [0, 1]; "
            "rescale the input or use np.clip(x, 0, 1)"
        )
    return x32


def check_input(
    x: np.ndarray, *, kinds: frozenset[str] | None = None, name: str = "x", who: str = ""
) -> np.ndarray:
    """Validate an image, spectral cube or signal and return it as float32.

    Parameters
    ----------
    x : np.ndarray
        ``(C, H, W)`` (kinds ``"image"``, ``"spectral"``) or ``(C, T)``
        (kind ``"signal"``), any floating dtype, finite values in ``[0, 1]``.
    kinds : frozenset of str, optional
        Kinds the caller supports; the number of dimensions must match one
        of them. Default: any kind (2 or 3 dimensions).
    name : str, optional
        Name used in error messages. Default ``"x"``.
    who : str, optional
        Caller named in error messages, e.g. ``"relation 'jitter'"``.

    Returns
    -------
    np.ndarray
        ``x`` as float32 (a copy only if the dtype differs).

    Raises
    ------
    RelationError
        If ``x`` has the wrong number of dimensions for ``kinds``, a
        non-floating dtype, or values that are not finite in [0, 1].

    Examples
    --------
    >>> check_input(np.zeros((6, 128), np.float32)).shape
    (6, 128)
    """
    kinds = KINDS if kinds is None else frozenset(kinds)
    ndims = sorted({_NDIM[k] for k in kinds}, reverse=True)
    if isinstance(x, np.ndarray) and x.ndim in (2, 3) and x.ndim not in ndims:
        layouts = " or ".join(_LAYOUT[d] for d in ndims)
        raise RelationError(
            f"{name}.ndim={x.ndim} (shape {x.shape}): {who or 'this call'} supports kinds "
            f"{', '.join(sorted(kinds))}, which need {layouts} arrays; "
            f"pick a relation from names_for_kind({infer_kind(x.shape)!r})"
        )
    if ndims == [3]:
        return check_image(x, name=name)
    if not isinstance(x, np.ndarray):
        raise RelationError(
            f"{name} must be a numpy array of shape (C, H, W) or (C, T), got {type(x).__name__}; "
            "convert it with np.asarray(..., dtype=np.float32)"
        )
    if x.ndim == 3:
        return check_image(x, name=name)
    if x.ndim != 2:
        raise RelationError(
            f"{name}.ndim={x.ndim} (shape {x.shape}): expected (C, H, W) images and spectral "
            "cubes or (C, T) signals, channel first; add a channel axis with x[None]"
        )
    # A (C, T) signal: reuse the 3-D checks on a (C, 1, T) view.
    check_image(x[:, None, :], name=name)
    return x.astype(np.float32, copy=False)


def infer_kind(shape: Sequence[int] | np.ndarray) -> str:
    """Guess the input kind from an array shape (or an array).

    Parameters
    ----------
    shape : tuple of int or np.ndarray
        A channel-first shape without the batch axis.

    Returns
    -------
    str
        ``"signal"`` for 2-D ``(C, T)``; for 3-D ``(C, H, W)``: ``"image"``
        when ``C`` is 1, 3 or 4 (grey, RGB, RGBA), ``"spectral"`` when
        ``C >= 8`` (multi- and hyperspectral bands), otherwise ``"image"``.

    Raises
    ------
    RelationError
        For shapes with other than 2 or 3 dimensions.

    Examples
    --------
    >>> infer_kind((1, 8, 8)), infer_kind((100, 32, 32)), infer_kind((6, 128))
    ('image', 'spectral', 'signal')
    """
    if isinstance(shape, np.ndarray):
        shape = shape.shape
    shape = tuple(int(d) for d in shape)
    if len(shape) == 2:
        return "signal"
    if len(shape) == 3:
        return "spectral" if shape[0] >= 8 else "image"
    raise RelationError(
        f"shape={shape}: expected (C, H, W) for images and spectral cubes or (C, T) for "
        "signals (without the batch axis)"
    )


@dataclass(frozen=True)
class ParamSpec:
    """Range and identity value of one relation parameter.

    Parameters
    ----------
    low, high : float
        Inclusive bounds, ``low <= high``. Integral when ``integer``.
    identity : float
        Value (within the bounds) for which the parameter has no effect.
    integer : bool, optional
        Whether the parameter takes integer values (e.g. a noise seed).
        Default False.
    doc : str, optional
        One-line description used in documentation. Default ``""``.
    """

    low: float
    high: float
    identity: float
    integer: bool = False
    doc: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for attr in ("low", "high", "identity"):
            value = getattr(self, attr)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise RelationError(f"ParamSpec {attr}={value!r}: expected a finite real number")
            if self.integer and float(value) != int(value):
                raise RelationError(f"ParamSpec {attr}={value!r}: integer params need integer bounds")
            object.__setattr__(self, attr, int(value) if self.integer else float(value))
        if not self.low <= self.identity <= self.high:
            raise RelationError(
                f"ParamSpec low={self.low}, identity={self.identity}, high={self.high}: "
                "expected low <= identity <= high"
            )

    def denormalize(self, u: float) -> float | int:
        """Map ``u`` in ``[0, 1]`` to ``low + u * (high - low)``.

        Integer parameters are rounded to the nearest integer.
        """
        u = float(u)
        if not 0.0 <= u <= 1.0:
            raise RelationError(f"u={u}: expected a value in [0, 1]")
        value = self.low + u * (self.high - self.low)
        if self.integer:
            return int(min(max(round(value), self.low), self.high))
        return float(min(max(value, self.low), self.high))

    def normalize(self, v: float | int) -> float:
        """Inverse of :meth:`denormalize`: map a value in range to ``[0, 1]``."""
        v = float(v)
        if self.high == self.low:
            return 0.0
        return float(min(max((v - self.low) / (self.high - self.low), 0.0), 1.0))

    def coerce(self, name: str, value: object) -> float | int:
        """Validate ``value`` and return it as a plain Python float or int.

        Raises
        ------
        RelationError
            If the value is not a number, not integral for an integer
            parameter, or outside ``[low, high]``.
        """
        if type(value) is (int if self.integer else float) and self.low <= value <= self.high:
            return value  # a plain Python number of the right kind, in range: the common case
        rng = f"[{self.low}, {self.high}]"
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise RelationError(f"{name}={value!r}: expected a number in {rng}")
        fvalue = float(value)
        if not math.isfinite(fvalue):
            raise RelationError(f"{name}={value!r}: expected a finite number in {rng}")
        if self.integer:
            if fvalue != int(fvalue):
                raise RelationError(f"{name}={value!r}: expected an integer in {rng}; round it")
            out: float | int = int(fvalue)
        else:
            out = fvalue
        if not self.low <= out <= self.high:
            raise RelationError(
                f"{name}={value!r} is out of range: accepted range is {rng}; "
                f"use a value in {rng} (identity {self.identity})"
            )
        return out


@dataclass(frozen=True)
class Relation:
    """A named, parameterised, label-preserving transformation.

    Parameters
    ----------
    name : str
        Lowercase registry name, e.g. ``"rotation"``.
    kinds : frozenset of str
        Input kinds it suits, a subset of ``{"image", "spectral", "signal"}``.
    params : Mapping[str, ParamSpec]
        Parameter specs, in the order ``func`` documents them. Stored as a
        read-only mapping.
    func : callable
        ``func(x, **params) -> np.ndarray`` on a validated float32 array.
    identity_params : tuple of str, optional
        Parameters whose identity values alone make the relation a no-op
        (e.g. ``("size",)`` for occlusion). Default ``()``: all parameters.
    batch_func : callable, optional
        ``batch_func(xs, params_list) -> np.ndarray``: the same computation
        on a stack ``xs`` of ``n`` inputs with one params dict per input,
        bit-for-bit equal to ``func`` row by row (unclipped, like ``func``).
        Used by :func:`apply_batch`. Default None (rows one at a time).
    channels : tuple of int, optional
        Channel counts the relation accepts (e.g. ``(3,)`` for RGB-only
        colour shifts). Default None: any.
    """

    name: str
    kinds: frozenset[str]
    params: Mapping[str, ParamSpec] = field(hash=False)
    func: Callable[..., np.ndarray] = field(repr=False)
    identity_params: tuple[str, ...] = ()
    batch_func: Callable[..., np.ndarray] | None = field(default=None, repr=False, compare=False)
    channels: tuple[int, ...] | None = None

    @property
    def summary(self) -> str:
        """First line of the function's docstring (used in the doc table)."""
        doc = (self.func.__doc__ or "").strip()
        return doc.splitlines()[0].strip() if doc else ""

    def accepts_channels(self, c: int) -> bool:
        """Whether inputs with ``c`` channels are accepted."""
        return self.channels is None or c in self.channels

    def check(self, x: np.ndarray) -> np.ndarray:
        """Validate ``x`` for this relation (kind, channels, dtype, range)."""
        x32 = check_input(x, kinds=self.kinds, who=f"relation {self.name!r}")
        if not self.accepts_channels(x32.shape[0]):
            raise RelationError(
                f"x.shape[0]={x32.shape[0]}: relation {self.name!r} needs "
                f"C in {list(self.channels or ())} channels (shape {x32.shape}); "
                "leave it out of chains for other channel counts"
            )
        return x32

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", frozenset(self.kinds))
        if self.channels is not None:
            object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "identity_params", tuple(self.identity_params))
        if not self.kinds <= KINDS:
            raise RelationError(f"kinds={sorted(self.kinds)}: expected a subset of {sorted(KINDS)}")
        unknown = set(self.identity_params) - set(self.params)
        if unknown:
            raise RelationError(f"identity_params={sorted(unknown)} are not params of {self.name!r}")

    def identity(self) -> dict[str, float | int]:
        """Parameter values for which :meth:`apply` returns its input unchanged."""
        return {name: spec.identity for name, spec in self.params.items()}

    def validate(self, params: Mapping[str, object]) -> dict[str, float | int]:
        """Check names and ranges; return the params as plain Python numbers.

        Raises
        ------
        RelationError
            On unknown, missing or out-of-range parameters.
        """
        if len(params) == len(self.params) and all(k in params for k in self.params):
            return {k: spec.coerce(k, params[k]) for k, spec in self.params.items()}
        accepted = ", ".join(self.params)
        unknown = [k for k in params if k not in self.params]
        if unknown:
            raise RelationError(
                f"relation {self.name!r} got unknown param(s) {unknown}; accepted params: {accepted}"
            )
        missing = [k for k in self.params if k not in params]
        if missing:
            raise RelationError(
                f"relation {self.name!r} is missing param(s) {missing}; pass all of: {accepted} "
                f"(identity values: {self.identity()})"
            )
        return {k: spec.coerce(k, params[k]) for k, spec in self.params.items()}

    def is_identity(self, params: Mapping[str, float | int]) -> bool:
        """Whether validated ``params`` make this relation a no-op."""
        keys = self.identity_params or tuple(self.params)
        return all(params[k] == self.params[k].identity for k in keys)

    def from_unit(self, u: Sequence[float]) -> dict[str, float | int]:
        """Parameters from a vector in ``[0, 1]^k`` (one entry per param, in order)."""
        if len(u) != len(self.params):
            raise RelationError(
                f"len(u)={len(u)}: relation {self.name!r} has {len(self.params)} params "
                f"({', '.join(self.params)})"
            )
        return {k: spec.denormalize(v) for (k, spec), v in zip(self.params.items(), u)}

    def to_unit(self, params: Mapping[str, float | int]) -> list[float]:
        """Inverse of :meth:`from_unit`."""
        values = self.validate(params)
        return [spec.normalize(values[k]) for k, spec in self.params.items()]

    def apply(self, x: np.ndarray, **params: float | int) -> np.ndarray:
        """Apply the relation to ``x``.

        Parameters
        ----------
        x : np.ndarray
            ``(C, H, W)`` image or spectral cube, or ``(C, T)`` signal, as
            the relation's kinds allow; floating, values in ``[0, 1]``.
        **params
            All parameters of the relation, each within its range.

        Returns
        -------
        np.ndarray
            New float32 array of the same shape, clipped to ``[0, 1]``.
            Exactly equal to ``x`` when the params are the identity.
        """
        x32 = self.check(x)
        values = self.validate(params)
        if self.is_identity(values):
            return x32.copy()
        return self._finish(self.func(x32, **values), x32.shape)

    def _finish(self, out: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        out = np.asarray(out)
        if out.shape != shape:
            raise RelationError(
                f"relation {self.name!r} returned shape {out.shape} for input {shape}"
            )
        return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)
