"""Divergences that matter: margins recorded, near-ties told apart, --min-margin counts and pursues decisive ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diverfuzz.fuzzer.search import GeneticSearch, SearchSpace
from diverfuzz.fuzzer.search.evaluate import (
    SeedEvaluator,
    reference_margins,
    top_two_gap,
)
from diverfuzz.fuzzer.search.objectives import decisive
from diverfuzz.models.pair import ModelPair
from diverfuzz.relations import Chain, Step, Validity, natural


def _seed() -> np.ndarray:
    rng = np.random.default_rng(5)
    return np.clip(0.4 + rng.normal(0, 0.05, size=(1, 16, 16)), 0, 1).astype(np.float32)


def _brightness_pair(width: float):
    """Reference: class 1 beyond mean brightness 0.5, sure far from it (logit slope 40);
    candidate: the same with its threshold moved to ``0.5 - width``. They disagree on means in
    ``(0.5 - width, 0.5)``, where the reference's margin grows with the distance from 0.5."""

    def reference(x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=tuple(range(1, x.ndim)))
        return torch.stack([40 * (0.5 - m), 40 * (m - 0.5)], dim=1)

    def candidate(x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=tuple(range(1, x.ndim)))
        return torch.stack([40 * (0.5 - width - m), 40 * (m - 0.5 + width)], dim=1)

    return reference, candidate


def test_margins_are_top_one_minus_top_two():
    assert top_two_gap((0.7, 0.2, 0.1)) == pytest.approx(0.5)
    assert top_two_gap((0.5005, 0.4995)) == pytest.approx(0.001)
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.45, 0.45]])
    assert reference_margins(probs).tolist() == pytest.approx([0.5, 0.0])


def test_decisive_fitness_is_unchanged_at_zero_and_caps_near_ties_otherwise():
    fitness = np.array([0.3, 0.3])
    ref = np.array([[0.51, 0.49], [0.9, 0.1]])
    assert decisive(fitness, ref, 0.0) is fitness
    out = decisive(fitness, ref, 0.1)
    assert out[0] == pytest.approx(0.02 - 0.1)  # a near-tie scores below zero
    assert out[1] == pytest.approx(0.3)  # a sure reference keeps its fitness


def test_a_divergence_records_its_margins_geometry_and_pixel_metrics_under_natural():
    reference, candidate = _brightness_pair(0.06)
    seed = _seed()
    ev = SeedEvaluator(ModelPair(reference, candidate), seed, 0, 50, Validity.parse("natural"))
    chain = Chain((Step("translation", {"dx": 0.06, "dy": 0.0}), Step("brightness", {"delta": 0.07})))
    result = ev.evaluate([chain])
    assert result.valid.tolist() == [True] and result.diverged.tolist() == [True]
    d = ev.divergence
    row = d.to_dict()
    assert row["reference_margin"] == pytest.approx(top_two_gap(d.reference_probs))
    assert row["candidate_margin"] == pytest.approx(top_two_gap(d.candidate_probs))
    assert row["severity"] == natural.chain_severity(chain)
    assert row["geometry"] == [{"relation": "translation", "values": {"dx": pytest.approx(0.96), "dy": 0.0},
                                "units": {"dx": "pixels", "dy": "pixels"}}]
    moved = natural.geometric_steps(chain).apply(seed)
    expected = natural.judge(Validity.parse("natural"), seed, [chain], chain.apply(seed)[None])[2][0]
    assert row["pixel_validity"] == expected
    assert row["pixel_validity"]["psnr"] > row["validity"]["psnr"]  # the shift costs pixels, not naturalness
    assert moved.shape == seed.shape


def test_min_margin_looks_at_near_ties_but_does_not_count_them():
    reference, candidate = _brightness_pair(0.06)
    seed = _seed()
    near_tie = Chain((Step("brightness", {"delta": 0.5 - 0.0005 - float(seed.mean())}),))
    pair = ModelPair(reference, candidate)
    counted = SeedEvaluator(pair, seed, 0, 10, Validity.parse("none"))
    counted.evaluate([near_tie])
    assert counted.divergence is not None and counted.divergence.reference_margin < 0.05
    strict = SeedEvaluator(pair, seed, 0, 10, Validity.parse("none"), min_margin=0.05)
    result = strict.evaluate([near_tie])
    assert strict.divergence is None and result.diverged.tolist() == [False]
    assert strict.queries == 1  # the query still counts
    sure = Chain((Step("brightness", {"delta": 0.5 - 0.05 - float(seed.mean())}),))
    strict.evaluate([sure])
    assert strict.divergence is not None and strict.divergence.reference_margin >= 0.05


def test_min_margin_out_of_range_is_one_line_error():
    with pytest.raises(Exception, match="min-margin"):
        SeedEvaluator(ModelPair(lambda x: x, lambda x: x), _seed(), 0, 10, Validity(), min_margin=1.0)


def test_genetic_under_min_margin_finds_decisive_divergences():
    """The disagreement band is (0.44, 0.5): plain fitness stops at the first point in it,
    usually near 0.5 where the reference is undecided; --min-margin pursues the far side."""
    reference, candidate = _brightness_pair(0.06)
    pair = ModelPair(reference, candidate)
    found = []
    for seed_index in range(6):
        seed = np.clip(_seed() + 0.01 * seed_index, 0, 1).astype(np.float32)
        ev = SeedEvaluator(pair, seed, seed_index, 300, Validity.parse("none"), min_margin=0.3)
        GeneticSearch().search(ev, SearchSpace.from_names(["brightness", "contrast"]), np.random.default_rng(seed_index))
        found.append(ev.divergence)
    assert sum(d is not None for d in found) >= 5
    assert all(d.reference_margin >= 0.3 for d in found if d is not None)


def test_a_divergence_judged_first_without_ssim_is_recorded_with_every_metric():
    from diverfuzz.relations.validity import metrics

    reference, candidate = _brightness_pair(0.06)
    seed = _seed()
    ev = SeedEvaluator(ModelPair(reference, candidate), seed, 0, 50, Validity.parse("natural"))
    chain = Chain((Step("translation", {"dx": 0.06, "dy": 0.0}), Step("brightness", {"delta": 0.07})))
    assert ev.check([chain]).tolist() == [True]  # validity repair's check: judged without SSIM
    assert "ssim" not in ev.judge([chain])[2][0]
    ev.evaluate([chain])
    d = ev.divergence
    assert d.validity == metrics(seed, chain.apply(seed))
    assert d.pixel_validity == natural.judge(Validity.parse("natural"), seed, [chain], chain.apply(seed)[None])[2][0]
    assert "ssim" in d.validity and "ssim" in d.pixel_validity
