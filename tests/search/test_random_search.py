"""Random search: its default is plain sampling; repair and the noise tail are the genetic search's."""

from __future__ import annotations

import numpy as np
import pytest

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.search import SearchSpace, get_strategy
from diverfuzz.fuzzer.search.evaluate import SeedEvaluator
from diverfuzz.fuzzer.search.noise_steps import PIXEL_NOISE
from diverfuzz.fuzzer.search.random_search import RandomSearch
from diverfuzz.models.pair import ModelPair
from diverfuzz.relations import Validity, metrics

RULE = "linf<=0.15"


def recorded(strategy, pair, seed, budget, rule=RULE, rng=0):
    ev = SeedEvaluator(pair, seed, 0, budget, Validity.parse(rule))
    seen: list = []
    evaluate = ev.evaluate
    ev.evaluate = lambda chains: seen.extend(chains) or evaluate(chains)
    strategy.search(ev, SearchSpace.from_names(), np.random.default_rng(rng))
    return ev, seen


def test_default_is_plain_uniform_sampling_of_the_genetic_first_population(planted):
    pair = ModelPair(planted.reference, planted.reference)
    ev, seen = recorded(RandomSearch(batch_size=10), pair, planted.seeds(1)[0], 30)
    space, rng = SearchSpace.from_names(), np.random.default_rng(0)
    expected = [space.decode(g) for _ in range(3) for g in space.sample(rng, 10)]
    assert seen == expected and ev.queries == 30


def test_repair_pulls_rejected_chains_to_the_validity_rule_without_queries(planted):
    pair = ModelPair(planted.reference, planted.reference)
    seed = planted.seeds(1)[0]
    rule = Validity.parse(RULE)

    def valid_share(seen):
        return np.mean([rule.check(metrics(seed, c.apply(seed))) for c in seen])

    plain_ev, plain = recorded(RandomSearch(batch_size=10), pair, seed, 60)
    fixed_ev, fixed = recorded(RandomSearch(batch_size=10, repair=5), pair, seed, 60)
    assert plain_ev.queries == fixed_ev.queries == 60 and pair.queries <= 2 * 60  # repair queries no model
    assert valid_share(plain) < 0.8 and valid_share(fixed) > valid_share(plain) + 0.1
    # Repair only scales a chain towards the identity: the same relations, in the same order.
    assert [[s.relation for s in c.steps] for c in fixed] == [[s.relation for s in c.steps] for c in plain]


def test_tail_adds_one_seeded_noise_step_to_about_half_the_chains(planted):
    pair = ModelPair(planted.reference, planted.reference)
    seed = planted.seeds(1)[0]
    _, seen = recorded(RandomSearch(batch_size=10, tail=True), pair, seed, 100, rule="none")
    tails = [c for c in seen if c.steps and c.steps[-1].relation in PIXEL_NOISE and "seed" in c.steps[-1].params]
    assert 30 <= len(tails) <= 70
    _, again = recorded(RandomSearch(batch_size=10, tail=True), pair, seed, 100, rule="none")
    assert [c.to_json() for c in again] == [c.to_json() for c in seen]  # seeded: replays


def test_options_through_the_registry_and_validated():
    assert get_strategy("random", params={"repair": 5, "tail": True}) == RandomSearch(repair=5, tail=True)
    assert get_strategy("random") == RandomSearch()
    with pytest.raises(DiverfuzzError, match="repair=-1"):
        RandomSearch(repair=-1)
