"""Reuse the image of a chain's prefix: appending one step costs one step, not the whole chain.

DFlare's trajectory and DiffChaser's chromosomes grow one step per
iteration; applying every candidate's chain from the seed would cost
quadratic time in the chain length. :class:`PrefixCache` remembers the
mutants of recently evaluated chains by the identity of their
:class:`~relations.Step` objects (immutable, deterministic), so a chain
whose every step but the last is the very same objects as a cached chain's
is computed as ``last_step.apply(cached_image)``. ``Chain.apply`` applies
steps one after the other, so the result is bit for bit the same.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from relations import Chain, apply_batch


@dataclass
class PrefixCache:
    """Mutants of the last ``size`` chains evaluated on one seed (default 64)."""

    size: int = 64
    _store: OrderedDict = field(default_factory=OrderedDict, repr=False)

    def _lookup(self, chain: Chain) -> np.ndarray | None:
        steps = chain.steps
        if len(steps) < 2:
            return None
        hit = self._store.get((len(steps) - 1, id(steps[-2])))
        if hit is None:
            return None
        cached_steps, image = hit
        if all(a is b for a, b in zip(cached_steps, steps[:-1])):
            return image
        return None

    def apply(self, chains: Sequence[Chain], seed: np.ndarray) -> np.ndarray:
        """``apply_batch(chains, seed)``, reusing cached prefixes; caches the results."""
        out = [None] * len(chains)
        rest = []
        for i, chain in enumerate(chains):
            base = self._lookup(chain)
            if base is None:
                rest.append(i)
            else:
                out[i] = chain.steps[-1].apply(base)
        if rest:
            fresh = apply_batch([chains[i] for i in rest], seed)
            for j, i in enumerate(rest):
                out[i] = fresh[j]
        for chain, image in zip(chains, out):
            if chain.steps:
                self._store[(len(chain.steps), id(chain.steps[-1]))] = (chain.steps, image)
                self._store.move_to_end((len(chain.steps), id(chain.steps[-1])))
        while len(self._store) > self.size:
            self._store.popitem(last=False)
        if not len(out):
            return apply_batch([], seed)
        return np.stack(out).astype(np.float32, copy=False)
