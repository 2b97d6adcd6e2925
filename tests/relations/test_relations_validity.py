"""Validity metrics, constraint parsing and batch evaluation."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diverfuzz.relations import (
    DEFAULT_VALIDITY,
    Chain,
    RelationError,
    Step,
    Validity,
    apply_batch,
    evaluate_batch,
    l0,
    l2,
    linf,
    metrics,
    natural,
    psnr,
    ssim,
)
from diverfuzz.relations.strategies import images


@settings(max_examples=25, deadline=None)
@given(x=images(channels=st.integers(1, 7), size=st.integers(3, 20)))
def test_self_metrics(x):
    m = metrics(x, x)
    assert m["ssim"] == 1.0
    assert m["psnr"] == math.inf
    assert m["l0"] == 0.0 and m["l2"] == 0.0 and m["linf"] == 0.0
    assert set(m) == {"ssim", "psnr", "l0", "l2", "linf"}


def test_metric_values():
    x = np.zeros((2, 8, 8), np.float32)
    y = x.copy()
    y[0, 0, :4] = 0.5
    assert l0(x, y) == pytest.approx(4 / 128)
    assert l2(x, y) == pytest.approx(1.0)
    assert linf(x, y) == pytest.approx(0.5)
    assert psnr(x, y) == pytest.approx(10 * math.log10(1 / (1.0 / 128)))
    assert ssim(x, y) < 1.0


@pytest.mark.parametrize("shape", [(1, 3, 3), (1, 4, 6), (3, 5, 5), (1, 6, 6), (20, 16, 16)])
def test_ssim_small_and_many_channels(shape):
    rng = np.random.default_rng(1)
    x = rng.random(shape).astype(np.float32)
    y = np.clip(x + rng.normal(0, 0.1, shape), 0, 1).astype(np.float32)
    s = ssim(x, y)
    assert -1.0 <= s < 1.0


def test_metric_errors():
    with pytest.raises(RelationError, match="shape"):
        ssim(np.zeros((1, 8, 8)), np.zeros((1, 8, 9)))
    with pytest.raises(RelationError, match="at least 3x3"):
        ssim(np.zeros((1, 2, 8)), np.ones((1, 2, 8)))


@pytest.mark.parametrize(
    "text, canonical",
    [
        ("ssim>=0.8", "ssim>=0.8"),
        ("ssim >= 0.8 and linf <= 0.3", "ssim>=0.8 and linf<=0.3"),
        ("psnr>=20", "psnr>=20.0"),
        ("SSIM > 0.5 AND l0 < 0.1", "ssim>0.5 and l0<0.1"),
        ("ssim>=0.7 & l2<=3", "ssim>=0.7 and l2<=3.0"),
        ("", "none"),
        ("none", "none"),
        ("  None ", "none"),
        (DEFAULT_VALIDITY, "natural and psnr>=20.0"),
        ("natural:2 and ssim>=0.9", "natural:2 and ssim>=0.9"),
    ],
)
def test_parse_str_round_trip(text, canonical):
    v = Validity.parse(text)
    assert str(v) == canonical
    assert Validity.parse(str(v)) == v


@settings(max_examples=50, deadline=None)
@given(
    clauses=st.lists(
        st.tuples(
            st.sampled_from(["ssim", "psnr", "l0", "l2", "linf"]),
            st.sampled_from([">=", "<=", ">", "<"]),
            st.floats(allow_nan=False),
        ),
        max_size=4,
    )
)
def test_str_parse_round_trip_property(clauses):
    v = Validity(tuple(clauses))
    assert Validity.parse(str(v)) == v


@pytest.mark.parametrize(
    "text, match",
    [
        ("ssim=0.8", "'ssim=0.8'.*accepted metrics: ssim, psnr, l0, l2, linf"),
        ("mse<=0.1", "metric='mse'"),
        ("ssim>=high", "threshold='high'"),
        ("ssim>=0.8 and", "malformed"),
        ("ssim>=nan", "NaN"),
        ("ssim >= 0.8 or linf <= 0.3", "malformed"),
    ],
)
def test_parse_errors(text, match):
    with pytest.raises(RelationError, match=match):
        Validity.parse(text)


def test_check_both_sides_of_threshold():
    v = Validity.parse("ssim>=0.8 and linf<0.3")
    assert v.check({"ssim": 0.8, "linf": 0.29})
    assert not v.check({"ssim": 0.79, "linf": 0.1})
    assert not v.check({"ssim": 0.9, "linf": 0.3})
    assert Validity.parse("psnr>20").check({"psnr": math.inf})
    assert Validity.parse("none").check({})
    assert v.needed_metrics() == frozenset({"ssim", "linf"})
    with pytest.raises(RelationError, match="'ssim' is missing"):
        v.check({"linf": 0.0})


def test_evaluate_batch():
    x = np.random.default_rng(0).random((3, 16, 16)).astype(np.float32)
    cs = [
        Chain(()),
        Chain((Step("brightness", {"delta": 0.01}),)),
        Chain((Step("occlusion", {"size": 0.5, "cx": 0.5, "cy": 0.5, "value": 1.0}),)),
    ]
    mutants = apply_batch(cs, x)
    valid, ms = evaluate_batch("linf<=0.1", x, mutants)
    assert valid.dtype == bool and valid.tolist() == [True, True, False]
    assert len(ms) == 3 and ms[0]["psnr"] == math.inf
    assert ms[2] == metrics(x, mutants[2])
    valid2, _ = evaluate_batch(Validity.parse("linf<=0.1"), x, mutants)
    assert np.array_equal(valid, valid2)
    with pytest.raises(RelationError, match="mutants.shape"):
        evaluate_batch("none", x, mutants[0])


def test_default_validity_on_digits():
    sklearn = pytest.importorskip("sklearn.datasets")
    digits = (sklearn.load_digits().images[:10] / 16.0).astype(np.float32)[:, None]
    v = Validity.parse(DEFAULT_VALIDITY)
    mild = Chain((Step("rotation", {"angle": 10.0}), Step("gaussian_noise", {"sigma": 0.05, "seed": 0})))
    heavy = Chain((Step("gaussian_blur", {"sigma": 2.0}),))
    for chain, expected in ((mild, True), (heavy, False)):
        mutants = np.stack([chain.apply(d) for d in digits])
        valid = [bool(natural.judge(v, d, [chain], m[None])[0][0]) for d, m in zip(digits, mutants)]
        assert valid == [expected] * len(digits), chain
    # The old single-metric default judged the rotated digits against the unmoved seed.
    assert not all(Validity.parse("psnr>=20").check(metrics(d, mild.apply(d))) for d in digits)
