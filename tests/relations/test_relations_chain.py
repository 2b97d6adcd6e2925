"""Step, Chain, JSON round trip and apply_batch."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diverfuzz.relations import Chain, RelationError, Step, apply_batch
from diverfuzz.relations.strategies import chains, images, steps


@settings(max_examples=40, deadline=None)
@given(c=chains(max_size=4))
def test_json_round_trip_equality(c):
    back = Chain.from_json(c.to_json())
    assert back == c
    assert hash(back) == hash(c)
    assert back.to_json() == c.to_json()
    assert Chain.from_list(json.loads(json.dumps(c.to_list()))) == c
    assert len(back) == len(c)


@settings(max_examples=20, deadline=None)
@given(c=chains(max_size=3), x=images(channels=st.sampled_from([1, 3, 6])))
def test_round_trip_applies_identically(c, x):
    back = Chain.from_json(c.to_json())
    assert np.array_equal(c.apply(x), back.apply(x))


@settings(max_examples=15, deadline=None)
@given(cs=st.lists(chains(max_size=3), max_size=4), x=images())
def test_apply_batch_equals_per_chain_apply(cs, x):
    batch = apply_batch(cs, x)
    assert batch.shape == (len(cs),) + x.shape
    assert batch.dtype == np.float32
    for i, c in enumerate(cs):
        assert np.array_equal(batch[i], c.apply(x))


def test_chain_applies_in_order():
    x = np.full((1, 8, 8), 0.5, np.float32)
    a = Chain((Step("brightness", {"delta": 0.3}), Step("brightness", {"delta": 0.3})))
    assert np.all(a.apply(x) == 1.0)  # clipped after each step
    b = Chain((Step("brightness", {"delta": 0.3}), Step("gamma", {"gamma": 2.0})))
    c = Chain((Step("gamma", {"gamma": 2.0}), Step("brightness", {"delta": 0.3})))
    assert not np.array_equal(b.apply(x), c.apply(x))


def test_empty_chain_returns_copy():
    x = np.random.default_rng(0).random((2, 8, 8)).astype(np.float32)
    c = Chain(())
    y = c.apply(x)
    assert np.array_equal(y, x) and y is not x and len(c) == 0
    assert c.to_json() == "[]"


def test_step_params_are_frozen_plain_and_hashable():
    s = Step("gaussian_noise", {"sigma": np.float64(0.1), "seed": np.int32(7)})
    assert type(s.params["sigma"]) is float and type(s.params["seed"]) is int
    with pytest.raises(TypeError):
        s.params["sigma"] = 0.2  # type: ignore[index]
    assert {s: 1}[Step("gaussian_noise", {"seed": 7, "sigma": 0.1})] == 1
    assert s.to_dict() == {"relation": "gaussian_noise", "params": {"sigma": 0.1, "seed": 7}}


@settings(max_examples=30, deadline=None)
@given(s=steps())
def test_step_dict_round_trip(s):
    assert Step.from_dict(s.to_dict()) == s


@pytest.mark.parametrize(
    "item, match",
    [
        ({"relation": "spin", "params": {}}, "relation='spin'"),
        ({"relation": "zoom", "params": {"scale": 3.0}}, r"scale=3.0.*\[0.8, 1.25\]"),
        ({"relation": "zoom", "params": {}}, "missing.*scale"),
        ({"relation": "zoom"}, "'relation' and 'params'"),
        ({"relation": "zoom", "params": {"scale": 1.0}, "x": 1}, "'relation' and 'params'"),
        ("zoom", "'relation' and 'params'"),
    ],
)
def test_from_list_validates(item, match):
    with pytest.raises(RelationError, match=match):
        Chain.from_list([item])


def test_from_json_rejects_bad_text():
    with pytest.raises(RelationError, match="JSON"):
        Chain.from_json("not json")
    with pytest.raises(RelationError, match="list"):
        Chain.from_json('{"relation": "zoom"}')


def test_chain_rejects_non_steps():
    with pytest.raises(RelationError, match="Step"):
        Chain(({"relation": "zoom", "params": {"scale": 1.0}},))  # type: ignore[arg-type]


def _large_image() -> np.ndarray:
    rng = np.random.default_rng(5)
    base = np.linspace(0, 1, 3 * 80 * 80, dtype=np.float32).reshape(3, 80, 80)
    return np.clip(base + rng.normal(0, 0.05, base.shape), 0, 1).astype(np.float32)  # 19,200 values


@settings(max_examples=15, deadline=None)
@given(cs=st.lists(chains(channels=3, max_length=4), min_size=2, max_size=4))
def test_apply_steps_in_a_thread_pool_equals_lock_step(cs):
    from concurrent.futures import ThreadPoolExecutor

    from diverfuzz.relations import apply_steps

    x = _large_image()
    calls: dict[str, list] = {"serial": [], "pool": []}

    def recorder(name):
        return lambda i, k, image: calls[name].append((i, k, image.copy()))

    serial = apply_steps(np.repeat(x[None], len(cs), axis=0), [c.steps for c in cs], on_step=recorder("serial"))
    with ThreadPoolExecutor(2) as pool:
        pooled = apply_steps(
            np.repeat(x[None], len(cs), axis=0), [c.steps for c in cs], on_step=recorder("pool"), pool=pool
        )
    assert np.array_equal(serial, pooled)
    # Every step of every row is reported once, each row's steps in order (rows may interleave).
    for name in calls:
        keys = [(i, k) for i, k, _ in calls[name]]
        assert sorted(keys) == [(i, k) for i, c in enumerate(cs) for k in range(len(c))]
        assert all([k for j, k in keys if j == i] == list(range(len(c))) for i, c in enumerate(cs))
    images = {name: {(i, k): image for i, k, image in calls[name]} for name in calls}
    assert all(np.array_equal(images["serial"][key], images["pool"][key]) for key in images["serial"])
    for i, c in enumerate(cs):
        assert np.array_equal(pooled[i], c.apply(x))


def test_apply_steps_in_a_thread_pool_refuses_what_lock_step_refuses():
    from concurrent.futures import ThreadPoolExecutor

    from diverfuzz.relations import apply_steps

    gray = np.full((1, 150, 150), 0.5, np.float32)  # 22,500 values: the pooled path
    steps = [[Step("brightness", {"delta": 0.1})], [Step("channel_shift", {"red": 0.1, "green": 0.0, "blue": 0.0})]]
    with pytest.raises(RelationError) as serial:
        apply_steps(np.repeat(gray[None], 2, axis=0), steps)
    with ThreadPoolExecutor(2) as pool, pytest.raises(RelationError) as pooled:
        apply_steps(np.repeat(gray[None], 2, axis=0), steps, pool=pool)
    assert str(serial.value) == str(pooled.value)


def test_step_equality_and_hash_follow_the_values_signed_zero_included():
    a, b = Step("brightness", {"delta": 0.0}), Step("brightness", {"delta": -0.0})
    assert a == b and hash(a) == hash(b)  # equal numbers, as the dicts compare them
    assert a.key != b.key  # the cache keeps them apart (different bits)
    assert Step("brightness", {"delta": 0.1}) != a and Step("contrast", {"factor": 1.0}) != a
    assert a.is_identity and not Step("brightness", {"delta": 0.1}).is_identity
    assert {a: 1}[Step("brightness", {"delta": 0.0})] == 1
