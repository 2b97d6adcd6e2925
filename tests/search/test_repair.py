"""Validity repair of the genetic search (``GeneticSearch(repair=k)``).

Repair scales a rejected candidate towards the identity by bisection, using
validity metrics only: no model query is spent, the repaired candidates are
valid, the rule rejects the next stronger bisection point, and the search
stays reproducible and replayable.
"""

from __future__ import annotations

import numpy as np

from diverfuzz.fuzzer.search import SearchSpace, get_strategy
from diverfuzz.fuzzer.search.evaluate import SeedEvaluator
from diverfuzz.fuzzer.search.genetic import (
    _chain,
    _individual,
    repair,
    shrink,
    shrink_step,
)
from diverfuzz.models.pair import ModelPair
from diverfuzz.relations import Step, Validity, metrics

STRICT = "psnr>=20"


def _population(space: SearchSpace, n: int, rng_seed: int = 3) -> list:
    rng = np.random.default_rng(rng_seed)
    return [_individual(g.tolist()) for g in space.sample(rng, n, scale=1.0)]


def _blocks(space: SearchSpace) -> list:
    out, pos = [], 0
    for relation in space.relations:
        out.append((pos, len(relation.params)))
        pos += 1 + len(relation.params)
    return out


def test_shrink_step_scales_towards_identity_and_keeps_the_noise_seed(planted):
    step = Step("gaussian_noise", {"sigma": 0.2, "seed": 41})
    assert shrink_step(step, 1.0).params["sigma"] == step.params["sigma"]
    half = shrink_step(step, 0.5)
    assert half.params["seed"] == 41
    assert 0.0 < half.params["sigma"] < step.params["sigma"]
    x = planted.seeds(1)[0]
    assert np.array_equal(shrink_step(step, 0.0).apply(x), x)


def test_repair_makes_rejected_candidates_valid_at_the_boundary_without_queries(planted):
    space = SearchSpace.from_names()
    blocks = _blocks(space)
    pair = ModelPair(planted.reference, planted.candidate(0.05))
    x = planted.seeds(1)[0]
    validity = Validity.parse(STRICT)
    ev = SeedEvaluator(pair, x, 0, 100, validity)
    pop = _population(space, 30)
    before = [validity.check(metrics(x, _chain(space, ind).apply(x))) for ind in pop]
    assert not all(before)  # the strong samples break psnr>=20: there is something to repair
    original = [(list(ind), list(ind.tail)) for ind in pop]
    steps = 5
    repair(ev, space, pop, steps, blocks)
    assert ev.queries == 0 and pair.queries == 0  # validity only, no model query
    repaired = 0
    identity = space.identity_genome()
    for ind, ok, (genes, tail) in zip(pop, before, original):
        valid_now = validity.check(metrics(x, _chain(space, ind).apply(x)))
        if ok:
            assert list(ind) == genes  # valid candidates are left alone
            continue
        if list(ind) == genes:
            assert not valid_now  # no valid strength found: left as is, still invalid
            continue
        repaired += 1
        assert valid_now
        # The repaired strength t = j / 2**steps; the next point up is rejected.
        old, new = np.asarray(genes), np.asarray(ind)
        moved = [g for pos, w in blocks if genes[pos] >= 0.5 for g in range(pos + 1, pos + 1 + w)
                 if abs(old[g] - identity[g]) > 1e-9]
        t = (new[moved[0]] - identity[moved[0]]) / (old[moved[0]] - identity[moved[0]])
        stronger = shrink(_individual(genes, tail), t + 1.0 / 2**steps, identity, blocks)
        assert not validity.check(metrics(x, _chain(space, stronger).apply(x)))
    assert repaired > 0


def _run(planted, params: dict, rule: str, budget: int, n: int = 3, rng: int = 5):
    pair = ModelPair(planted.reference, planted.candidate(0.05))
    space = SearchSpace.from_names()
    out = []
    for i, x in enumerate(planted.seeds(n)):
        ev = SeedEvaluator(pair, x, i, budget, Validity.parse(rule), mode="many")
        get_strategy("genetic", params=params).search(ev, space, np.random.default_rng([rng, i]))
        out.append(ev)
    return out


def test_repair_is_reproducible_spends_the_budget_exactly_and_its_divergences_replay(planted):
    first, second = _run(planted, {"repair": 4}, STRICT, 80), _run(planted, {"repair": 4}, STRICT, 80)
    assert [(ev.queries, [(d.chain, d.queries) for d in ev.divergences]) for ev in first] == [
        (ev.queries, [(d.chain, d.queries) for d in ev.divergences]) for ev in second
    ]
    validity = Validity.parse(STRICT)
    for i, ev in enumerate(first):
        assert ev.queries == 80
        for d in ev.divergences:
            mutant = d.chain.apply(planted.seeds(3)[i])
            assert validity.check(metrics(planted.seeds(3)[i], mutant))


def test_repair_wastes_fewer_queries_on_rejected_candidates(planted):
    plain = sum(ev.rejected for ev in _run(planted, {"repair": 0}, STRICT, 100))
    repaired = sum(ev.rejected for ev in _run(planted, {"repair": 5}, STRICT, 100))
    assert repaired < plain / 2


def test_log_objective_keeps_a_slope_where_probabilities_saturate_and_keeps_the_sign():
    from diverfuzz.fuzzer.search.genetic import log_disagreement_margin
    from diverfuzz.fuzzer.search.objectives import disagreement_margin

    def probs(gap):
        logits = np.array([[gap, 0.0, -5.0]])
        e = np.exp(logits - logits.max())
        return e / e.sum()

    far, near = probs(30.0), probs(20.0)
    saturated = [disagreement_margin(p, p)[0] for p in (far, near)]
    assert np.allclose(saturated, -1.0, atol=1e-6)  # no slope left in probabilities
    assert log_disagreement_margin(far, far)[0] < log_disagreement_margin(near, near)[0] < 0
    flipped = probs(-1.0)
    assert log_disagreement_margin(near, flipped)[0] > 0  # positive exactly at a divergence
    assert -1 < log_disagreement_margin(far, far)[0]  # above every penalised invalid candidate


def test_unknown_objective_and_negative_repair_are_refused():
    import pytest

    from diverfuzz.common.errors import DiverfuzzError

    with pytest.raises(DiverfuzzError, match="objective='gap'"):
        get_strategy("genetic", params={"objective": "gap"})
    with pytest.raises(DiverfuzzError, match="repair=-1"):
        get_strategy("genetic", params={"repair": -1})
