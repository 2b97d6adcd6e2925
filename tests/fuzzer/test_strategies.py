"""Every strategy (genetic, random, diffchaser, dflare) on the planted pair of test_search.

Budgets are exact in both modes, the same RNG seed gives the same
divergences, ``many`` keeps one divergence per cluster, and every reported
divergence is valid and replays from its seed and chain.
"""

from __future__ import annotations

import numpy as np
import pytest

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.fuzzer.search import (
    STRATEGIES,
    DiffChaserSearch,
    SearchSpace,
    get_strategy,
)
from diverfuzz.fuzzer.search.evaluate import (
    INVALID_FITNESS,
    SeedEvaluator,
    cluster_key,
    violation,
)
from diverfuzz.fuzzer.search.objectives import (
    disagreement_margin,
    k_uncertainty,
    penalised,
    probability_gap,
)
from diverfuzz.models.pair import ModelPair
from diverfuzz.relations import Validity, metrics

VALIDITY = "linf<=0.5"


def run(name: str, pair: ModelPair, seeds, *, budget: int, mode: str = "first", n: int = 4, rng: int = 7):
    """Search ``seeds(n)`` (the planted seeds function) with strategy ``name``."""
    space = SearchSpace.from_names()
    out = []
    for i, x in enumerate(seeds(n)):
        ev = SeedEvaluator(pair, x, i, budget, Validity.parse(VALIDITY), mode=mode)
        get_strategy(name, population=10).search(ev, space, np.random.default_rng([rng, i]))
        out.append(ev)
    return out


def test_registry_lists_every_strategy():
    assert set(STRATEGIES) == {"genetic", "random", "diffchaser", "dflare"}
    for name in STRATEGIES:
        assert get_strategy(name).name == name
        CampaignConfig(strategy=name)  # accepted by the config


def test_mode_is_validated(planted):
    with pytest.raises(DiverfuzzError, match="--mode='all'"):
        CampaignConfig(mode="all")
    with pytest.raises(DiverfuzzError, match="--mode='all'"):
        SeedEvaluator(ModelPair(planted.reference, planted.reference), planted.seeds(1)[0], 0, 5, Validity.parse(VALIDITY), mode="all")


@pytest.mark.parametrize("name", STRATEGIES)
@pytest.mark.parametrize("mode", ["first", "many"])
def test_budget_is_spent_exactly_without_divergence(name, mode, planted):
    pair = ModelPair(planted.reference, planted.reference)
    for ev in run(name, pair, planted.seeds, budget=37, mode=mode, n=2):
        assert ev.divergence is None and ev.queries == 37
    assert pair.queries <= 2 * 37


@pytest.mark.parametrize("name", STRATEGIES)
def test_many_mode_spends_the_whole_budget_and_keeps_distinct_clusters(name, planted):
    pair = ModelPair(planted.reference, planted.candidate(0.1))
    for ev in run(name, pair, planted.seeds, budget=60, mode="many", n=2):
        assert ev.queries == 60
        keys = [cluster_key(d) for d in ev.divergences]
        assert len(keys) == len(set(keys))
        assert all(d.queries <= 60 for d in ev.divergences)
        if ev.divergences:
            assert ev.divergence == ev.divergences[0]


@pytest.mark.parametrize("name", STRATEGIES)
def test_same_rng_seed_same_divergences(name, planted):
    pair = ModelPair(planted.reference, planted.candidate(0.05))

    def signature(results):
        return [(ev.queries, [(d.chain, d.queries) for d in ev.divergences]) for ev in results]

    assert signature(run(name, pair, planted.seeds, budget=60, mode="many", n=2)) == signature(
        run(name, pair, planted.seeds, budget=60, mode="many", n=2)
    )


@pytest.mark.parametrize("name", STRATEGIES)
def test_every_reported_divergence_is_valid_and_replays(name, planted):
    pair = ModelPair(planted.reference, planted.candidate(0.1))
    validity = Validity.parse(VALIDITY)
    found = 0
    for ev in run(name, pair, planted.seeds, budget=120, mode="many", n=3):
        for d in ev.divergences:
            found += 1
            seed = planted.seeds(3)[d.seed_index]
            mutant = d.chain.apply(seed)
            assert validity.check(metrics(seed, mutant))
            ref, cand = pair.logits(mutant[None])
            assert (int(ref.argmax()), int(cand.argmax())) == (d.reference_label, d.candidate_label)
    if name in ("genetic", "random"):
        assert found > 0  # the planted region is reachable by brightness alone


def test_first_mode_reports_the_earliest_divergence_and_stops(planted):
    pair = ModelPair(planted.reference, planted.candidate(0.1))
    for ev in run("genetic", pair, planted.seeds, budget=300):
        if ev.divergence is not None:
            assert len(ev.divergences) == 1
            assert ev.divergence.queries <= ev.queries
            assert ev.evaluate([ev.divergence.chain]).chains == ()  # done: nothing more is evaluated


def test_diffchaser_mutants_are_chains_of_seeded_pixel_mutations_without_a_length_cap(planted):
    pair = ModelPair(planted.reference, planted.reference)
    seen = []
    space = SearchSpace.from_names()
    ev = SeedEvaluator(pair, planted.seeds(1)[0], 0, 120, Validity.parse(VALIDITY))
    evaluate = ev.evaluate
    ev.evaluate = lambda chains: seen.extend(chains) or evaluate(chains)
    DiffChaserSearch(population=8).search(ev, space, np.random.default_rng(0))
    assert seen and all(s.relation == "pixel_perturb" and s.params["rate"] == 0.005 for c in seen for s in c.steps)
    assert max(len(c) for c in seen) > 6  # one mutation per generation accumulates (15 generations here)


def test_objectives_sign_and_penalty_order():
    ref = np.array([[0.7, 0.2, 0.1], [0.7, 0.2, 0.1]])
    cand = np.array([[0.6, 0.3, 0.1], [0.3, 0.6, 0.1]])  # agrees, then diverges
    m = disagreement_margin(ref, cand)
    assert m[0] < 0 < m[1]
    assert k_uncertainty(ref, cand)[0] == pytest.approx(-0.3)
    assert probability_gap(ref, cand)[1] == pytest.approx(0.4)
    fit = penalised(np.array([0.1, -0.9, INVALID_FITNESS, INVALID_FITNESS]), np.array([1, 1, 0, 0], bool),
                    np.array([0.0, 0.0, 0.05, 3.0]))
    assert fit[0] > fit[1] > fit[2] > fit[3] >= INVALID_FITNESS  # near-valid above far-invalid, below valid


def test_violation_is_zero_inside_and_grows_outside():
    v = Validity.parse("ssim>=0.6 and linf<=0.5")
    assert violation(v, {"ssim": 0.7, "linf": 0.1}) == 0
    assert 0 < violation(v, {"ssim": 0.59, "linf": 0.1}) < violation(v, {"ssim": 0.3, "linf": 0.1})
    assert violation(v, {"ssim": 0.3, "linf": 0.9}) > violation(v, {"ssim": 0.3, "linf": 0.1})
