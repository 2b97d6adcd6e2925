"""Hypothesis strategies for relations, steps, chains and images.

Examples
--------
>>> from hypothesis import given
>>> @given(chains(max_size=2), images())
... def test_range(chain, x):
...     y = chain.apply(x)
...     assert y.shape == x.shape and 0 <= y.min() <= y.max() <= 1
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .base import REGISTRY, Chain, Relation, Step, get_relation

__all__ = ["params_for", "steps", "chains", "images"]


def params_for(relation: Relation | str) -> st.SearchStrategy[dict]:
    """Dicts of valid parameters for ``relation`` (a Relation or its name)."""
    rel = get_relation(relation) if isinstance(relation, str) else relation
    fields = {}
    for name, spec in rel.params.items():
        if spec.integer:
            fields[name] = st.integers(int(spec.low), int(spec.high))
        else:
            fields[name] = st.floats(spec.low, spec.high, allow_nan=False, allow_infinity=False)
    return st.fixed_dictionaries(fields)


def steps(names: Sequence[str] | None = None) -> st.SearchStrategy[Step]:
    """Valid steps of the named relations (default: the whole registry)."""
    pool = list(REGISTRY) if names is None else [get_relation(n).name for n in names]
    return st.sampled_from(pool).flatmap(lambda n: params_for(n).map(lambda p: Step(n, p)))


def chains(max_size: int = 4, names: Sequence[str] | None = None) -> st.SearchStrategy[Chain]:
    """Chains of 0 to ``max_size`` steps."""
    return st.lists(steps(names), max_size=max_size).map(lambda s: Chain(tuple(s)))


def images(
    channels: st.SearchStrategy[int] = st.integers(1, 4),
    size: st.SearchStrategy[int] = st.integers(8, 24),
) -> st.SearchStrategy[np.ndarray]:
    """float32 ``(C, H, W)`` arrays in ``[0, 1]``; ``H`` and ``W`` drawn from ``size``."""
    shapes = st.tuples(channels, size, size)
    elements = st.floats(0.0, 1.0, width=32, allow_nan=False, allow_infinity=False)
    return shapes.flatmap(lambda shape: hnp.arrays(np.float32, shape, elements=elements))
