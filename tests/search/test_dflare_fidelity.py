"""DFlare as its authors' code runs it: 8-bit operators, seeded coverage, its fitness and acceptance rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diverfuzz.fuzzer.search import SearchSpace
from diverfuzz.fuzzer.search.dflare import OPERATORS, DFlareSearch, operator_step
from diverfuzz.fuzzer.search.evaluate import SeedEvaluator
from diverfuzz.fuzzer.search.objectives import probability_gap, top_probability_gap
from diverfuzz.models.pair import ModelPair
from diverfuzz.relations import Validity, get_relation
from diverfuzz.relations.registry import BASELINE_OPERATORS, names_for_kind

DFLARE_RELATIONS = ("dflare_gaussian_noise", "dflare_salt_pepper", "dflare_multiplicative_noise", "dflare_pixel_change")


def eight_bit(shape, seed=0, low=0, high=256):
    """An 8-bit image ``u8`` and the float32 input ``u8 / 255`` the project feeds its relations."""
    u8 = np.random.default_rng(seed).integers(low, high, shape).astype(np.uint8)
    return u8, u8.astype(np.float32) / np.float32(255.0)


def authors(u8: np.ndarray, name: str, params: dict) -> np.ndarray:
    """The authors' ``myLib/img_mutations.py`` arithmetic re-stated in NumPy on the 8-bit image.

    Draws come from ``np.random.default_rng(seed)`` (the authors use NumPy's global
    generator); the clip to [0, 255] precedes the uint8 cast (the authors clip after it,
    in ``MutationP.mut``, which differs only where a value leaves [0, 255]).
    """
    rng = np.random.default_rng(params["seed"])
    img = u8.astype(np.float64)
    if name == "dflare_gaussian_noise":  # image_noise_gd
        noisy = img + rng.normal(0, params["sigma"], img.shape)
    elif name == "dflare_salt_pepper":  # image_noise_rp
        noisy = np.copy(img)
        num_salt = np.ceil(params["amount"] * img.size * 0.5)
        noisy[tuple(rng.integers(0, i, int(num_salt)) for i in img.shape)] = 255
        num_pepper = np.ceil(params["amount"] * img.size * (1.0 - 0.5))
        noisy[tuple(rng.integers(0, i, int(num_pepper)) for i in img.shape)] = 0
    elif name == "dflare_multiplicative_noise":  # image_noise_ml
        gauss = rng.normal(params["mean"], params["sigma"], img.shape)
        noisy = img + img * gauss
    elif name == "dflare_pixel_change":  # image_pixel_change
        img1d = np.ravel(img).copy()
        arr = rng.integers(0, len(img1d), params["count"])
        values = rng.integers(0, 256, params["count"])
        for i, v in zip(arr, values):
            img1d[i] = v
        noisy = img1d.reshape(img.shape)
    else:
        raise ValueError(name)
    return np.clip(noisy, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
@pytest.mark.parametrize("draw", range(5))
def test_dflare_operators_equal_the_authors_uint8_arithmetic_bit_for_bit(shape, draw):
    u8, x = eight_bit(shape, seed=draw)
    rng = np.random.default_rng(100 + draw)
    for name in DFLARE_RELATIONS:
        step = operator_step(name, rng)  # the authors' parameter draws
        got = get_relation(name).apply(x, **step.params)
        want = authors(u8, name, dict(step.params))
        assert got.dtype == np.float32
        assert np.array_equal(got, want.astype(np.float32) / np.float32(255.0)), (name, step.params)
        # Every mutant is an 8-bit image: its values times 255 are integers.
        assert np.array_equal(got * np.float32(255.0), np.rint(got * np.float32(255.0)))
    # Where no value leaves [0, 255], the authors' exact order (cast, then clip) agrees too.
    u8, x = eight_bit(shape, seed=draw, low=2, high=254)
    params = {"sigma": float(np.sqrt(0.1)), "seed": 7 + draw}
    noisy = u8.astype(np.float64) + np.random.default_rng(7 + draw).normal(0, np.sqrt(0.1), u8.shape)
    cast_then_clip = np.clip(noisy.astype(np.uint8), 0, 255)
    assert np.array_equal(get_relation("dflare_gaussian_noise").apply(x, **params) * 255, cast_then_clip)


def test_gaussian_noise_of_variance_0_1_now_changes_levels_through_truncation():
    _, x = eight_bit((1, 28, 28), seed=3, low=1, high=256)
    new = get_relation("dflare_gaussian_noise").apply(x, sigma=float(np.sqrt(0.1)), seed=11)
    step = np.rint((new - x) * 255)
    # Truncation lowers by one level every element whose noise is in (-1, 0): about half
    # (|noise| >= 1, 3.2 standard deviations, moves a few by another level).
    assert np.all(np.abs(step) <= 2) and np.mean(np.abs(step) == 2) < 0.01
    assert 0.4 < np.mean(step == -1) < 0.6
    # The old port (float, sigma sqrt(0.1) / 255) moves values by a fraction of a level,
    # unbiased: twenty applications (as DFlare's mutations accumulate) leave the image where
    # it was on average, while the truncation of the 8-bit operator darkens it by about ten levels.
    new, old = x, x
    for seed in range(20):
        new = get_relation("dflare_gaussian_noise").apply(new, sigma=float(np.sqrt(0.1)), seed=seed)
        old = get_relation("gaussian_noise").apply(old, sigma=float(np.sqrt(0.1) / 255.0), seed=seed)
    assert np.mean(old - x) * 255 == pytest.approx(0.0, abs=0.2) and np.max(np.abs(old - x)) * 255 < 7
    assert np.mean(new - x) * 255 < -8

def test_dflare_operators_are_baseline_operators_outside_the_default_space():
    assert set(DFLARE_RELATIONS) <= BASELINE_OPERATORS
    assert not set(DFLARE_RELATIONS) & set(names_for_kind("image"))
    assert set(DFLARE_RELATIONS) <= set(OPERATORS)
    # The recorded relations are unchanged: the old float operators still replay as before.
    x = eight_bit((1, 8, 8))[1]
    assert np.array_equal(
        get_relation("gaussian_noise").apply(x, sigma=0.05, seed=3),
        np.clip(x + np.random.default_rng(3).normal(0, 0.05, x.shape), 0, 1).astype(np.float32),
    )


def constant(logits):
    """A model whose output ignores its input."""
    row = torch.tensor(logits, dtype=torch.float32)
    return lambda x: row.repeat(len(x), 1)


def recorder(ev: SeedEvaluator) -> list:
    seen: list = []
    evaluate = ev.evaluate
    ev.evaluate = lambda chains: seen.extend(chains) or evaluate(chains)
    return seen


def seed_image() -> np.ndarray:
    return eight_bit((1, 8, 8), seed=5, low=90, high=140)[1]


def test_coverage_starts_with_the_seed_state_so_a_mutant_with_that_state_is_not_novel():
    # Both models ignore the input: every mutant's state equals the seed's and its gap is 0.
    pair = ModelPair(constant([2.0, 1.0]), constant([2.0, 1.0]))
    ev = SeedEvaluator(pair, seed_image(), 0, 25, Validity.parse("linf<=1"))
    seen = recorder(ev)
    DFlareSearch().search(ev, SearchSpace.from_names(), np.random.default_rng(0))
    # The seed is queried first (the empty chain), counted against the budget.
    assert seen[0].steps == () and len(seen) == 25 and ev.queries == 25
    # No mutant is ever novel, so none is accepted: every candidate mutates the seed.
    # (The old port started with an empty coverage and accepted the first mutant.)
    assert all(len(c) == 1 for c in seen[1:])
    assert ev.divergence is None


def test_a_seed_that_already_diverges_is_the_divergence_after_one_query():
    pair = ModelPair(constant([2.0, 1.0]), constant([1.0, 2.0]))
    ev = SeedEvaluator(pair, seed_image(), 0, 25, Validity.parse("linf<=1"))
    DFlareSearch().search(ev, SearchSpace.from_names(), np.random.default_rng(0))
    assert ev.queries == 1 and ev.divergence is not None and ev.divergence.chain.steps == ()


def test_fitness_is_each_models_own_top_probability():
    ref = np.array([[0.7, 0.2, 0.1], [0.7, 0.2, 0.1], [0.2, 0.5, 0.3]])
    cand = np.array([[0.6, 0.3, 0.1], [0.3, 0.6, 0.1], [0.1, 0.2, 0.7]])
    assert top_probability_gap(ref, cand) == pytest.approx([0.1, 0.1, -0.2])
    # The reference-label gap agrees while both models agree (row 0), not after (rows 1-2).
    assert probability_gap(ref, cand) == pytest.approx([0.1, 0.4, 0.3])


def gentle(slope: float):
    """Two classes; class 1's logit moves gently with the mean brightness (class 0 always wins)."""

    def model(x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=tuple(range(1, x.ndim)))
        return torch.stack([torch.ones(len(x)), torch.tanh(slope * (m - 0.45)) * 0.5], dim=1)

    return model


