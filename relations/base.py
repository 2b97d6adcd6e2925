"""Core types of the relations package: parameter specs, relations, chains.

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

import json
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

__all__ = [
    "RelationError",
    "ParamSpec",
    "Relation",
    "REGISTRY",
    "get_relation",
    "Step",
    "Chain",
    "apply_batch",
    "check_image",
    "check_input",
    "infer_kind",
    "names_for_kind",
    "KINDS",
]

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


def names_for_kind(kind: str, *, channels: int | None = None) -> tuple[str, ...]:
    """Names of the relations that support ``kind``, in registry order.

    Parameters
    ----------
    kind : str
        ``"image"``, ``"spectral"`` or ``"signal"``.
    channels : int, optional
        Channel count ``C`` of the inputs. Relations restricted to some
        channel counts (``channel_shift``: RGB only) are included only when
        they accept ``channels``. Default None: they are left out, so every
        name returned works on every input of ``kind``.

    Raises
    ------
    RelationError
        If ``kind`` is not one of ``"image"``, ``"spectral"``, ``"signal"``.

    Examples
    --------
    >>> names_for_kind("signal")[:2]
    ('jitter', 'scaling')
    >>> "channel_shift" in names_for_kind("image"), "channel_shift" in names_for_kind("image", channels=3)
    (False, True)
    """
    if kind not in KINDS:
        raise RelationError(f"kind={kind!r} is unknown; accepted kinds: image, spectral, signal")
    return tuple(
        name
        for name, rel in REGISTRY.items()
        if kind in rel.kinds
        and (rel.channels is None if channels is None else rel.accepts_channels(channels))
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


def _build_registry() -> Mapping[str, Relation]:
    # Family modules import ParamSpec/Relation from this (partially
    # initialised) module, so the import must happen after they are defined.
    from . import corruptions, filters, geometric, noise, occlusion, photometric, signal, spectral

    groups = (
        photometric.RELATIONS,
        noise.RELATIONS,
        geometric.RELATIONS,
        occlusion.RELATIONS,
        filters.RELATIONS,
        noise.SENSOR_RELATIONS,
        corruptions.RELATIONS,
        spectral.RELATIONS,
        signal.RELATIONS,
    )
    table: dict[str, Relation] = {}
    for group in groups:
        for relation in group:
            if relation.name in table:
                raise RelationError(f"duplicate relation name {relation.name!r}")
            table[relation.name] = relation
    return MappingProxyType(table)


REGISTRY: Mapping[str, Relation] = _build_registry()
"""Read-only mapping ``name -> Relation`` in the documented registry order."""


def get_relation(name: str) -> Relation:
    """Look a relation up by name.

    Raises
    ------
    RelationError
        If ``name`` is unknown; the message lists the known names.
    """
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise RelationError(
            f"relation={name!r} is unknown; known relations: {', '.join(REGISTRY)}"
        ) from None


@dataclass(frozen=True)
class Step:
    """One relation with concrete parameter values (plain data).

    Parameters
    ----------
    relation : str
        Registry name.
    params : Mapping[str, float | int]
        All parameters of the relation, validated and stored read-only as
        plain Python numbers (so they round-trip through JSON exactly).
    """

    relation: str
    params: Mapping[str, float | int]

    def __post_init__(self) -> None:
        rel = get_relation(self.relation)
        if not isinstance(self.params, Mapping):
            raise RelationError(
                f"params={self.params!r}: expected a mapping of param name to number"
            )
        object.__setattr__(self, "params", MappingProxyType(rel.validate(self.params)))

    def __hash__(self) -> int:
        return hash((self.relation, tuple(self.params.items())))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Step):
            return NotImplemented
        return self.relation == other.relation and dict(self.params) == dict(other.params)

    def __repr__(self) -> str:
        return f"Step({self.relation!r}, {dict(self.params)!r})"

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Apply this step to ``x`` (see :meth:`Relation.apply`)."""
        return get_relation(self.relation).apply(x, **self.params)

    def to_dict(self) -> dict:
        """``{"relation": name, "params": {...}}`` with plain Python numbers."""
        return {"relation": self.relation, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, d: Mapping) -> Step:
        """Build a step from :meth:`to_dict` output, validating names and ranges."""
        if not isinstance(d, Mapping) or set(d) != {"relation", "params"}:
            raise RelationError(
                f"step={d!r}: expected a dict with exactly the keys 'relation' and 'params'"
            )
        return cls(d["relation"], d["params"])


