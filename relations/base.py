"""Core types of the relations package: parameter specs, relations, chains.

A *relation* is a pure, deterministic transformation of a channel-first
float32 image ``(C, H, W)`` with values in ``[0, 1]`` that is expected to
preserve the label (a metamorphic relation, as in DeepTest and DiverGet).
A :class:`Chain` is plain data (relation names and numbers), so it can be
stored as JSON, replayed, shrunk and shown without the code that found it.

The registry order is: photometric (brightness, contrast, gamma,
gaussian_blur), noise (gaussian_noise, salt_pepper), geometric (rotation,
translation, zoom, shear), occlusion.
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
]

KINDS = frozenset({"image", "spectral", "signal"})


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
    """

    name: str
    kinds: frozenset[str]
    params: Mapping[str, ParamSpec] = field(hash=False)
    func: Callable[..., np.ndarray] = field(repr=False)
    identity_params: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", frozenset(self.kinds))
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
            Image ``(C, H, W)``, floating, values in ``[0, 1]``.
        **params
            All parameters of the relation, each within its range.

        Returns
        -------
        np.ndarray
            New float32 array of the same shape, clipped to ``[0, 1]``.
            Exactly equal to ``x`` when the params are the identity.
        """
        x32 = check_image(x)
        values = self.validate(params)
        if self.is_identity(values):
            return x32.copy()
        out = np.asarray(self.func(x32, **values))
        if out.shape != x32.shape:
            raise RelationError(
                f"relation {self.name!r} returned shape {out.shape} for input {x32.shape}"
            )
        return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def _build_registry() -> Mapping[str, Relation]:
    # Family modules import ParamSpec/Relation from this (partially
    # initialised) module, so the import must happen after they are defined.
    from . import geometric, noise, occlusion, photometric

    table: dict[str, Relation] = {}
    for module in (photometric, noise, geometric, occlusion):
        for relation in module.RELATIONS:
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
        """Apply every step in order; returns a new float32 array."""
        out = check_image(x).copy()
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


def apply_batch(chains: Sequence[Chain], x: np.ndarray) -> np.ndarray:
    """Apply each chain to the same seed ``x``.

    Parameters
    ----------
    chains : sequence of Chain
        ``N`` chains (may be empty).
    x : np.ndarray
        Seed image ``(C, H, W)``, values in ``[0, 1]``.

    Returns
    -------
    np.ndarray
        ``(N, C, H, W)`` float32, identical to stacking ``c.apply(x)``.
    """
    x32 = check_image(x)
    out = np.empty((len(chains),) + x32.shape, dtype=np.float32)
    for i, chain in enumerate(chains):
        out[i] = chain.apply(x32)
    return out
