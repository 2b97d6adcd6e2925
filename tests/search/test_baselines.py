"""Faithful baselines, adaptive credit and mode natural, on tiny planted pairs."""

from __future__ import annotations

import numpy as np
import torch

from diverfuzz.fuzzer.search import SearchSpace, get_strategy
from diverfuzz.fuzzer.search.dflare import OPERATORS, DFlareSearch
from diverfuzz.fuzzer.search.diffchaser import DiffChaserSearch
from diverfuzz.fuzzer.search.evaluate import SeedEvaluator
from diverfuzz.fuzzer.search.genetic import (
    GeneticSearch,
    _Credit,
    natural_fitness,
    reward_credit,
)
from diverfuzz.models.pair import ModelPair
from diverfuzz.relations import Validity


def sloped(x: torch.Tensor) -> torch.Tensor:
    """Never class 1, but class 1's probability rises smoothly with the mean brightness."""
    m = x.mean(dim=tuple(range(1, x.ndim)))
    return torch.stack([torch.ones(len(x)), torch.clamp(10.0 * (m - 0.45), max=0.9)], dim=1)


def steep(x: torch.Tensor) -> torch.Tensor:
    """Two classes whose probabilities swing with the mean brightness (even between 0.40 and 0.48)."""
    m = x.mean(dim=tuple(range(1, x.ndim)))
    return torch.stack([torch.zeros(len(x)), 40.0 * (m - 0.44)], dim=1)


def seed_image() -> np.ndarray:
    rng = np.random.default_rng(5)
    return np.clip(0.45 + rng.normal(0, 0.05, size=(1, 8, 8)), 0, 1).astype(np.float32)


def recorder(ev: SeedEvaluator) -> list:
    seen: list = []
    evaluate = ev.evaluate
    ev.evaluate = lambda chains: seen.extend(chains) or evaluate(chains)
    return seen


def test_baselines_keep_their_published_defaults_whatever_the_campaign_population():
    assert get_strategy("diffchaser", population=10) == DiffChaserSearch()
    assert DiffChaserSearch().population == 1000 and DiffChaserSearch().mutation_rate == 0.005
    assert get_strategy("dflare", population=10) == DFlareSearch()
    assert get_strategy("genetic", population=12).population == 12
    assert get_strategy("diffchaser", params={"population": 50}).population == 50


def test_dflare_accumulates_its_seven_operators_one_query_at_a_time_and_replays(planted):
    pair = ModelPair(planted.reference, sloped)
    ev = SeedEvaluator(pair, seed_image(), 0, 60, Validity.parse("linf<=1"))
    seen = recorder(ev)
    DFlareSearch().search(ev, SearchSpace.from_names(), np.random.default_rng(3))
    assert len(seen) == 60 and ev.queries == 60
    assert {s.relation for c in seen for s in c.steps} <= set(OPERATORS)
    # Hill climbing on the latest accepted input: every candidate extends an earlier one by one step.
    lengths = [len(c) for c in seen]
    assert lengths[0] == 0 and lengths[1] == 1 and max(lengths) > 5  # the seed's own state first
    for c in seen[1:]:
        assert len(c) == 1 or any(p.steps == c.steps[:-1] for p in seen)
    assert ev.divergence is None
    again = SeedEvaluator(pair, seed_image(), 0, 60, Validity.parse("linf<=1"))
    seen2 = recorder(again)
    DFlareSearch().search(again, SearchSpace.from_names(), np.random.default_rng(3))
    assert [c.to_json() for c in seen2] == [c.to_json() for c in seen]


def test_dflare_novelty_accepts_more_than_the_gap_alone():
    # Both models identical: the gap is always 0, so without novelty nothing is ever accepted
    # and every candidate is one step from the seed. With novelty, a mutant whose probability
    # vectors are a new state is accepted and the next candidates extend it. (The pair's outputs
    # must move with the input: a constant pair has one state only, the seed's, and novelty
    # never fires.)
    pair = ModelPair(steep, steep)
    lengths = {}
    for novelty in (True, False):
        ev = SeedEvaluator(pair, seed_image(), 0, 60, Validity.parse("linf<=1"))
        seen = recorder(ev)
        DFlareSearch(novelty=novelty).search(ev, SearchSpace.from_names(), np.random.default_rng(0))
        assert ev.divergence is None and ev.queries == 60
        lengths[novelty] = max(len(c) for c in seen)
    assert lengths[False] == 1 and lengths[True] > 1


