"""The batched validity path gives bit-for-bit the numbers of the per-mutant metrics."""

from __future__ import annotations

import numpy as np
import pytest

from diverfuzz.relations import RelationError
from diverfuzz.relations.validity import (
    BATCH_VALUES,
    batch_metrics,
    evaluate_batch,
    metrics,
)


@pytest.mark.parametrize("shape", [(3, 64, 64), (1, 28, 28), (1, 8, 8), (3, 5, 6), (4, 50), (2, 4, 4)])
def test_batch_metrics_equal_per_mutant_metrics_exactly(shape):
    rng = np.random.default_rng(0)
    seed = rng.random(shape, dtype=np.float32)
    n = max(3, 2 * BATCH_VALUES // int(np.prod(shape)) + 1)  # spans several chunks
    mutants = np.clip(seed[None] + rng.normal(0, 0.05, (min(n, 40),) + shape), 0, 1).astype(np.float32)
    mutants[1] = seed  # identical: ssim 1, psnr inf
    assert batch_metrics(seed, mutants) == [metrics(seed, m) for m in mutants]
    valid, found = evaluate_batch("ssim>=0.9 and linf<=0.2", seed, mutants)
    assert valid[1] and found[1]["psnr"] == np.inf


def test_batch_metrics_refuse_what_metrics_refuse():
    with pytest.raises(RelationError):
        batch_metrics(np.zeros((1, 2, 2)), np.zeros((3, 1, 2, 2)))
    with pytest.raises(RelationError):
        batch_metrics(np.zeros((1, 8, 8)), np.zeros((3, 1, 8, 7)))


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 9, 7), (2, 40)])
def test_seed_moments_and_sparse_changes_give_the_same_numbers(shape):
    from diverfuzz.relations.validity import seed_moments

    rng = np.random.default_rng(1)
    seed = rng.random(shape, dtype=np.float32)
    mutants = np.repeat(seed[None], 12, axis=0)
    for i in range(1, 12):  # a few changed elements: l0 well below 1, linf from one element
        idx = rng.random(shape) < 0.02 * i
        mutants[i][idx] = rng.random(int(idx.sum()), dtype=np.float32)
    want = [metrics(seed, m) for m in mutants]
    moments = seed_moments(seed)
    assert batch_metrics(seed, mutants, moments=moments) == want
    assert batch_metrics(seed, mutants[5:], moments=moments) == want[5:]
    assert evaluate_batch("ssim>=0.5", seed, mutants, moments=moments)[1] == want


def test_l2_is_summed_without_blas_so_its_bits_do_not_depend_on_threads():
    import math

    from diverfuzz.relations.validity import Validity, l2

    rng = np.random.default_rng(7)
    seed = rng.random((3, 224, 224)).astype(np.float32)
    mutant = np.clip(seed + rng.normal(0, 0.05, seed.shape), 0, 1).astype(np.float32)
    d = (mutant.astype(np.float64) - seed.astype(np.float64)).ravel()
    exact = math.sqrt(math.fsum(d * d))
    assert abs(l2(seed, mutant) - exact) <= 1e-12 * exact
    assert l2(seed, mutant) == metrics(seed, mutant)["l2"] == evaluate_batch(Validity.parse("l2<=1e9"), seed, mutant[None])[1][0]["l2"]


def test_kept_working_arrays_give_the_same_numbers_across_calls_sizes_and_threads():
    import threading

    from diverfuzz.relations.validity import seed_moments

    rng = np.random.default_rng(3)
    for shape in [(3, 224, 224), (1, 28, 28)]:
        seed = rng.random(shape, dtype=np.float32)
        mutants = np.clip(seed[None] + rng.normal(0, 0.08, (5,) + shape), 0, 1).astype(np.float32)
        mutants[2] = seed
        want = [metrics(seed, m) for m in mutants]
        moments = seed_moments(seed)
        # Calls of 1, 5, then 2 rows reuse (and grow) the same kept arrays.
        assert batch_metrics(seed, mutants[:1], moments=moments) == want[:1]
        assert batch_metrics(seed, mutants, moments=moments) == want
        assert batch_metrics(seed, mutants[3:], moments=moments) == want[3:]
        # While a set is held, other calls (here in another thread) work in other sets.
        held = moments.scratch(1, 6)
        out: list = []
        worker = threading.Thread(target=lambda: out.append(batch_metrics(seed, mutants, moments=moments)))
        worker.start()
        worker.join()
        moments.release(held)
        assert out == [want]
        assert batch_metrics(seed, mutants[1:2], moments=moments) == want[1:2]


