"""The natural distortion model: which chains a camera, a sensor or a hand could produce.

A chain is *natural at severity S* (:func:`within`) when

1. every step lies within its relation's natural range at severity ``S``
   (:data:`~diverfuzz.relations.natural_ranges.NATURAL_RANGES`, each range in its own unit);
2. its geometric steps use each geometric relation at most once (one rotation, one shift,
   one zoom, ...: DeepHunter allows one affine transformation per seed lineage);
3. the value changes, measured against the seed moved by the chain's geometric steps alone
   (:func:`geometric_steps`), meet a pixel rule (the metric clauses of
   :class:`~diverfuzz.relations.validity.Validity`; ``psnr>=20`` by default).

Points 1 and 2 depend on the chain alone (:func:`within`); point 3 needs the images and is
checked where they are computed. :func:`natural_relation` narrows a relation's parameter
ranges to a severity, so a search over the narrowed relations stays inside the model by
construction, and uniform sampling over them samples the natural space uniformly.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterable, Sequence

import numpy as np

from .chain import Chain, Step
from .natural_ranges import CLASSES, NATURAL_RANGES, SEVERITIES, NaturalRange
from .relation import ParamSpec, Relation, RelationError
from .validity import Validity, batch_metrics, evaluate_batch

__all__ = [
    "CLASSES",
    "NATURAL_RANGES",
    "SEVERITIES",
    "NaturalRange",
    "chain_severity",
    "geometric_steps",
    "geometry",
    "judge",
    "natural_order",
    "natural_range",
    "natural_relation",
    "repeats_geometry",
    "step_severity",
    "within",
]


def natural_range(name: str) -> NaturalRange:
    """The natural range of relation ``name``.

    Raises
    ------
    RelationError
        If the relation has no natural range (a relation added without one).
    """
    try:
        return NATURAL_RANGES[name]
    except KeyError:
        raise RelationError(
            f"relation {name!r} has no natural range; add it to diverfuzz.relations.natural_ranges"
        ) from None


def _narrow(spec: ParamSpec, low: float, high: float) -> ParamSpec:
    low, high = max(low, spec.low), min(high, spec.high)
    if spec.integer:
        low, high = math.ceil(low), math.floor(high)
    return ParamSpec(low, high, spec.identity, spec.integer, spec.doc)


def natural_relation(relation: Relation, severity: int) -> Relation:
    """``relation`` with each graded parameter's range narrowed to its interval at ``severity``.

    Parameters
    ----------
    relation : Relation
        A registry relation.
    severity : int
        1-5.

    Returns
    -------
    Relation
        Same name and functions (its steps replay with the registry relation); ungraded
        parameters (seeds, positions, directions) keep their full range.
    """
    if severity not in SEVERITIES:
        raise RelationError(f"severity={severity!r}: expected an integer 1-5")
    table = natural_range(relation.name)
    params = {}
    for name, spec in relation.params.items():
        bounds = table.bounds(name, severity)
        params[name] = spec if bounds is None else _narrow(spec, *bounds)
    return dataclasses.replace(relation, params=params)


@functools.lru_cache(maxsize=65536)
def step_severity(step: Step) -> int | None:
    """The smallest severity whose ranges admit ``step``: 0 for a no-op step, None beyond severity 5.

    Memoised (steps are immutable values): a search judges the same steps over and over.
    """
    if step.is_identity:
        return 0
    table = natural_range(step.relation)
    for severity in SEVERITIES:
        if all(
            bounds is None or bounds[0] <= value <= bounds[1]
            for name, value in step.params.items()
            for bounds in (table.bounds(name, severity),)
        ):
            return severity
    return None


def chain_severity(chain: Chain) -> int | None:
    """The smallest severity whose ranges admit every step (0: no-op chain; None: beyond 5).

    Repeated geometric relations do not change it; :func:`within` checks them.
    """
    worst = 0
    for step in chain.steps:
        level = step_severity(step)
        if level is None:
            return None
        worst = max(worst, level)
    return worst


def is_geometric(name: str) -> bool:
    """Whether relation ``name`` moves content (class ``"geometric"``)."""
    return natural_range(name).klass == "geometric"


def repeats_geometry(chain: Chain) -> bool:
    """Whether a geometric relation occurs more than once among the chain's active steps."""
    seen = set()
    for step in chain.steps:
        if is_geometric(step.relation) and not step.is_identity:
            if step.relation in seen:
                return True
            seen.add(step.relation)
    return False


