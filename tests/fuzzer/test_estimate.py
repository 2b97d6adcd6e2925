"""diverfuzz estimate's sampling and intervals: coverage on a pair whose probability is known by construction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.estimate import CLEAN, draw_chains, estimate, parse_severities, worst_cell
from diverfuzz.models.pair import ModelPair
from diverfuzz.oracles.rates import clopper_pearson, seed_rate
from diverfuzz.relations.natural_ranges import NATURAL_RANGES

#: The candidate says class 1 when an input's mean value exceeds this; the reference always says 0.
THRESHOLD = 0.58


def _reference(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.zeros(len(x)), -torch.ones(len(x))], dim=1)


def _candidate(x: torch.Tensor) -> torch.Tensor:
    mean = x.reshape(len(x), -1).mean(dim=1)
    return torch.stack([torch.zeros(len(x)), (mean > THRESHOLD).float() * 2 - 1], dim=1)


def _flat_seeds(values: np.ndarray, size: int = 2) -> np.ndarray:
    return (np.asarray(values, dtype=np.float32)[:, None, None, None] * np.ones((1, 1, size, size), np.float32))


def test_the_95_interval_covers_a_probability_known_by_construction():
    # Brightness adds delta ~ U[lo, hi] (severity 3's range) to a flat seed of value c, so the
    # candidate disagrees exactly when delta > THRESHOLD - c: with probability
    # clip((hi - THRESHOLD + c) / (hi - lo), 0, 1) on that seed. Seeds are drawn anew in every
    # repetition (c ~ U[0.45, 0.6]), so the truth is that probability averaged over c.
    lo, hi = NATURAL_RANGES["brightness"].bounds("delta", 3)
    grid = np.linspace(0.45, 0.6, 200_001)
    truth = float(np.clip((hi - THRESHOLD + grid) / (hi - lo), 0.0, 1.0).mean())
    assert 0.1 < truth < 0.3
    pair = ModelPair(_reference, _candidate)
    rng = np.random.default_rng(2026)
    covered, estimates = 0, []
    for repetition in range(200):
        x = _flat_seeds(rng.uniform(0.45, 0.6, 40))
        result = estimate(pair, x, np.zeros(40, np.int64), relations=["brightness"], samples=20, severities=[3],
                          rng_seed=repetition)
        cell = worst_cell(result.records(), "brightness", 3)
        assert cell["samples"] == 800 and cell["seeds"] == 40 and cell["method"] == "bootstrap-seeds"
        covered += cell["low"] <= truth <= cell["high"]
        estimates.append(cell["probability"])
    assert covered >= 186, f"the 95% interval covered the truth {truth:.4f} in {covered} of 200 repetitions"
    assert abs(np.mean(estimates) - truth) < 0.01  # the point estimate is unbiased


def test_an_identical_pair_gives_zero_with_upper_bounds_shrinking_as_3_over_n():
    pair = ModelPair(_candidate, _candidate)
    x = _flat_seeds(np.linspace(0.3, 0.7, 10))
    highs = {}
    for samples in (10, 40):
        result = estimate(pair, x, relations=["brightness", "gaussian_noise"], samples=samples, severities="1-5")
        records = result.records()
        assert len(records) == 1 + 2 * 5
        assert all(r["probability"] == 0.0 and r["low"] == 0.0 and r["disagreements"] == 0 for r in records)
        drawn = [r for r in records if r["relation"] != CLEAN]
        n = 10 * samples
        assert all(r["samples"] == n and r["method"] == "exact-draws" for r in drawn)
        # Two-sided 95% Clopper-Pearson with no event: 1 - 0.025 ** (1 / n), about 3.7 / n.
        assert all(r["high"] == pytest.approx(1 - 0.025 ** (1 / n)) for r in drawn)
        assert all(3.0 / n < r["high"] < 3.8 / n for r in drawn)
        highs[samples] = drawn[0]["high"]
    assert highs[40] == pytest.approx(highs[10] / 4, rel=0.02)


def test_severity_zero_is_the_clean_rate_with_an_exact_interval_over_seeds():
    pair = ModelPair(_reference, _candidate)
    x = _flat_seeds([0.5, 0.5, 0.5, 0.7, 0.9])  # the candidate disagrees on the last two, unchanged
    result = estimate(pair, x, np.array([0, 0, 1, 1, 1]), relations=["brightness"], samples=5, severities=[1])
    clean = worst_cell(result.records(), severity=0)
    assert clean["relation"] == CLEAN and clean["samples"] == 5 and clean["disagreements"] == 2
    assert (clean["low"], clean["high"]) == pytest.approx(clopper_pearson(2, 5))
    assert clean["method"] == "exact-seeds"
    by_class = {c["label"]: c for c in clean["per_class"]}
    assert by_class[0]["probability"] == 0.0 and by_class[1]["probability"] == pytest.approx(2 / 3)


def test_draws_are_uniform_within_the_severity_range_and_replayable():
    lo, hi = NATURAL_RANGES["rotation"].bounds("angle", 2)
    chains = draw_chains("rotation", 2, 2000, np.random.default_rng(5))
    angles = np.array([c.steps[0].params["angle"] for c in chains])
    assert lo <= angles.min() and angles.max() <= hi
    assert angles.min() < lo + 0.05 * (hi - lo) and angles.max() > hi - 0.05 * (hi - lo)
    assert abs(np.mean(angles) - (lo + hi) / 2) < 0.05 * (hi - lo)
    again = draw_chains("rotation", 2, 2000, np.random.default_rng(5))
    assert [c.to_json() for c in again] == [c.to_json() for c in chains]


def test_kept_draws_replay_to_the_same_labels():
    pair = ModelPair(_reference, _candidate)
    x = _flat_seeds(np.linspace(0.5, 0.6, 6))
    first = estimate(pair, x, relations=["brightness", "gaussian_noise"], samples=8, severities=[5], keep=True)
    second = estimate(pair, x, relations=["brightness", "gaussian_noise"], samples=8, severities=[5], keep=True)
    assert first.records() == second.records()  # seeded: the same draws and intervals
    disagreements = sum(r["disagreements"] for r in first.records())
    assert disagreements == len(first.kept) > 0
    for d in first.kept:
        mutant = d.chain.apply(x[d.seed_index])
        ref, cand = pair.logits(mutant[None])
        assert (int(ref.argmax()), int(cand.argmax())) == (d.reference_label, d.candidate_label) == (0, 1)


def test_seed_rate_picks_the_interval_by_design():
    assert seed_rate([1, 0, 1], [1, 1, 1]).method == "exact-seeds"
    assert seed_rate([5, 5], [5, 5]).method == "exact-draws"
    spread = seed_rate([0, 3, 9, 1], [10, 10, 10, 10])
    assert spread.method == "bootstrap-seeds" and spread.low < spread.probability < spread.high
    with pytest.raises(DiverfuzzError, match="0 <= disagreements <= draws"):
        seed_rate([3], [2])


@pytest.mark.parametrize(
    "text, message",
    [("1-7", "severity 6 is not one of 0-5"), ("5-1", "runs backwards"), ("one", "expected severities 1-5")],
)
def test_bad_severities_are_one_line_errors(text, message):
    with pytest.raises(DiverfuzzError, match=message):
        parse_severities(text)
    assert parse_severities("1-3,5") == (1, 2, 3, 5) and parse_severities("0,2") == (2,)


def test_bad_arguments_are_refused_before_drawing():
    pair = ModelPair(_reference, _candidate)
    x = _flat_seeds([0.5])
    with pytest.raises(DiverfuzzError, match="--samples=0"):
        estimate(pair, x, relations=["brightness"], samples=0)
    with pytest.raises(DiverfuzzError, match="unknown"):
        estimate(pair, x, relations=["no_such_relation"], samples=1)
    with pytest.raises(DiverfuzzError, match="channel_shift: it does not apply to image inputs of shape"):
        estimate(pair, x, relations=["channel_shift"], samples=1)  # an RGB relation on a grey input
