"""The prefix cache gives exactly apply_batch's mutants, also for chains that share step objects."""

from __future__ import annotations

import numpy as np

from fuzzer.search.dflare import OPERATORS, operator_step
from fuzzer.search.prefix_cache import PrefixCache
from relations import Chain, Step, apply_batch


def test_cached_mutants_equal_apply_batch_bit_for_bit():
    rng = np.random.default_rng(0)
    seed = rng.random((1, 12, 12)).astype(np.float32)
    cache = PrefixCache(size=8)
    chain = Chain(())
    other = Step("brightness", {"delta": 0.05})
    hits = 0
    for i in range(40):
        step = operator_step(OPERATORS[i % len(OPERATORS)], rng)
        grown = Chain(chain.steps + (step,))
        # Same length and same last step object, different prefix: must not reuse.
        twisted = Chain((other,) + chain.steps[1:] + (step,)) if chain.steps else grown
        batch = [twisted, grown]  # grown is cached last, so it is what the next lookup finds
        hits += cache._lookup(grown) is not None
        got = cache.apply(batch, seed)
        assert np.array_equal(got, apply_batch(batch, seed))
        if i % 3 == 0:
            chain = grown
    assert hits > 10  # the cache was actually used
