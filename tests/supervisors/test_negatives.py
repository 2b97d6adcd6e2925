"""Matched negatives: valid, agreeing mutants of the divergences' seeds and chains."""

from __future__ import annotations

import numpy as np
import pytest

from diverfuzz.relations import Chain
from diverfuzz.relations.chain import Step
from diverfuzz.relations.registry import get_relation
from diverfuzz.supervisors.negatives import matched_negatives, resample_chain


def test_resampled_chain_keeps_relations_and_ranges_and_is_seeded():
    chain = Chain((Step("brightness", {"delta": 0.2}), Step("gaussian_noise", {"sigma": 0.05, "seed": 3})))
    a = [resample_chain(chain, np.random.default_rng(0)) for _ in range(1)][0]
    assert a == resample_chain(chain, np.random.default_rng(0))
    draws = [resample_chain(chain, np.random.default_rng(s)) for s in range(50)]
    for d in draws:
        assert [s.relation for s in d.steps] == ["brightness", "gaussian_noise"]
        for step in d.steps:
            specs = get_relation(step.relation).params
            for name, value in step.params.items():
                assert specs[name].low <= value <= specs[name].high
    deltas = np.array([d.steps[0].params["delta"] for d in draws])
    assert deltas.min() >= 0.1 - 1e-12 and deltas.max() <= 0.3 + 1e-12  # identity 0, scaled by U(0.5, 1.5)
    assert len(set(deltas)) == 50


@pytest.mark.slow
def test_matched_negatives_of_a_bundled_campaign(tmp_path):
    from diverfuzz.fuzzer.campaign.config import CampaignConfig
    from diverfuzz.fuzzer.campaign.driver import run_campaign
    from diverfuzz.fuzzer.campaign.storage.corpus import Corpus
    from diverfuzz.fuzzer.campaign.workload import prepare, seed_input
    from diverfuzz.relations import Validity

    config = CampaignConfig(seeds=6, budget=300, rng_seed=3)  # the default rule: natural
    run_campaign(config, tmp_path)
    with Corpus.in_folder(tmp_path) as corpus:
        divergences = [d for _, d in corpus.divergences()]
    assert divergences, "the bundled pair must diverge for this test to mean anything"
    workload = prepare(config)
    neg = matched_negatives(config, workload, divergences, per_divergence=5, chain_draws=20)
    # the replayed searches are the campaign's own: they find every stored divergence again
    assert neg.reproduced == len(divergences)
    assert neg.replayed_seeds == len({d.seed_index for d in divergences})
    assert 0 < len(neg.x) <= 5 * len(divergences)
    assert set(neg.source) <= {"search", "chain"}
    ref, cand = workload.pair.logits(neg.x)
    assert np.array_equal(ref.argmax(axis=1), cand.argmax(axis=1))
    validity = Validity.parse(config.validity)
    assert validity.natural
    from diverfuzz.relations import natural

    assert len(neg.chains) == len(neg.x)
    for x, s, chain in zip(neg.x, neg.seed_index, neg.chains):
        seed = seed_input(workload, int(s))
        assert np.array_equal(chain.apply(seed), x)
        valid, _, _ = natural.judge(validity, seed, [chain], x[None])
        assert valid.tolist() == [True], chain
    again = matched_negatives(config, workload, divergences, per_divergence=5, chain_draws=20)
    assert np.array_equal(again.x, neg.x)
