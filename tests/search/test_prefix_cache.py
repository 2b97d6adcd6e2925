"""The prefix cache gives exactly apply_batch's mutants, whatever it holds."""

from __future__ import annotations

import numpy as np

from diverfuzz.fuzzer.search.dflare import OPERATORS, operator_step
from diverfuzz.fuzzer.search.genetic import _chain, shrink
from diverfuzz.fuzzer.search.prefix_cache import PrefixCache
from diverfuzz.fuzzer.search.space import SearchSpace
from diverfuzz.relations import (
    Chain,
    Step,
    Validity,
    apply_batch,
    evaluate_batch,
    names_for_kind,
)


def test_cached_mutants_equal_apply_batch_bit_for_bit():
    rng = np.random.default_rng(0)
    seed = rng.random((1, 12, 12)).astype(np.float32)
    cache = PrefixCache(max_bytes=40 * seed.nbytes)  # small: entries are evicted on the way
    chain = Chain(())
    other = Step("brightness", {"delta": 0.05})
    hits = 0
    for i in range(40):
        step = operator_step(OPERATORS[i % len(OPERATORS)], rng)
        grown = Chain(chain.steps + (step,))
        # Same length and same last step, different prefix: must not reuse the grown chain's image.
        twisted = Chain((other,) + chain.steps[1:] + (step,)) if chain.steps else grown
        batch = [twisted, grown]
        hits += cache._walk(grown)[1] == len(chain)
        got = cache.apply(batch, seed)
        assert np.array_equal(got, apply_batch(batch, seed))
        assert cache._bytes <= cache.max_bytes
        if i % 3 == 0:
            chain = grown
    assert hits > 10  # the cache was actually used


def test_equal_steps_are_reused_by_value_and_signed_zero_kept_apart():
    seed = np.random.default_rng(1).random((1, 10, 10)).astype(np.float32)
    cache = PrefixCache()
    first = Chain((Step("gamma", {"gamma": 1.5}), Step("brightness", {"delta": 0.1})))
    again = Chain((Step("gamma", {"gamma": 1.5}), Step("contrast", {"factor": 1.2})))  # new objects
    cache.apply([first], seed)
    assert cache._walk(again)[1] == 1
    assert Step("brightness", {"delta": -0.0}).key != Step("brightness", {"delta": 0.0}).key
    assert np.array_equal(cache.apply([again], seed), apply_batch([again], seed))


def test_genetic_repair_chains_on_mnist_size_equal_apply_batch():
    # Every image relation, chains scaled towards identity as repair does, on a 28x28 input.
    rng = np.random.default_rng(2)
    seed = rng.random((1, 28, 28)).astype(np.float32)
    space = SearchSpace.from_names(names_for_kind("image", channels=1))
    blocks, pos = [], 0
    for relation in space.relations:
        blocks.append((pos, len(relation.params)))
        pos += 1 + len(relation.params)
    identity = space.identity_genome()
    cache = PrefixCache()
    for genome in space.sample(rng, 6):
        ind = shrink(genome.tolist(), 1.0, identity, blocks)
        chains = [_chain(space, shrink(ind, t, identity, blocks)) for t in (1.0, 0.5, 0.75, 1.0)]
        assert np.array_equal(cache.apply(chains, seed), apply_batch(chains, seed))


def test_new_seed_empties_the_cache():
    rng = np.random.default_rng(3)
    a, b = (rng.random((1, 8, 8)).astype(np.float32) for _ in range(2))
    chain = Chain((Step("gamma", {"gamma": 0.7}),))
    cache = PrefixCache()
    cache.apply([chain], a)
    assert np.array_equal(cache.apply([chain], b), apply_batch([chain], b))


