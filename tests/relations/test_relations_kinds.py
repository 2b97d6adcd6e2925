"""Properties of every relation for every kind it declares, and the kind API."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diverfuzz.relations import (
    REGISTRY,
    Chain,
    RelationError,
    Step,
    apply_batch,
    get_relation,
    infer_kind,
    names_for_kind,
)
from diverfuzz.relations.registry import BASELINE_OPERATORS
from diverfuzz.relations.strategies import inputs, params_for

PAIRS = [(name, kind) for name, rel in REGISTRY.items() for kind in sorted(rel.kinds)]
EXAMPLE_SHAPES = {"image": (3, 12, 12), "spectral": (16, 8, 8), "signal": (6, 64)}


def _example(kind, seed=0):
    shape = EXAMPLE_SHAPES[kind]
    return np.random.default_rng(seed).uniform(0.05, 0.95, shape).astype(np.float32)


def _fits(rel, x):
    return rel.accepts_channels(x.shape[0])


@settings(max_examples=15, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("name,kind", PAIRS)
def test_relation_properties(name, kind, data):
    rel = get_relation(name)
    x = data.draw(inputs(kind).filter(lambda a: _fits(rel, a)), label="x")
    before = x.copy()
    # identity parameters return the input unchanged (a copy)
    y0 = rel.apply(x, **rel.identity())
    assert np.array_equal(y0, x) and y0 is not x
    # random valid parameters keep shape, dtype and [0, 1]
    params = data.draw(params_for(rel), label="params")
    y = rel.apply(x, **params)
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.all(np.isfinite(y)) and y.min() >= 0.0 and y.max() <= 1.0
    # equal parameters give equal outputs; the input is not modified
    assert np.array_equal(rel.apply(x.copy(), **dict(params)), y)
    assert np.array_equal(x, before)
    # batched equals per input
    other = data.draw(params_for(rel), label="other")
    chains = [Chain((Step(name, params),)), Chain(()), Chain((Step(name, other),)),
              Chain((Step(name, params),))]
    batch = apply_batch(chains, x)
    assert batch.shape == (4,) + x.shape and batch.dtype == np.float32
    for row, c in zip(batch, chains):
        assert np.array_equal(row, c.apply(x))


@pytest.mark.parametrize("name,kind", PAIRS)
def test_strong_params_change_input(name, kind):
    rel = get_relation(name)
    x = _example(kind) if _fits(rel, _example(kind)) else None
    if x is None:
        pytest.skip("channel count not accepted")
    params = {k: s.denormalize(0.9) for k, s in rel.params.items()}
    assert not np.array_equal(rel.apply(x, **params), x)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_out_of_range_params_raise_clear_error(name):
    rel = get_relation(name)
    kind = sorted(rel.kinds)[0]
    x = _example(kind)
    for pname, spec in rel.params.items():
        span = spec.high - spec.low
        for bad in (spec.high + span + 1, spec.low - span - 1):
            params = rel.identity()
            params[pname] = int(bad) if spec.integer else float(bad)
            with pytest.raises(RelationError, match=rf"{pname}=.*out of range.*\[{spec.low}, {spec.high}\]"):
                rel.apply(x, **params)


@pytest.mark.parametrize("name", [n for n, r in REGISTRY.items() if "seed" in r.params])
def test_seed_matters_only_away_from_identity(name):
    rel = get_relation(name)
    kind = sorted(rel.kinds)[0]
    x = _example(kind)
    strong = {k: s.denormalize(0.9) for k, s in rel.params.items()}
    a = rel.apply(x, **{**strong, "seed": 1})
    assert np.array_equal(a, rel.apply(x, **{**strong, "seed": 1}))
    assert not np.array_equal(a, rel.apply(x, **{**strong, "seed": 2}))
    ident = rel.identity()
    assert np.array_equal(rel.apply(x, **{**ident, "seed": 12345}), x)


@pytest.mark.parametrize("c", [1, 4, 20])
def test_channel_shift_rejects_other_channel_counts(c):
    x = np.full((c, 8, 8), 0.5, np.float32)
    rel = get_relation("channel_shift")
    with pytest.raises(RelationError, match=r"x.shape\[0\]=%d.*channel_shift.*C in \[3\]" % c):
        rel.apply(x, red=0.1, green=0.0, blue=0.0)
    with pytest.raises(RelationError, match="channel_shift"):
        apply_batch([Chain((Step("channel_shift", {"red": 0.1, "green": 0, "blue": 0}),))], x)
    from diverfuzz.relations.corruptions import channel_shift

    with pytest.raises(RelationError, match=r"RGB image \(3, H, W\)"):
        channel_shift(x, red=0.1, green=0.0, blue=0.0)
    y = rel.apply(np.full((3, 8, 8), 0.5, np.float32), red=0.1, green=0.0, blue=-0.1)
    assert np.allclose(y[:, 0, 0], [0.6, 0.5, 0.4])


def test_kind_mismatch_raises():
    with pytest.raises(RelationError, match=r"ndim=3.*'jitter'.*signal.*\(C, T\)"):
        get_relation("jitter").apply(np.zeros((1, 8, 8), np.float32), sigma=0.1, seed=0)
    with pytest.raises(RelationError, match=r"ndim=2.*'band_loss'.*\(C, H, W\)"):
        get_relation("band_loss").apply(np.zeros((8, 8), np.float32), band=0.5, count=1)
    with pytest.raises(RelationError, match="ndim=2"):
        apply_batch([Chain((Step("brightness", {"delta": 0.1}),))], np.zeros((6, 32), np.float32))
    with pytest.raises(RelationError, match="ndim=1"):
        Chain(()).apply(np.zeros(8, np.float32))


def test_infer_kind_and_names_for_kind():
    assert infer_kind((1, 8, 8)) == "image"
    assert infer_kind((3, 32, 32)) == infer_kind((4, 2, 2)) == "image"
    assert infer_kind((5, 8, 8)) == "image"
    assert infer_kind((8, 8, 8)) == infer_kind((100, 32, 32)) == "spectral"
    assert infer_kind((6, 128)) == infer_kind(np.zeros((1, 5))) == "signal"
    with pytest.raises(RelationError, match="shape=.*expected"):
        infer_kind((1, 2, 3, 4))
    for kind in ("image", "spectral", "signal"):
        names = names_for_kind(kind)
        assert names == tuple(
            n for n in REGISTRY
            if kind in REGISTRY[n].kinds and REGISTRY[n].channels is None and n not in BASELINE_OPERATORS
        )
        assert set(names_for_kind(kind, channels=3)) == {
            n for n in REGISTRY if kind in REGISTRY[n].kinds and n not in BASELINE_OPERATORS
        }
    assert set(names_for_kind("signal")) == {
        "jitter", "scaling", "magnitude_warp", "time_warp", "window_slice",
        "channel_dropout", "baseline_drift",
    }
    assert {"band_loss", "line_dropout", "column_striping"} <= set(names_for_kind("spectral"))
    assert "channel_shift" not in names_for_kind("image")
    assert "channel_shift" in names_for_kind("image", channels=3)
    assert "channel_shift" not in names_for_kind("image", channels=1)
    with pytest.raises(RelationError, match="kind='video'"):
        names_for_kind("video")


def test_relation_semantics():
    x = _example("spectral")
    y = get_relation("band_loss").apply(x, band=0.5, count=2)
    lost = [b for b in range(16) if not np.array_equal(y[b], x[b])]
    assert len(lost) == 2
    np.testing.assert_allclose(y[lost[0]], (x[lost[0] - 1] + x[lost[1] + 1]) / 2, atol=1e-6)
    y = get_relation("spectral_shift").apply(x, shift=1.0)
    assert np.array_equal(y[1:], x[:-1]) and np.array_equal(y[0], x[0])
    y = get_relation("line_dropout").apply(x, rate=0.25, seed=3)
    assert (np.all(y == 0, axis=(0, 2))).sum() == 2
    y = get_relation("band_region_dropout").apply(x, size=0.5, cx=0.5, cy=0.5, band=0.0, span=0.25)
    assert np.count_nonzero(np.any(y != x, axis=(1, 2))) == 4
    img = np.random.default_rng(0).random((1, 8, 8)).astype(np.float32)
    y = get_relation("pixelate").apply(img, factor=4.0)
    assert len(np.unique(y)) <= 4
    y = get_relation("jpeg").apply(img, quality=5)
    assert not np.array_equal(y, img) and abs(y.mean() - img.mean()) < 0.1
    sig = _example("signal")
    y = get_relation("channel_dropout").apply(sig, rate=0.5, seed=0)
    assert (np.all(y == 0, axis=1)).sum() == 3
    y = get_relation("window_slice").apply(sig, ratio=0.75, start=0.0)
    assert y[:, 0].tolist() == sig[:, 0].tolist()


@settings(max_examples=8, deadline=None)
@given(
    deltas=st.lists(st.floats(-0.3, 0.3, allow_subnormal=False), min_size=2, max_size=6),
    factors=st.lists(st.floats(0.5, 1.5, allow_subnormal=False), min_size=2, max_size=6),
    c=st.sampled_from([1, 3, 16]),
)
def test_pointwise_fast_path_is_bit_identical(deltas, factors, c):
    x = np.random.default_rng(c).random((c, 9, 7)).astype(np.float32)
    chains = []
    for i, (d, f) in enumerate(zip(deltas, factors)):
        steps = [Step("brightness", {"delta": d}), Step("contrast", {"factor": f}),
                 Step("vignette", {"strength": abs(d)})]
        if c == 3:
            steps.append(Step("channel_shift", {"red": d / 3, "green": -d / 3, "blue": 0.0}))
        chains.append(Chain(tuple(steps[i % 2:])))
    batch = apply_batch(chains, x)
    for row, chain in zip(batch, chains):
        assert np.array_equal(row, chain.apply(x))