@dataclass(frozen=True)
class Chain:
    """An ordered sequence of steps, applied left to right.

    Parameters
    ----------
    steps : tuple of Step
        May be empty (the chain then returns a copy of its input).

    Examples
    --------
    >>> import numpy as np
    >>> c = Chain((Step("brightness", {"delta": 0.1}),))
    >>> Chain.from_json(c.to_json()) == c
    True
    >>> c.apply(np.zeros((1, 8, 8), np.float32)).max()
    np.float32(0.1)
    """

    steps: tuple[Step, ...] = ()

    def __post_init__(self) -> None:
        steps = tuple(self.steps)
        for s in steps:
            if not isinstance(s, Step):
                raise RelationError(f"steps contains {s!r}: expected Step instances")
        object.__setattr__(self, "steps", steps)

    def __len__(self) -> int:
        return len(self.steps)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Apply every step in order; returns a new float32 array.

        ``x`` is a ``(C, H, W)`` image or spectral cube or a ``(C, T)``
        signal; every step checks that its relation supports that kind.
        """
        out = check_input(x).copy()
        for s in self.steps:
            out = s.apply(out)
        return out

    def to_list(self) -> list[dict]:
        """``[{"relation": ..., "params": {...}}, ...]``."""
        return [s.to_dict() for s in self.steps]

    @classmethod
    def from_list(cls, items: Sequence[Mapping]) -> Chain:
        """Inverse of :meth:`to_list`; validates every step."""
        if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
            raise RelationError(f"chain={items!r}: expected a list of step dicts")
        return cls(tuple(Step.from_dict(d) for d in items))

    def to_json(self) -> str:
        """Canonical JSON text (``json.dumps(self.to_list(), sort_keys=True)``)."""
        return json.dumps(self.to_list(), sort_keys=True)

    @classmethod
    def from_json(cls, s: str) -> Chain:
        """Inverse of :meth:`to_json`."""
        try:
            items = json.loads(s)
        except (TypeError, json.JSONDecodeError) as exc:
            raise RelationError(f"chain JSON could not be parsed: {exc}") from None
        return cls.from_list(items)


_BATCH_MAX_SIZE = 16384
"""Largest input (elements) for which ``batch_func`` groups rows: on bigger
inputs (e.g. 100-band cubes) the gathered copies cost more than the Python
overhead they save (measured with ``bench/relations.py``)."""


def apply_batch(chains: Sequence[Chain], x: np.ndarray) -> np.ndarray:
    """Apply each chain to the same seed ``x``, the whole population at once.

    Parameters
    ----------
    chains : sequence of Chain
        ``N`` chains (may be empty).
    x : np.ndarray
        Seed: ``(C, H, W)`` image or spectral cube, or ``(C, T)`` signal,
        values in ``[0, 1]``.

    Returns
    -------
    np.ndarray
        ``(N,) + x.shape`` float32, identical (``np.array_equal``) to
        stacking ``c.apply(x)``.

    Notes
    -----
    The chains advance in lock step: at step ``k`` the rows whose ``k``-th
    step uses the same relation form a group. The seed is validated once
    (every relation output is already float32 in ``[0, 1]``), identity
    steps are skipped, and relations with a ``batch_func`` (pointwise ones
    such as ``brightness``, ``contrast``, ``vignette``, ``channel_shift``)
    transform the whole group with one NumPy expression (for inputs of at
    most ``_BATCH_MAX_SIZE`` elements). ``batch_func`` is
    written to perform the same floating-point operations as ``func``, so
    results are bit-for-bit those of :meth:`Chain.apply`.
    """
    x32 = check_input(x)
    out = np.empty((len(chains),) + x32.shape, dtype=np.float32)
    out[...] = x32
    plans = []
    for chain in chains:
        if not isinstance(chain, Chain):
            raise RelationError(f"chains contains {chain!r}: expected Chain instances")
        plans.append([(get_relation(s.relation), s.params) for s in chain.steps])
    depth = max((len(p) for p in plans), default=0)
    checked: set[str] = set()
    for k in range(depth):
        groups: dict[str, list[int]] = {}
        for i, plan in enumerate(plans):
            if k < len(plan) and not plan[k][0].is_identity(plan[k][1]):
                groups.setdefault(plan[k][0].name, []).append(i)
        for name, rows in groups.items():
            rel = REGISTRY[name]
            if name not in checked:  # kind and channel count, with the message of Relation.apply
                rel.check(x32)
                checked.add(name)
            params = [dict(plans[i][k][1]) for i in rows]
            if rel.batch_func is not None and len(rows) > 1 and x32.size <= _BATCH_MAX_SIZE:
                idx = np.asarray(rows)
                out[idx] = rel._finish(rel.batch_func(out[idx], params), out[idx].shape)
            else:
                for i, p in zip(rows, params):
                    out[i] = rel._finish(rel.func(out[i].copy(), **p), x32.shape)
    return out
