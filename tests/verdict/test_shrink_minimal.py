"""Item 9 of issue 14: shrunk chains are 1-minimal.

Removing any single step of a shrunk chain loses what the shrinker was told
to keep (the divergence, or validity), whatever the query cap.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diverfuzz.fuzzer.search.shrink import shrink
from diverfuzz.relations import Chain, Step
from diverfuzz.relations.strategies import chains


def _drops(chain: Chain) -> list[Chain]:
    return [Chain(chain.steps[:i] + chain.steps[i + 1 :]) for i in range(len(chain))]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    chain=chains(kind="image", max_length=6),
    cap=st.integers(0, 40),
    salt=st.integers(0, 6),
    modulus=st.integers(2, 4),
)
def test_every_shrunk_chain_is_one_minimal(chain, cap, salt, modulus):
    def keeps(cs):  # arbitrary, deterministic, accepts the original chain
        return np.array([c == chain or (sum(map(ord, c.to_json())) + salt) % modulus == 0 for c in cs])

    out, _ = shrink(chain, keeps, max_queries=cap)
    assert out == chain or keeps([out])[0]
    assert not keeps(_drops(out)).any(), f"{out} still keeps a one-step-shorter chain"


@settings(max_examples=30, deadline=None)
@given(copies=st.integers(2, 5), cap=st.integers(0, 8))
def test_repeated_identical_steps_are_not_kept_when_one_suffices(copies, cap):
    # The example: the same seeded speckle_noise step three times,
    # where one application already diverges. A small cap used to stop the
    # shrinker before it removed them.
    step = Step("speckle_noise", {"sigma": 0.0213, "seed": 296487819})
    chain = Chain((step,) * copies)

    def keeps(cs):
        return np.array([any(s.relation == "speckle_noise" for s in c.steps) for c in cs])

    out, _ = shrink(chain, keeps, max_queries=cap)
    assert [s.relation for s in out.steps] == ["speckle_noise"]