def within(chain: Chain, severity: int) -> bool:
    """Points 1 and 2 of the model: every step within ``severity``, no geometric relation twice."""
    level = chain_severity(chain)
    return level is not None and level <= severity and not repeats_geometry(chain)


def geometric_steps(chain: Chain) -> Chain:
    """The chain's geometric steps alone, in order: what moves the seed before value changes are judged."""
    return Chain(tuple(step for step in chain.steps if is_geometric(step.relation)))


def natural_order(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` with the geometric relations first (each group in its given order).

    A chain of the search space applies its relations in this order, so its geometric
    steps form a prefix: the moved seed is a cached prefix image, and the value changes
    act on the moved content as a camera's would.
    """
    names = tuple(names)
    return tuple(n for n in names if is_geometric(n)) + tuple(n for n in names if not is_geometric(n))


def geometry(chain: Chain, shape: Sequence[int]) -> list[dict]:
    """Each active geometric step in its unit, fractions of a side converted to pixels.

    Parameters
    ----------
    chain : Chain
    shape : sequence of int
        The seed's shape, ``(C, H, W)`` or ``(C, T)``, for the pixel conversion.

    Returns
    -------
    list of dict
        ``{"relation": name, "values": {param: value}, "units": {param: unit}}`` per
        geometric step (graded parameters only). Parameters in fractions of the width
        (height) are given in pixels (``dx`` 0.05 on a 28-pixel side: 1.4 pixels).
    """
    width = shape[-1]
    height = shape[-2] if len(shape) >= 3 else shape[-1]
    out = []
    for step in chain.steps:
        if not is_geometric(step.relation) or step.is_identity:
            continue
        table = natural_range(step.relation)
        values, units = {}, {}
        for name, unit in table.units.items():
            value = float(step.params[name])
            if unit == "fraction of width":
                value, unit = value * width, "pixels"
            elif unit == "fraction of height":
                value, unit = value * height, "pixels"
            values[name], units[name] = value, unit
        out.append({"relation": step.relation, "values": values, "units": units})
    return out


def judge(
    validity: Validity, seed: np.ndarray, chains: Sequence[Chain], mutants: np.ndarray
) -> tuple[np.ndarray, list[dict[str, float]], list[dict[str, float]]]:
    """``(valid, metrics, pixel_metrics)`` of ``mutants`` (the images of ``chains`` on ``seed``).

    The rule as the search applies it, for callers without the search's prefix cache
    (replay, matched negatives): ``metrics`` compare each mutant with the seed; under a
    natural rule ``pixel_metrics`` compare it with the seed moved by its chain's geometric
    steps, and a mutant is valid when its chain is :func:`within` the severity and its
    pixel metrics meet the clauses. Under a metric rule ``pixel_metrics`` are ``metrics``.
    """
    plain = Validity(validity.clauses)
    valid, found = evaluate_batch(plain, seed, mutants)
    if not validity.natural:
        return valid, found, found
    severity = validity.severity_for(seed.shape)
    pixel = list(found)
    for i, chain in enumerate(chains):
        moved = geometric_steps(chain)
        if moved.steps:
            pixel[i] = batch_metrics(moved.apply(seed), mutants[i : i + 1])[0]
    valid = np.array(
        [within(chain, severity) and validity.check(m) for chain, m in zip(chains, pixel)], dtype=bool
    )
    return valid, found, pixel