def test_judge_equals_evaluate_batch_also_from_cached_metrics():
    rng = np.random.default_rng(4)
    seed = rng.random((1, 16, 16)).astype(np.float32)
    validity = Validity.parse("ssim>=0.6")
    chains = [Chain((operator_step(OPERATORS[i % len(OPERATORS)], rng),)) for i in range(6)]
    chains.append(Chain(()))
    cache = PrefixCache()
    for batch in (chains[:4], chains, chains[::-1]):  # fresh, then partly and wholly cached
        mutants, valid, found, _ = cache.judge(validity, batch, seed)
        want_valid, want = evaluate_batch(validity, seed, apply_batch(batch, seed))
        assert np.array_equal(mutants, apply_batch(batch, seed))
        assert np.array_equal(valid, want_valid) and found == want
    found[0]["ssim"] = -1.0  # callers get their own dicts
    assert cache.judge(validity, batch[:1], seed)[2] == evaluate_batch(validity, seed, apply_batch(batch[:1], seed))[1]


def test_cache_of_zero_bytes_keeps_nothing_and_still_judges_exactly():
    rng = np.random.default_rng(5)
    seed = rng.random((1, 12, 12)).astype(np.float32)
    chains = [Chain((operator_step(OPERATORS[i % len(OPERATORS)], rng),)) for i in range(4)]
    cache = PrefixCache(max_bytes=0)
    for _ in range(2):
        mutants, valid, found, _ = cache.judge(Validity.parse("ssim>=0.6"), chains, seed)
        assert np.array_equal(mutants, apply_batch(chains, seed))
        assert found == evaluate_batch("ssim>=0.6", seed, mutants)[1]
    assert not cache._nodes and not cache._metrics


def test_judge_many_equals_judging_each_request_alone_bit_for_bit():
    from diverfuzz.fuzzer.search.prefix_cache import JudgeRequest, judge_many

    rng = np.random.default_rng(11)
    space = SearchSpace.natural(names_for_kind("image"), 3)
    seeds = [rng.random((1, 28, 28)).astype(np.float32) for _ in range(3)]
    rules = [Validity.parse("natural"), Validity.parse("natural:2"), Validity.parse("ssim>=0.5")]
    batches = [[_chain(space, g) for g in space.sample(rng, 6)] + [Chain(())] for _ in seeds]
    alone = [PrefixCache().judge(rule, batch, seed) for rule, batch, seed in zip(rules, batches, seeds)]
    caches = [PrefixCache() for _ in seeds]
    for _ in range(2):  # fresh, then from the caches
        merged = judge_many([JudgeRequest(c, r, tuple(b), s) for c, r, b, s in zip(caches, rules, batches, seeds)])
        for (m, v, found, pixel), (m0, v0, found0, pixel0) in zip(merged, alone):
            assert np.array_equal(m, m0) and np.array_equal(v, v0)
            assert found == found0 and pixel == pixel0
    assert any(len({step.relation for step in c.steps} & {"rotation", "translation", "zoom", "shear"}) for b in batches for c in b)


def test_judge_computes_ssim_only_where_the_rule_reads_it_or_full_is_asked():
    from diverfuzz.relations.validity import batch_metrics

    rng = np.random.default_rng(12)
    space = SearchSpace.natural(names_for_kind("image"), 3)
    seed = rng.random((1, 28, 28)).astype(np.float32)
    chains = [_chain(space, g) for g in space.sample(rng, 8)]
    rule = Validity.parse("natural")  # pixel rule psnr>=20: no SSIM
    cheap = PrefixCache().judge(rule, chains, seed)
    full = PrefixCache().judge(rule, chains, seed, full=True)
    assert np.array_equal(cheap[0], full[0]) and np.array_equal(cheap[1], full[1])
    for part in (2, 3):
        assert all("ssim" not in m for m in cheap[part]) and all("ssim" in m for m in full[part])
        assert [{k: v for k, v in m.items() if k != "ssim"} for m in full[part]] == cheap[part]
    assert full[2] == batch_metrics(seed, full[0])  # against the seed: every metric, exactly
    # A cache holding the cheap metrics still gives SSIM when asked, and SSIM rules always get it.
    cache = PrefixCache()
    cache.judge(rule, chains, seed)
    assert cache.judge(rule, chains, seed, full=True)[2:] == full[2:]
    ssim_rule = Validity.parse("natural and ssim>=0.3")
    assert all("ssim" in m for m in cache.judge(ssim_rule, chains, seed)[3])
