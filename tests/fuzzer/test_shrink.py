"""Shrinking: never a longer chain, never one that stops diverging or turns invalid."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diverfuzz.fuzzer.search import GeneticSearch, SearchSpace
from diverfuzz.fuzzer.search.evaluate import SeedEvaluator
from diverfuzz.fuzzer.search.shrink import shrink, shrink_divergence
from diverfuzz.models.pair import ModelPair
from diverfuzz.relations import Chain, Step, Validity, metrics
from diverfuzz.relations.strategies import chains


def test_shrink_drops_irrelevant_steps_and_moves_params_to_the_boundary():
    chain = Chain((Step("rotation", {"angle": 10.0}), Step("brightness", {"delta": 0.3}), Step("zoom", {"scale": 1.1})))

    def keeps(cs):  # "diverges" while brightness delta >= 0.1
        return np.array([any(s.relation == "brightness" and s.params["delta"] >= 0.1 for s in c.steps) for c in cs])

    out, spent = shrink(chain, keeps, max_queries=100)
    assert [s.relation for s in out.steps] == ["brightness"]
    assert 0.1 <= out.steps[0].params["delta"] < 0.12
    assert 0 < spent <= 100


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chain=chains(kind="image", max_length=4), cap=st.integers(0, 30), salt=st.integers(0, 3))
def test_shrink_result_is_accepted_and_never_longer(chain, cap, salt):
    calls = []

    def keeps(cs):  # an arbitrary deterministic predicate that accepts the original chain
        calls.append(len(cs))
        return np.array([c == chain or (hash(c.to_json()) + salt) % 3 == 0 for c in cs])

    out, spent = shrink(chain, keeps, max_queries=cap)
    # The cap bounds the shrinking passes; the closing deletion pass that
    # makes the result 1-minimal adds at most L (L + 1) / 2 queries.
    assert spent == sum(calls) <= cap + len(chain) * (len(chain) + 1) // 2
    assert len(out) <= len(chain)
    assert out == chain or keeps([out])[0]


def test_shrunk_divergences_still_diverge_are_valid_and_not_longer(planted):
    pair = ModelPair(planted.reference, planted.candidate(0.05))
    validity = Validity.parse("linf<=0.5")
    space = SearchSpace.from_names()
    shrunk = 0
    for i, x in enumerate(planted.seeds(4)):
        ev = SeedEvaluator(pair, x, i, 300, validity)
        GeneticSearch(population=10).search(ev, space, np.random.default_rng([3, i]))
        if ev.divergence is None:
            continue
        before = ev.queries
        d = shrink_divergence(ev.divergence, ev)
        assert ev.queries == before  # shrinking is not charged to the search budget
        assert d.shrink_queries > 0 and len(d.minimal_chain) <= len(d.chain)
        mutant = d.minimal_chain.apply(x)
        assert validity.check(metrics(x, mutant))
        ref, cand = pair.logits(mutant[None])
        assert (int(ref.argmax()), int(cand.argmax())) == (d.reference_label, d.candidate_label)
        assert d.minimal_distance == np.float64(metrics(x, mutant)["l2"])
        shrunk += 1
    assert shrunk >= 2
