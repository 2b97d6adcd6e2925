"""Boundary bisection of the genetic search (``GeneticSearch(bisect=k)``).

When a candidate makes both models agree on a label other than the seed's,
each model changed its label somewhere between the seed and it; bisection on
the chain's strength finds the place where they disagree.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.search import SearchSpace, get_strategy
from diverfuzz.fuzzer.search.evaluate import SeedEvaluator
from diverfuzz.fuzzer.search.genetic import _individual, bisect_boundary, crossed_over
from diverfuzz.models.pair import ModelPair
from diverfuzz.relations import Validity

REF_AT, CAND_AT = 0.55, 0.5501  # mean brightness at which each model switches to class 1


def _threshold_model(at: float):
    def model(x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=tuple(range(1, x.ndim)))
        return torch.stack([torch.full_like(m, at), m], dim=1)

    return model


def _pair() -> ModelPair:
    return ModelPair(_threshold_model(REF_AT), _threshold_model(CAND_AT))


def _seed() -> np.ndarray:
    return np.full((1, 8, 8), 0.4, dtype=np.float32)


def _brightness_space() -> SearchSpace:
    return SearchSpace.from_names(["brightness"])


def test_crossed_over_marks_rows_where_both_models_left_the_seed_label():
    pair, space = _pair(), _brightness_space()
    ev = SeedEvaluator(pair, _seed(), 0, 10, Validity.parse("ssim>=0"))
    # delta -0.3 (stays class 0), +0.3 (mean 0.7: both say 1), +0.15005 (mean 0.55005: only the reference says 1)
    genomes = [[0.75, 0.0], [0.75, 1.0], [0.75, (0.15005 + 0.3) / 0.6]]
    result = ev.evaluate([space.decode(_individual(g)) for g in genomes])
    assert crossed_over(result, seed_label=0).tolist() == [False, True, False]
    assert result.diverged.tolist() == [False, False, True]


def test_bisection_finds_the_divergence_between_the_two_boundaries():
    pair, space = _pair(), _brightness_space()
    seed = _seed()
    ev = SeedEvaluator(pair, seed, 0, 100, Validity.parse("ssim>=0"))
    beyond = _individual([0.75, 1.0])  # +0.3: both models say 1
    blocks = [(0, 1)]
    bisect_boundary(ev, space, [beyond], seed_label=0, steps=20, blocks=blocks)
    d = ev.divergence
    assert d is not None
    assert ev.queries <= 20
    x = d.chain.apply(seed)
    assert REF_AT < x.mean() < CAND_AT  # between the boundaries, and it replays from the stored chain
    ref, cand = pair.logits(x[None])
    assert ref.argmax() == 1 and cand.argmax() == 0


def test_bisection_stops_at_the_step_limit_when_the_gap_is_too_narrow():
    pair = ModelPair(_threshold_model(REF_AT), _threshold_model(REF_AT + 1e-6))
    ev = SeedEvaluator(pair, _seed(), 0, 100, Validity.parse("ssim>=0"))
    bisect_boundary(ev, _brightness_space(), [_individual([0.75, 1.0])], seed_label=0, steps=4, blocks=[(0, 1)])
    assert ev.queries == 4 and ev.divergence is None


def test_genetic_with_bisection_finds_what_the_margin_alone_misses_and_is_reproducible():
    pair, space = _pair(), _brightness_space()
    validity = Validity.parse("ssim>=0")

    def run(bisect: int, rng_seed: int):
        ev = SeedEvaluator(pair, _seed(), 0, 60, validity)
        get_strategy("genetic", params={"bisect": bisect}).search(ev, space, np.random.default_rng(rng_seed))
        return ev

    with_bisect = [run(16, r) for r in range(5)]
    assert all(ev.divergence is not None for ev in with_bisect)
    # The disagreement band is 1e-4 wide in mean brightness: the margin alone does not land in it.
    assert all(run(0, r).divergence is None for r in range(5))
    again = run(16, 0)
    assert again.divergence.chain == with_bisect[0].divergence.chain
    assert again.queries == with_bisect[0].queries


def test_negative_bisect_is_refused():
    with pytest.raises(DiverfuzzError, match="bisect=-1"):
        get_strategy("genetic", params={"bisect": -1})


def test_screening_probes_every_relation_alone_and_ranks_the_one_that_moves_the_models_first():
    from diverfuzz.fuzzer.search.genetic import GeneticSearch, _Credit

    # Only brightness moves the mean-brightness models; blur and rotation keep the mean (nearly) as is.
    space = SearchSpace.from_names(["gaussian_blur", "brightness", "rotation"])
    search = GeneticSearch(screen=3)
    blocks = search._blocks(space)
    ev = SeedEvaluator(_pair(), _seed(), 0, 100, Validity.parse("ssim>=0"))
    credit = _Credit(len(blocks), p_min=0.0)
    pop = search._screen(ev, space, np.random.default_rng(0), blocks, space.identity_genome(), credit, set(), None, 4)
    assert ev.queries == 3 * len(blocks)
    assert int(np.argmax(credit.probs())) == 1  # brightness
    assert len(pop) == 4
    for ind in pop:  # every probe switches exactly one relation on
        assert sum(ind[pos] >= 0.5 for pos, _ in blocks) == 1


def test_negative_screen_is_refused():
    with pytest.raises(DiverfuzzError, match="screen=-2"):
        get_strategy("genetic", params={"screen": -2})