def test_acceptance_is_the_authors_better_than_on_the_top_probability_gap():
    # States stay within 0.5 of the seed's (probabilities move by < 0.2), so only the gap decides.
    pair = ModelPair(gentle(4.0), gentle(-4.0))
    x = seed_image()
    ev = SeedEvaluator(pair, x, 0, 80, Validity.parse("linf<=1"))
    seen = recorder(ev)
    DFlareSearch().search(ev, SearchSpace.from_names(), np.random.default_rng(4))
    assert seen[0].steps == () and ev.divergence is None
    ref, cand = pair.logits(np.stack([c.apply(x) for c in seen]))
    ref, cand = torch.softmax(torch.tensor(ref), 1).numpy(), torch.softmax(torch.tensor(cand), 1).numpy()
    states = np.concatenate([ref, cand], axis=1)
    assert np.max(np.sum((states - states[0]) ** 2, axis=1)) <= 0.5
    diffs = top_probability_gap(ref, cand)
    best, current, accepted = 0.0, (), []
    for c, d in zip(seen[1:], diffs[1:]):
        assert c.steps[:-1] == current  # every candidate extends the latest accepted input
        if abs(abs(d) - abs(best)) > 1e-3:
            best, current = d, c.steps
            accepted.append(True)
        else:
            accepted.append(False)
    assert any(accepted) and not all(accepted)


