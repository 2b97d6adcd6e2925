"""Hypothesis strategies for relations, steps, chains and inputs of each kind.

Chains are built from Hypothesis choices (a list of steps, each a relation
name and parameter values), so Hypothesis shrinks a failing chain towards
fewer steps, earlier relations in registry order and smaller parameters.

Examples
--------
>>> from hypothesis import given
>>> @given(chain=chains(kind="image", max_length=2), x=inputs("image"))
... def test_range(chain, x):
...     y = chain.apply(x)
...     assert y.shape == x.shape and 0 <= y.min() <= y.max() <= 1
>>> @given(chain=chains(kind="signal"), x=inputs("signal"))
... def test_signal(chain, x):
...     assert chain.apply(x).shape == x.shape
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .chain import Chain, Step
from .registry import REGISTRY, get_relation
from .relation import KINDS, Relation, RelationError

__all__ = ["params_for", "steps", "chains", "images", "inputs", "names_for"]


def params_for(relation: Relation | str) -> st.SearchStrategy[dict]:
    """Dicts of valid parameters for ``relation`` (a Relation or its name).

    Floats exclude subnormal numbers (no relation distinguishes them from 0).
    """
    rel = get_relation(relation) if isinstance(relation, str) else relation
    fields = {}
    for name, spec in rel.params.items():
        if spec.integer:
            fields[name] = st.integers(int(spec.low), int(spec.high))
        else:
            fields[name] = st.floats(
                spec.low, spec.high, allow_nan=False, allow_infinity=False, allow_subnormal=False
            )
    return st.fixed_dictionaries(fields)


def names_for(
    kind: str | None = "image", names: Sequence[str] | None = None, channels: int | None = None
) -> list[str]:
    """Relation names a chain strategy draws from.

    Parameters
    ----------
    kind : str or None
        ``"image"``, ``"spectral"`` or ``"signal"``; None: every relation.
    names : sequence of str, optional
        Restrict to these names (each must support ``kind``).
    channels : int, optional
        Channel count of the inputs; relations that need another count
        (``channel_shift`` needs 3) are left out. Default None: relations
        with a channel constraint are left out.
    """
    pool = list(REGISTRY) if kind is None else [n for n in REGISTRY if kind in REGISTRY[n].kinds]
    if names is not None:
        chosen = [get_relation(n).name for n in names]
        wrong = [n for n in chosen if n not in pool]
        if wrong:
            raise RelationError(
                f"names={wrong} do not support kind={kind!r}; choose from {', '.join(pool)}"
            )
        pool = chosen
    pool = [
        n for n in pool
        if (REGISTRY[n].channels is None if channels is None else REGISTRY[n].accepts_channels(channels))
    ]
    if not pool:
        raise RelationError(f"no relation of kind={kind!r} fits names={names!r}, channels={channels!r}")
    return pool


def steps(
    names: Sequence[str] | None = None, *, kind: str | None = None, channels: int | None = None
) -> st.SearchStrategy[Step]:
    """Valid steps of the named relations.

    Default: every relation of ``kind`` (every relation when ``kind`` and
    ``names`` are None, channel-constrained ones included).
    """
    if kind is None and channels is None:
        pool = list(REGISTRY) if names is None else [get_relation(n).name for n in names]
    else:
        pool = names_for(kind, names, channels)
    return st.sampled_from(pool).flatmap(lambda n: params_for(n).map(lambda p: Step(n, p)))


def chains(
    kind: str | int = "image",
    max_length: int = 4,
    names: Sequence[str] | None = None,
    *,
    channels: int | None = None,
    min_length: int = 0,
    max_size: int | None = None,
) -> st.SearchStrategy[Chain]:
    """Chains of ``min_length`` to ``max_length`` steps valid for ``kind``.

    Parameters
    ----------
    kind : str
        ``"image"`` (default), ``"spectral"`` or ``"signal"``: only
        relations that support it (:func:`diverfuzz.relations.names_for_kind`).
    max_length : int
        Longest chain, default 4.
    names : sequence of str, optional
        Restrict to these relations (all must support ``kind``).
    channels : int, optional
        Channel count of the inputs the chains will see; see :func:`names_for`.
    min_length : int
        Shortest chain, default 0.
    max_size : int, optional
        Old name of ``max_length`` (kept for compatibility; wins if given).

    Examples
    --------
    >>> from hypothesis import given
    >>> @given(c=chains(kind="spectral", max_length=3))
    ... def test(c):
    ...     assert len(c) <= 3
    """
    if isinstance(kind, int) and not isinstance(kind, bool):  # old positional max_size
        max_length, kind = kind, "image"
    if max_size is not None:
        max_length = max_size
    if kind not in KINDS:
        raise RelationError(f"kind={kind!r} is unknown; accepted kinds: image, spectral, signal")
    step = steps(names_for(kind, names, channels), kind=kind, channels=channels)
    return st.lists(step, min_size=min_length, max_size=max_length).map(lambda s: Chain(tuple(s)))


_ELEMENTS = st.floats(0.0, 1.0, width=32, allow_nan=False, allow_infinity=False)


def images(
    channels: st.SearchStrategy[int] = st.integers(1, 4),
    size: st.SearchStrategy[int] = st.integers(8, 24),
) -> st.SearchStrategy[np.ndarray]:
    """float32 ``(C, H, W)`` arrays in ``[0, 1]``; ``H`` and ``W`` drawn from ``size``."""
    shapes = st.tuples(channels, size, size)
    return shapes.flatmap(lambda shape: hnp.arrays(np.float32, shape, elements=_ELEMENTS))


_INPUT_SHAPES = {
    "image": (st.sampled_from([1, 3, 4]), st.integers(8, 16), st.integers(8, 16)),
    "spectral": (st.integers(8, 16), st.integers(6, 10), st.integers(6, 10)),
    "signal": (st.integers(1, 6), st.integers(16, 64)),
}


def inputs(kind: str = "image") -> st.SearchStrategy[np.ndarray]:
    """float32 arrays in ``[0, 1]`` of one kind (small, for fast tests).

    ``"image"``: ``(C, H, W)`` with ``C`` in {1, 3, 4}, ``H, W`` in 8..16;
    ``"spectral"``: ``C`` in 8..16 bands, ``H, W`` in 6..10;
    ``"signal"``: ``(C, T)`` with ``C`` in 1..6, ``T`` in 16..64.
    Shapes match :func:`diverfuzz.relations.infer_kind`.
    Values come from one of a few patterns (uniform noise, smooth ramps,
    binary 0/1, constant), built with NumPy from a drawn seed: far cheaper
    than drawing every element, and still shrinkable (towards seed 0 and
    the first pattern).
    """
    if kind not in KINDS:
        raise RelationError(f"kind={kind!r} is unknown; accepted kinds: image, spectral, signal")
    shapes = st.tuples(*_INPUT_SHAPES[kind])
    return st.builds(
        _make_input,
        shapes,
        st.integers(0, 2**32 - 1),
        st.sampled_from(["uniform", "ramp", "binary", "constant"]),
    )


def _make_input(shape: tuple[int, ...], seed: int, pattern: str) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if pattern == "uniform":
        return rng.random(shape, dtype=np.float32)
    if pattern == "ramp":
        ramp = np.linspace(0.0, 1.0, shape[-1], dtype=np.float32)
        return np.broadcast_to(ramp * rng.random(shape[:-1] + (1,), dtype=np.float32), shape).copy()
    if pattern == "binary":
        return (rng.random(shape) < 0.5).astype(np.float32)
    return np.full(shape, rng.random(), dtype=np.float32)