def test_dflare_and_diffchaser_find_a_planted_divergence(planted):
    # Band (0.50, 0.80) of mean brightness; the seed's mean is 0.44, so both models agree on it
    # and a divergence needs a search that raises the brightness over several steps.
    pair = ModelPair(planted.reference, planted.candidate(0.15))
    ref, cand = pair.logits(seed_image()[None])
    assert int(ref.argmax()) == int(cand.argmax()) == 0
    for strategy in (DFlareSearch(), DiffChaserSearch(population=10)):
        ev = SeedEvaluator(pair, seed_image(), 0, 400, Validity.parse("linf<=1"))
        strategy.search(ev, SearchSpace.from_names(), np.random.default_rng(1))
        assert ev.divergence is not None, strategy.name
        assert ev.divergence.queries > 1 and len(ev.divergence.chain) > 1, strategy.name
        assert ev.divergence.queries <= ev.queries < 400  # mode first: it stopped with the divergence's batch
        mutant = ev.divergence.chain.apply(seed_image())
        ref, cand = pair.logits(mutant[None])
        assert (int(ref.argmax()), int(cand.argmax())) == (0, 1)
        assert np.array_equal(mutant, ev._prefixes.apply([ev.divergence.chain], seed_image())[0])


class _Ind(list):
    pass


def _offspring(genes, fitness, parent):
    ind = _Ind(genes)
    ind.fitness = type("F", (), {"values": (fitness,)})()
    ind.parent_fitness, ind.op = parent, 0
    return ind


def test_relation_credit_moves_towards_relations_whose_offspring_improve():
    blocks = [(0, 1), (2, 1), (4, 1)]  # three relations, activation genes at 0, 2, 4
    ops, credit = _Credit(1, p_min=0.1), _Credit(3, p_min=0.1)
    start = credit.probs().copy()
    for _ in range(10):
        improved = _offspring([0.9, 0.5, 0.1, 0.5, 0.1, 0.5], 0.2, 0.1)  # relation 0 on: better
        worse = _offspring([0.1, 0.5, 0.9, 0.5, 0.1, 0.5], 0.0, 0.1)  # relation 1 on: worse
        reward_credit([improved, worse], ops, credit, blocks)
    p = credit.probs()
    assert np.allclose(start, 1 / 3)
    assert p[0] > start[0] and p[1] < start[1] and p[0] > p[2] > p[1]


def test_natural_fitness_ranks_divergences_by_psnr_above_all_others():
    f = natural_fitness(np.array([-0.2, 0.1, 0.3, 0.05]), np.array([False, True, True, True]),
                        np.array([40.0, 18.0, 30.0, np.inf]))
    assert f[0] < 1 < f[1] < f[2] < f[3] <= 2


def test_mode_natural_searches_to_the_budget_and_reports_the_most_natural_divergence(planted):
    pair = ModelPair(planted.reference, planted.candidate(0.25))
    first = SeedEvaluator(pair, seed_image(), 0, 300, Validity.parse("linf<=1"))
    GeneticSearch().search(first, SearchSpace.from_names(), np.random.default_rng(2))
    natural = SeedEvaluator(pair, seed_image(), 0, 300, Validity.parse("linf<=1"), mode="natural")
    seen = recorder(natural)
    GeneticSearch().search(natural, SearchSpace.from_names(), np.random.default_rng(2))
    assert first.divergence is not None and natural.divergence is not None
    assert natural.queries == 300 and len(natural.divergences) == 1
    assert natural.divergence.validity["psnr"] > first.divergence.validity["psnr"]
    # It is the most natural of all divergent candidates the search evaluated.
    x = seed_image()
    ref, cand = pair.logits(np.stack([c.apply(x) for c in seen]))
    from diverfuzz.relations import psnr

    best = max(psnr(x, c.apply(x)) for c, r, k in zip(seen, ref, cand) if r.argmax() != k.argmax())
    assert natural.divergence.validity["psnr"] == best
    assert np.array_equal(natural.divergence.chain.apply(x), seen[[c.to_json() for c in seen].index(
        natural.divergence.chain.to_json())].apply(x))
