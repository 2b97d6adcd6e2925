"""Search strategies on a model pair with a planted divergence region.

The pair works on synthetic 1x8x8 inputs: the reference always says class 0;
the candidate says class 1 only when the image's mean brightness lies within
``WIDTH`` of ``TARGET``, and its class-1 logit rises as the mean approaches
``TARGET``, so the margin fitness has a slope to climb.
"""

from __future__ import annotations

import numpy as np
import pytest

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.search import (
    GeneticSearch,
    RandomSearch,
    SearchSpace,
    get_strategy,
)
from diverfuzz.fuzzer.search.evaluate import INVALID_FITNESS, SeedEvaluator
from diverfuzz.models.pair import ModelPair
from diverfuzz.relations import Validity


def campaign(strategy, pair: ModelPair, seeds: np.ndarray, budget: int = 500, validity: str = "linf<=0.5"):
    space = SearchSpace.from_names()
    results = []
    for i, x in enumerate(seeds):
        ev = SeedEvaluator(pair, x, i, budget, Validity.parse(validity))
        strategy.search(ev, space, np.random.default_rng([7, i]))
        results.append(ev)
    return results


def test_genetic_finds_planted_divergence_for_most_seeds(planted):
    pair = ModelPair(planted.reference, planted.candidate(0.05))
    results = campaign(GeneticSearch(), pair, planted.seeds())
    found = [ev for ev in results if ev.divergence is not None]
    assert len(found) >= 8
    for ev in found:
        d = ev.divergence
        assert (d.reference_label, d.candidate_label) == (0, 1)
        assert d.queries <= ev.queries <= 500
        mutant = d.chain.apply(planted.seeds()[d.seed_index])
        assert abs(mutant.mean() - planted.TARGET) < 0.05
        assert d.fitness > 0


def test_genetic_needs_fewer_queries_than_random_on_a_narrow_region(planted):
    pair = ModelPair(planted.reference, planted.candidate(0.01))
    budget = 400
    genetic = campaign(GeneticSearch(), pair, planted.seeds(), budget)
    random = campaign(RandomSearch(), pair, planted.seeds(), budget)

    def cost(results):  # queries to first divergence, the budget when none
        return [ev.divergence.queries if ev.divergence else budget + 1 for ev in results]

    assert sum(ev.divergence is not None for ev in genetic) >= sum(ev.divergence is not None for ev in random)
    assert np.median(cost(genetic)) < np.median(cost(random))


@pytest.mark.parametrize("strategy", ["genetic", "random"])
def test_identical_pair_reports_nothing_and_spends_exact_budget(strategy, planted):
    pair = ModelPair(planted.reference, planted.reference)
    results = campaign(get_strategy(strategy), pair, planted.seeds(), budget=97)
    assert all(ev.divergence is None for ev in results)
    assert all(ev.queries == 97 for ev in results)
    assert pair.queries <= 97 * len(results)


def test_invalid_mutants_count_against_budget_without_querying_models(planted):
    calls = []

    def counting(x):
        calls.append(len(x))
        return planted.reference(x)

    pair = ModelPair(counting, counting)
    ev = SeedEvaluator(pair, planted.seeds()[0], 0, 50, Validity.parse("linf<=0"))  # only the identity is valid
    GeneticSearch().search(ev, SearchSpace.from_names(), np.random.default_rng(0))
    assert ev.queries == 50
    assert sum(calls) < 50 and ev.best_fitness <= 0
    assert ev.divergence is None


@pytest.mark.parametrize("cls", [GeneticSearch, RandomSearch])
def test_same_rng_seed_same_search(cls, planted):
    pair = ModelPair(planted.reference, planted.candidate(0.03))
    a = campaign(cls(), pair, planted.seeds(), budget=200)
    b = campaign(cls(), pair, planted.seeds(), budget=200)
    assert [ev.queries for ev in a] == [ev.queries for ev in b]
    assert [ev.divergence.chain if ev.divergence else None for ev in a] == [
        ev.divergence.chain if ev.divergence else None for ev in b
    ]


def test_genetic_does_not_touch_global_random_state(planted):
    import random

    random.seed(99)
    expected = random.random()
    random.seed(99)
    campaign(GeneticSearch(), ModelPair(planted.reference, planted.reference), planted.seeds(), budget=60)
    assert random.random() == expected


def test_space_decodes_identity_and_round_trips_params():
    space = SearchSpace.from_names(["brightness", "rotation"])
    assert len(space.decode(space.identity_genome())) == 0
    genome = space.identity_genome()
    genome[0] = 1.0  # brightness on
    genome[1] = 1.0  # delta at its upper bound
    chain = space.decode(genome)
    assert [s.relation for s in chain.steps] == ["brightness"]
    assert chain.steps[0].params["delta"] == pytest.approx(0.3)
    samples = space.sample(np.random.default_rng(0), 50)
    assert samples.shape == (50, space.genome_length)
    assert samples.min() >= 0 and samples.max() <= 1


def test_space_rejects_unknown_relation():
    with pytest.raises(DiverfuzzError, match="nope"):
        SearchSpace.from_names(["nope"])


def test_unknown_strategy():
    with pytest.raises(DiverfuzzError, match="--strategy='hill'"):
        get_strategy("hill")


def test_invalid_fitness_is_below_every_margin():
    assert INVALID_FITNESS < -1
