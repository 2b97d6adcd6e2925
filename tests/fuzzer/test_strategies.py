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


#: Width of the planted band in the replay test: class 1 when the mean brightness is in (0.55, 0.75).
REPLAY_WIDTH = 0.1


def below_the_band(planted, n: int) -> np.ndarray:
    """``n`` planted seeds shifted to a mean brightness 0.006 under the band (both models agree there).

    One pixel raised by 0.4 (64 pixels) crosses into the band: within reach of DiffChaser at its
    published population (1000 > the budget, so its first generation, one pixel mutation per
    chromosome, is all it evaluates) and of DFlare's one-step mutants, under ``linf<=0.5``.
    """
    seeds = planted.seeds(n)
    mean = planted.TARGET - REPLAY_WIDTH - 0.006
    return np.clip(seeds - seeds.mean(axis=(1, 2, 3), keepdims=True) + mean, 0, 1).astype(np.float32)


@pytest.mark.parametrize("name", STRATEGIES)
def test_every_reported_divergence_is_valid_and_replays(name, planted):
    pair = ModelPair(planted.reference, planted.candidate(REPLAY_WIDTH))
    validity = Validity.parse(VALIDITY)
    # Genetic and random reach the band from the planted seeds (brightness alone); the
    # baselines' pixel mutations need seeds near it to find any within 120 queries.
    seeds = planted.seeds if name in ("genetic", "random") else (lambda n: below_the_band(planted, n))
    ref, cand = pair.logits(seeds(3))
    assert (ref.argmax(axis=1) == cand.argmax(axis=1)).all()  # no seed diverges unmodified
    found = 0
    for ev in run(name, pair, seeds, budget=120, mode="many", n=3):
        for d in ev.divergences:
            found += 1
            assert len(d.chain) > 0
            seed = seeds(3)[d.seed_index]
            mutant = d.chain.apply(seed)
            assert validity.check(metrics(seed, mutant))
            ref, cand = pair.logits(mutant[None])
            assert (int(ref.argmax()), int(cand.argmax())) == (d.reference_label, d.candidate_label) == (0, 1)
    assert found > 0  # every strategy finds one, so the replay checks above run for each


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


def test_diffchaser_k_uncertainty_reads_the_model_it_names():
    ref = np.array([[0.5, 0.5, 0.0]])  # the reference is torn between two classes
    cand = np.array([[0.9, 0.1, 0.0]])  # the counterpart is sure
    assert DiffChaserSearch().fitness(ref, cand)[0] == pytest.approx(-0.8)  # default: the counterpart's
    assert DiffChaserSearch(uncertainty_of="reference").fitness(ref, cand)[0] == pytest.approx(0.0)
    assert get_strategy("diffchaser", params={"uncertainty_of": "reference"}).uncertainty_of == "reference"
    with pytest.raises(DiverfuzzError, match="uncertainty_of='both'"):
        DiffChaserSearch(uncertainty_of="both")


def test_diffchaser_step_crossover_is_pixel_crossover_where_parents_touch_disjoint_pixels():
    # What docs/baselines.md says: taking step i from one parent takes that step's pixels from it.
    # With disjoint pixel sets and no clipping, the child is a pixel-wise crossover of the parents.
    from diverfuzz.fuzzer.search.noise_steps import uniform_crossover
    from diverfuzz.relations import Chain, Step

    x = np.full((1, 16, 16), 0.5, np.float32)

    def step(seed):
        return Step("pixel_perturb", {"rate": 0.02, "magnitude": 0.2, "seed": seed})

    def touched(s):
        return np.random.default_rng(s.params["seed"]).random(x.shape) < s.params["rate"]

    a, b = [step(1), step(2)], [step(3), step(5)]  # seeds whose pixel sets are disjoint
    assert not any((touched(s) & touched(t)).any() for s in a + b for t in a + b if s is not t)
    for rng in range(4):
        child = uniform_crossover(a, b, np.random.default_rng(rng))
        from_a = np.zeros(x.shape, bool)
        for i, s in enumerate(child):  # position i from A: a[i]'s pixels, and b[i]'s left at the seed, as in A
            if s == a[i]:
                from_a |= touched(a[i]) | touched(b[i])
        img_a, img_b = Chain(tuple(a)).apply(x), Chain(tuple(b)).apply(x)
        np.testing.assert_allclose(Chain(tuple(child)).apply(x), np.where(from_a, img_a, img_b), atol=1e-6)
