"""diverfuzz.relations.draws: the memoised seeded draws change no relation's output (bit for bit, against
the direct ``np.random.default_rng`` implementations written out here), stay within their byte
bound, are read-only and are safe to share between threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from scipy import ndimage

from diverfuzz.relations import REGISTRY, Chain, Step, apply_batch, draws
from diverfuzz.relations.corruptions import fog, smooth_field
from diverfuzz.relations.noise import gaussian_noise, salt_pepper, speckle_noise
from diverfuzz.relations.signal import jitter

SEEDS = (0, 1, 12345, 2**31 - 1)


# --- the implementations before diverfuzz.relations.draws, drawing directly -------------------------------


def old_gaussian(x, sigma, seed):
    noise = np.random.default_rng(seed).normal(0.0, (sigma**2) ** 0.5, x.shape)
    return np.clip(x + noise, 0.0, 1.0).astype(np.float32)


def _old_bernoulli(p, shape, rng):
    if p == 0:
        return np.zeros(shape, dtype=bool)
    if p == 1:
        return np.ones(shape, dtype=bool)
    return rng.random(shape) <= p


def old_salt_pepper(x, amount, seed):
    rng = np.random.default_rng(seed)
    flipped = _old_bernoulli(amount, x.shape, rng)
    salted = _old_bernoulli(0.5, x.shape, rng)
    out = x.astype(np.float32, copy=True)
    out[flipped & salted] = 1
    out[flipped & ~salted] = 0.0
    return out


def old_speckle(x, sigma, seed):
    n = np.random.default_rng(seed).normal(0.0, sigma, x.shape)
    return (x + x * n).astype(np.float32)


def old_field(shape, sigma, rng):
    field = ndimage.gaussian_filter(rng.random(shape), sigma, mode="reflect")
    lo, hi = field.min(), field.max()
    if hi - lo < 1e-12:
        return np.full(shape, 0.5)
    return (field - lo) / (hi - lo)


def old_fog(x, density, seed):
    _, h, w = x.shape
    field = old_field((h, w), max(h, w) / 8.0, np.random.default_rng(seed))
    haze = density * (0.5 + 0.5 * field)
    return (x * (1.0 - haze) + haze).astype(np.float32)


def old_jitter(x, sigma, seed):
    return (x + np.random.default_rng(seed).normal(0.0, sigma, x.shape)).astype(np.float32)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal dtype, shape and bytes (stricter than np.array_equal: tells -0.0 from 0.0)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def finish(out: np.ndarray) -> np.ndarray:
    """What Relation._finish does to every output: clip to [0, 1], float32."""
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def image(shape, seed=0, signed_zero=True) -> np.ndarray:
    x = np.random.default_rng(seed).random(shape).astype(np.float32)
    x.flat[:3] = (0.0, 1.0, -0.0 if signed_zero else 0.0)  # edges, and a signed zero
    return x


CASES = {
    "gaussian_noise": (gaussian_noise, old_gaussian, "sigma", (0.0, 1e-3, 0.05, 0.2)),
    "speckle_noise": (speckle_noise, old_speckle, "sigma", (0.0, 1e-3, 0.1, 0.3)),
    "salt_pepper": (salt_pepper, old_salt_pepper, "amount", (0.0, 1e-3, 0.05, 0.2)),
    "fog": (fog, old_fog, "density", (0.0, 1e-3, 0.3, 0.6)),
}


@pytest.fixture(autouse=True)
def _fresh_memo():
    draws.MEMO.clear()
    yield
    draws.MEMO.clear()


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 1, 1), (2, 5, 9)])
def test_relation_unchanged_cold_and_memoised(name, shape):
    new, old, level, levels = CASES[name]
    x = image(shape)
    for seed in SEEDS:
        for value in levels:
            want = old(x, value, seed)
            assert same_bits(new(x, **{level: value, "seed": seed}), want), (seed, value)  # cold or warm
            assert same_bits(new(x, **{level: value, "seed": seed}), want), (seed, value)  # memo hit
    assert draws.MEMO.hits > 0


@pytest.mark.parametrize("name", sorted(CASES))
def test_relation_unchanged_at_224(name):
    new, old, level, levels = CASES[name]
    x = image((3, 224, 224))
    for seed in (3, 2**31 - 1):
        for value in (levels[0], levels[-1]):
            want = old(x, value, seed)
            for _ in range(2):  # cold, then memo hit
                assert same_bits(new(x, **{level: value, "seed": seed}), want)


def test_repair_like_scaling_keeps_bits():
    # The genetic repair re-applies a chain with levels scaled towards identity and seeds kept.
    x = image((3, 32, 32), seed=4)
    for factor in (1.0, 0.5, 0.25, 0.125, 0.0):
        for name, (new, old, level, levels) in CASES.items():
            value = levels[-1] * factor
            assert same_bits(new(x, **{level: value, "seed": 77}), old(x, value, 77)), (name, factor)


def test_salt_pepper_edge_amounts():
    x = image((3, 16, 16))
    for seed in SEEDS:
        for amount in (0.0, 1.0, 0.5, 1 - 1e-12, 5e-324, -0.1):  # 1 and 0 draw less; the rest draw twice
            assert same_bits(salt_pepper(x, amount=amount, seed=seed), old_salt_pepper(x, amount, seed))
        # Amount 0: nothing is flipped, so the skipped draw of the salted mask cannot matter.
        assert same_bits(salt_pepper(x, amount=0.0, seed=seed), x)


def test_negative_scale_raises_as_numpy_does():
    x = image((1, 8, 8))
    for sigma in (-0.0, -1e-3):
        with pytest.raises(ValueError, match="scale < 0"):
            np.random.default_rng(0).normal(0.0, sigma, x.shape)
        with pytest.raises(ValueError, match="scale < 0"):
            speckle_noise(x, sigma=sigma, seed=0)
    # Gaussian noise's scale (sigma**2)**0.5 is never negative, as before.
    assert same_bits(gaussian_noise(x, sigma=-0.1, seed=3), old_gaussian(x, -0.1, 3))


def test_jitter_unchanged():
    x = np.random.default_rng(5).random((3, 128)).astype(np.float32)
    for seed in SEEDS:
        for sigma in (0.0, 1e-3, 0.1):
            for _ in range(2):
                assert same_bits(jitter(x, sigma=sigma, seed=seed), old_jitter(x, sigma, seed))


def test_fog_field_depends_only_on_seed_and_size():
    for h, w in ((28, 28), (5, 9), (1, 1)):
        for seed in SEEDS:
            want = old_field((h, w), max(h, w) / 8.0, np.random.default_rng(seed))
            assert same_bits(draws.smooth_field(seed, h, w), want)
            assert same_bits(smooth_field((h, w), max(h, w) / 8.0, np.random.default_rng(seed)), want)
    assert np.all(draws.smooth_field(0, 1, 1) == 0.5)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_batched_path_unchanged(shape):
    x = image(shape, seed=2, signed_zero=False)  # a chain skips identity steps (they would turn -0.0 to 0.0)
    rng = np.random.default_rng(9)
    for name, (_, old, level, levels) in CASES.items():
        params = [{level: float(v), "seed": int(s)} for v in levels for s in rng.integers(0, 2**31 - 1, 2)]
        params.append(dict(params[-1]))  # a repeated seed and level: a memo hit inside one batch
        chains = [Chain((Step(name, p),)) for p in params]
        want = np.stack([finish(old(x, p[level], p["seed"])) for p in params])
        assert same_bits(apply_batch(chains, x), want), name
        assert same_bits(np.stack([c.apply(x) for c in chains]), want), name
        xs = np.stack([image(shape, seed=i) for i in range(len(params))])
        rel = REGISTRY[name]
        func = rel.batch_func or (lambda xs, ps: np.stack([rel.func(x, **p) for x, p in zip(xs, ps)]))
        got = func(xs.copy(), params)
        assert same_bits(finish(got), np.stack([finish(old(x, p[level], p["seed"])) for x, p in zip(xs, params)]))


def test_chain_of_noise_steps_unchanged_at_224():
    x = image((3, 224, 224), seed=6, signed_zero=False)
    steps = (
        Step("fog", {"density": 0.4, "seed": 11}),
        Step("gaussian_noise", {"sigma": 0.1, "seed": 12}),
        Step("speckle_noise", {"sigma": 0.2, "seed": 13}),
        Step("salt_pepper", {"amount": 0.05, "seed": 14}),
    )
    want = x
    for step in steps:
        (_, old, level, _) = CASES[step.relation]
        want = finish(old(want, step.params[level], step.params["seed"]))
    for _ in range(2):
        assert same_bits(Chain(steps).apply(x), want)
        assert same_bits(apply_batch([Chain(steps)] * 2, x), np.stack([want, want]))


def test_draws_equal_direct_and_read_only():
    shape = (2, 3, 4)
    for seed in SEEDS:
        z = draws.standard_normal(seed, shape)
        assert same_bits(z, np.random.default_rng(seed).standard_normal(shape))
        rng = np.random.default_rng(seed)
        u1, u2 = draws.uniform_pair(seed, shape)
        assert same_bits(u1, rng.random(shape)) and same_bits(u2, rng.random(shape))
        for s in (0.0, 0.3, 5e-324):
            assert same_bits(draws.normal(s, seed, shape), np.random.default_rng(seed).normal(0.0, s, shape))
        for array in (z, u1, u2, draws.smooth_field(seed, 4, 5)):
            assert not array.flags.writeable
            with pytest.raises(ValueError):
                array[0] = 1.0
        assert draws.normal(0.1, seed, shape).flags.writeable  # a fresh array, not the memo's
    assert draws.standard_normal(1, shape) is draws.standard_normal(1, shape)  # a hit shares the array


def test_other_seed_kinds_are_drawn_directly():
    shape = (3, 4)
    for seed in ([1, 2], np.random.SeedSequence(7)):
        before = len(draws.MEMO)
        assert same_bits(draws.standard_normal(seed, shape), np.random.default_rng(seed).standard_normal(shape))
        assert len(draws.MEMO) == before
    assert same_bits(draws.standard_normal(np.int64(5), shape), draws.standard_normal(5, shape))
    with pytest.raises(ValueError):
        draws.standard_normal(-1, shape)
    assert len(draws.MEMO) == 1


def test_memo_bound_in_bytes_and_lru_order():
    memo = draws.DrawMemo(max_bytes=1000)
    made = []

    def make(n, tag):
        def compute():
            made.append(tag)
            return np.full(n, tag, dtype=np.float64)

        return compute

    for tag in range(6):  # 400 bytes each: at most two fit
        memo.get(tag, make(50, tag))
        assert memo.nbytes <= 1000
    assert len(memo) == 2 and memo.nbytes == 800
    memo.get(4, make(50, 4))  # hit: 4 becomes the most recent, 5 the least
    memo.get(6, make(50, 6))  # evicts 5
    assert made == [0, 1, 2, 3, 4, 5, 6]
    memo.get(4, make(50, 4))
    memo.get(5, make(50, 5))
    assert made == [0, 1, 2, 3, 4, 5, 6, 5]
    big = memo.get("big", make(200, -1))  # 1600 bytes: returned, read-only, not kept
    assert big.shape == (200,) and not big.flags.writeable and "big" not in memo._entries
    assert memo.nbytes <= 1000
    pair = memo.get("pair", lambda: (np.zeros(25), np.ones(25)))  # tuples count all their arrays
    assert memo.nbytes == 800 and not pair[0].flags.writeable and not pair[1].flags.writeable
    assert draws.DrawMemo(0).get(0, make(1, 9)) is not None
    with pytest.raises(ValueError):
        draws.DrawMemo(-1)


def test_module_memo_stays_within_its_bound():
    shape = (3, 224, 224)  # 2.4 MB per uniform pair: 20 of them exceed 32 MiB
    for seed in range(20):
        draws.uniform_pair(seed, shape)
        assert draws.MEMO.nbytes <= draws.MEMO.max_bytes
    assert len(draws.MEMO) < 20
    u1, _ = draws.uniform_pair(0, shape)  # evicted and drawn again: the same numbers
    assert same_bits(u1, np.random.default_rng(0).random(shape))


def test_threads_share_the_memo_safely():
    memo = draws.DrawMemo(max_bytes=3 * 8 * 3 * 32 * 32)  # three draws: constant eviction
    results: dict[int, list] = {0: [], 1: []}
    errors = []
    barrier = threading.Barrier(2)

    def work(i):
        try:
            barrier.wait()
            for _ in range(5):
                for seed in range(8):
                    z = memo.get(seed, lambda seed=seed: np.random.default_rng(seed).standard_normal((3, 32, 32)))
                    results[i].append(z.tobytes())
                    fog_out = fog(image((3, 32, 32)), density=0.3, seed=seed)  # the module memo, too
                    results[i].append(fog_out.tobytes())
                    assert memo.nbytes <= memo.max_bytes
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results[0] == results[1] and len(results[0]) == 80
    x = image((3, 32, 32))
    for seed in range(8):
        assert results[0][2 * seed] == np.random.default_rng(seed).standard_normal((3, 32, 32)).tobytes()
        assert results[0][2 * seed + 1] == old_fog(x, 0.3, seed).tobytes()