def darker_than(threshold: float):
    """Class 1 once the mean brightness falls below ``threshold``."""

    def model(x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=tuple(range(1, x.ndim)))
        return torch.stack([torch.ones(len(x)), 1.0 + 200.0 * (threshold - m)], dim=1)

    return model


def test_dflare_search_finds_a_divergence_the_seed_lacks_and_it_replays():
    x = seed_image()
    pair = ModelPair(constant([1.0, 0.0]), darker_than(float(x.mean()) - 0.03))
    found = []
    for _ in range(2):
        ev = SeedEvaluator(pair, x, 0, 400, Validity.parse("linf<=1"))
        DFlareSearch().search(ev, SearchSpace.from_names(), np.random.default_rng(1))
        assert ev.divergence is not None and len(ev.divergence.chain) >= 1
        found.append(ev.divergence)
    ref0, cand0 = pair.logits(x[None])
    assert ref0.argmax() == cand0.argmax()  # the unmodified seed does not diverge
    d = found[0]
    mutant = d.chain.apply(x)
    assert np.array_equal(mutant, ev._prefixes.apply([d.chain], x)[0])
    ref, cand = pair.logits(mutant[None])
    assert (int(ref.argmax()), int(cand.argmax())) == (d.reference_label, d.candidate_label)
    assert d.reference_label != d.candidate_label
    assert found[0].chain.to_json() == found[1].chain.to_json() and found[0].queries == found[1].queries