@pytest.mark.parametrize("shape", [(3, 224, 224), (1, 28, 28)])
def test_batch_metrics_in_a_thread_pool_give_the_same_numbers(shape):
    from concurrent.futures import ThreadPoolExecutor

    from diverfuzz.relations.validity import seed_moments

    rng = np.random.default_rng(4)
    seed = rng.random(shape, dtype=np.float32)
    n = 7 if shape[-1] > 100 else 2 * BATCH_VALUES // int(np.prod(shape)) + 5  # several chunks
    mutants = np.clip(seed[None] + rng.normal(0, 0.08, (n,) + shape), 0, 1).astype(np.float32)
    mutants[3] = seed
    want = batch_metrics(seed, mutants)
    moments = seed_moments(seed)
    with ThreadPoolExecutor(3) as pool:
        assert batch_metrics(seed, mutants, moments=moments, pool=pool) == want
        assert evaluate_batch("ssim>=0.9", seed, mutants, moments=moments, pool=pool)[1] == want
        assert batch_metrics(seed, mutants[2:], moments=moments, pool=pool) == want[2:]


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (2, 64), (1, 5, 5)])
def test_batch_metrics_rows_equal_each_rows_own_seed_exactly(shape):
    from diverfuzz.relations.validity import batch_metrics_rows, seed_moments

    rng = np.random.default_rng(7)
    seeds = [rng.random(shape, dtype=np.float32) for _ in range(3)]
    n = max(5, 2 * BATCH_VALUES // int(np.prod(shape)) + 1)  # spans several chunks
    which = rng.integers(0, 3, min(n, 60))
    mutants = np.stack([np.clip(seeds[j] + rng.normal(0, 0.05, shape), 0, 1) for j in which]).astype(np.float32)
    mutants[2] = seeds[which[2]]  # identical to its own seed: ssim 1, psnr inf
    got = batch_metrics_rows([seed_moments(s) for s in seeds], which, mutants)
    assert got == [batch_metrics(seeds[j], mutants[i : i + 1])[0] for i, j in enumerate(which)]
    assert got[2]["psnr"] == np.inf
    # One seed for every row takes batch_metrics' own path: the same numbers.
    assert batch_metrics_rows([seed_moments(seeds[0])], [0] * len(mutants), mutants) == batch_metrics(seeds[0], mutants)


def test_batch_metrics_rows_refuse_mismatched_rows_and_shapes():
    from diverfuzz.relations.validity import batch_metrics_rows, seed_moments

    moments = [seed_moments(np.zeros((1, 8, 8), dtype=np.float32))]
    with pytest.raises(RelationError, match="which has 1 entries for 2 mutants"):
        batch_metrics_rows(moments, [0], np.zeros((2, 1, 8, 8), dtype=np.float32))
    with pytest.raises(RelationError, match="every seed must have the shape"):
        batch_metrics_rows(moments, [0], np.zeros((1, 1, 8, 7), dtype=np.float32))
    assert batch_metrics_rows(moments, [], np.zeros((0, 1, 8, 8), dtype=np.float32)) == []


def test_batch_metrics_rows_in_a_pool_give_the_same_numbers_and_use_it():
    from concurrent.futures import ThreadPoolExecutor

    from diverfuzz.relations.validity import batch_metrics_rows, seed_moments

    rng = np.random.default_rng(8)
    shape = (3, 160, 160)  # above BATCH_VALUES: one mutant per chunk
    seeds = [rng.random(shape, dtype=np.float32) for _ in range(2)]
    which = [0, 1, 1, 0]
    mutants = np.stack([np.clip(seeds[j] + rng.normal(0, 0.05, shape), 0, 1) for j in which]).astype(np.float32)
    moments = [seed_moments(s) for s in seeds]
    submitted = []

    class Counting(ThreadPoolExecutor):
        def submit(self, fn, *args, **kwargs):
            submitted.append(fn)
            return super().submit(fn, *args, **kwargs)

    with Counting(2) as pool:
        assert batch_metrics_rows(moments, which, mutants, pool=pool) == batch_metrics_rows(moments, which, mutants)
        assert len(submitted) == len(mutants)
        batch_metrics_rows(moments, [1] * 4, mutants, pool=pool)  # one seed: batch_metrics' path, in the pool too
        assert len(submitted) == 2 * len(mutants)
