"""Per-relation behaviour: identity, range, determinism, no silent no-op."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.transform import rotate

from diverfuzz.relations import REGISTRY, RelationError, get_relation
from diverfuzz.relations.strategies import images, params_for

# The original eleven (image and spectral, any C); every relation and kind is
# covered by test_relations_kinds.py.
NAMES = list(REGISTRY)[:11]


def _image(c, h, w, seed=0):
    return np.random.default_rng(seed).uniform(0.05, 0.95, (c, h, w)).astype(np.float32)


def _strong(rel):
    """Non-identity params: every param at 90% of its range."""
    return {k: s.denormalize(0.9) for k, s in rel.params.items()}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32), (7, 9, 13), (20, 16, 16)])
def test_identity_params_leave_input_unchanged(name, shape):
    x = _image(*shape)
    rel = get_relation(name)
    y = rel.apply(x, **rel.identity())
    assert np.array_equal(y, x)
    assert y.dtype == np.float32
    assert y is not x


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32), (20, 16, 16)])
def test_non_identity_changes_image(name, shape):
    x = _image(*shape)
    rel = get_relation(name)
    y = rel.apply(x, **_strong(rel))
    assert not np.array_equal(y, x)
    assert y.shape == x.shape and y.dtype == np.float32


@pytest.mark.parametrize("name", NAMES)
def test_identity_is_in_range(name):
    rel = get_relation(name)
    for k, spec in rel.params.items():
        assert spec.low <= rel.identity()[k] <= spec.high


@settings(max_examples=25, deadline=None)
@given(data=st.data(), x=images())
def test_random_params_keep_shape_dtype_range(data, x):
    name = data.draw(st.sampled_from(NAMES))
    params = data.draw(params_for(name))
    y = get_relation(name).apply(x, **params)
    assert y.shape == x.shape
    assert y.dtype == np.float32
    assert np.all(np.isfinite(y))
    assert y.min() >= 0.0 and y.max() <= 1.0


@settings(max_examples=20, deadline=None)
@given(data=st.data(), x=images(channels=st.sampled_from([1, 3, 5])))
def test_deterministic(data, x):
    name = data.draw(st.sampled_from(NAMES))
    params = data.draw(params_for(name))
    rel = get_relation(name)
    assert np.array_equal(rel.apply(x, **params), rel.apply(x.copy(), **params))


def test_input_not_modified():
    x = _image(3, 12, 12)
    before = x.copy()
    for rel in REGISTRY.values():
        if "image" in rel.kinds:
            rel.apply(x, **_strong(rel))
    assert np.array_equal(x, before)


@pytest.mark.parametrize("name,level", [("gaussian_noise", "sigma"), ("salt_pepper", "amount")])
def test_noise_seeds(name, level):
    x = _image(3, 16, 16)
    rel = get_relation(name)
    a = rel.apply(x, **{level: 0.1, "seed": 1})
    b = rel.apply(x, **{level: 0.1, "seed": 1})
    c = rel.apply(x, **{level: 0.1, "seed": 2})
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_noise_level_zero_is_identity_for_any_seed():
    x = _image(2, 8, 8)
    assert np.array_equal(get_relation("gaussian_noise").apply(x, sigma=0.0, seed=123), x)
    assert np.array_equal(get_relation("salt_pepper").apply(x, amount=0.0, seed=9), x)


def test_occlusion_size_zero_is_identity_and_fills_value():
    x = _image(3, 10, 10)
    occ = get_relation("occlusion")
    assert np.array_equal(occ.apply(x, size=0.0, cx=0.1, cy=0.9, value=1.0), x)
    y = occ.apply(x, size=0.2, cx=0.5, cy=0.5, value=1.0)
    changed = np.any(y != x, axis=0)
    assert changed.sum() == 4  # a 2x2 patch
    assert np.all(y[:, changed] == 1.0)


def test_occlusion_tiny_size_still_covers_a_pixel():
    x = _image(1, 8, 8)
    y = get_relation("occlusion").apply(x, size=0.01, cx=0.0, cy=0.0, value=0.0)
    assert y[0, 0, 0] == 0.0 and np.count_nonzero(y != x) == 1


def test_photometric_formulas():
    x = _image(2, 8, 8)
    y = get_relation("brightness").apply(x, delta=0.05)
    np.testing.assert_allclose(y, np.clip(x + 0.05, 0, 1), atol=1e-6)
    y = get_relation("gamma").apply(x, gamma=2.0)
    np.testing.assert_allclose(y, x**2, rtol=1e-5)
    y = get_relation("contrast").apply(x, factor=0.5)
    mean = x.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(y, (x - mean) * 0.5 + mean, atol=1e-6)


def test_blur_does_not_mix_channels():
    x = np.zeros((3, 9, 9), np.float32)
    x[1, 4, 4] = 1.0
    y = get_relation("gaussian_blur").apply(x, sigma=1.0)
    assert np.all(y[0] == 0) and np.all(y[2] == 0) and y[1].sum() > 0


def test_rotation_matches_skimage_rotate():
    x = _image(3, 15, 11)
    y = get_relation("rotation").apply(x, angle=20.0)
    ref = np.stack([rotate(c, 20.0, order=1, mode="edge", preserve_range=True) for c in x])
    np.testing.assert_allclose(y, ref, atol=1e-5)


def test_translation_direction():
    x = np.zeros((1, 10, 10), np.float32)
    x[0, 5, 5] = 1.0
    y = get_relation("translation").apply(x, dx=0.1, dy=-0.2)  # +1 col, -2 rows
    assert y[0, 3, 6] == pytest.approx(1.0)


def test_zoom_in_enlarges_content():
    x = np.zeros((1, 16, 16), np.float32)
    x[0, 6:10, 6:10] = 1.0
    y = get_relation("zoom").apply(x, scale=1.25)
    assert y.sum() == pytest.approx(x.sum() * 1.25**2, rel=0.1)
    z = get_relation("zoom").apply(x, scale=0.8)
    assert z.sum() == pytest.approx(x.sum() * 0.8**2, rel=0.1)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((8, 8), np.float32), "ndim=2"),
        (np.zeros((1, 1, 8, 8), np.float32), "ndim=4"),
        (np.zeros((1, 8, 8), np.uint8), "dtype=uint8"),
        (np.full((1, 8, 8), 2.0, np.float32), r"\[0, 1\]"),
        (np.full((1, 8, 8), np.nan, np.float32), "NaN"),
        ([[[0.0]]], "numpy array"),
    ],
)
def test_bad_input_raises(bad, match):
    with pytest.raises(RelationError, match=match):
        get_relation("brightness").apply(bad, delta=0.1)


def test_bad_params_raise_with_names():
    x = _image(1, 8, 8)
    rot = get_relation("rotation")
    with pytest.raises(RelationError, match=r"angle=45.*\[-30.0, 30.0\]"):
        rot.apply(x, angle=45)
    with pytest.raises(RelationError, match="unknown param.*degrees.*angle"):
        rot.apply(x, degrees=10)
    with pytest.raises(RelationError, match="missing param.*dy"):
        get_relation("translation").apply(x, dx=0.1)
    with pytest.raises(RelationError, match="seed=1.5.*integer"):
        get_relation("gaussian_noise").apply(x, sigma=0.1, seed=1.5)
    with pytest.raises(RelationError, match="delta='a'"):
        get_relation("brightness").apply(x, delta="a")
    with pytest.raises(RelationError, match="delta=nan"):
        get_relation("brightness").apply(x, delta=float("nan"))
    with pytest.raises(ValueError):  # RelationError is a ValueError
        rot.apply(x, angle=-31)


def test_unknown_relation_lists_known_names():
    with pytest.raises(RelationError, match="relation='rotate'.*rotation.*brightness|relation='rotate'.*brightness.*rotation"):
        get_relation("rotate")
