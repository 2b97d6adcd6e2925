"""One replay semantics (issue 13, issue 14 item 6): the campaign corpus and the
regression corpus are replayed by the same function, which checks the label
pair, validity, and the triage of the chain that is stored."""

from __future__ import annotations

import json

import numpy as np
import torch
from torch import nn

from diverfuzz.entry.check import check
from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.fuzzer.campaign.driver import run_campaign
from diverfuzz.fuzzer.campaign.replay import replay, replay_stored
from diverfuzz.fuzzer.campaign.storage.corpus import Corpus
from diverfuzz.fuzzer.campaign.storage.regression import (
    RegressionCorpus,
    RegressionEntry,
    seed_digest,
)
from diverfuzz.fuzzer.campaign.storage.stored import StoredDivergence
from diverfuzz.fuzzer.campaign.workload import Workload
from diverfuzz.models.pair import ModelPair
from diverfuzz.relations import Chain


class MeanThreshold(nn.Module):
    """Class 0 when the mean pixel exceeds ``threshold``, else class 1 (a smooth margin)."""

    def __init__(self, threshold: float) -> None:
        super().__init__()
        self.threshold = nn.Parameter(torch.tensor(threshold), requires_grad=False)

    def forward(self, x):
        m = x.flatten(1).mean(1, keepdim=True)
        return torch.cat([20 * (m - self.threshold) + 1.0, torch.ones_like(m)], dim=1)


def planted_pair() -> ModelPair:
    """Reference and candidate disagree exactly when the mean lies in (0.5, 0.6]."""
    return ModelPair(MeanThreshold(0.5), MeanThreshold(0.6))


SEEDS = np.full((3, 1, 8, 8), 0.45, dtype=np.float32)
BRIGHTER = Chain.from_list([{"relation": "brightness", "params": {"delta": 0.1}}])


def stored(ref: int = 0, cand: int = 1) -> list[StoredDivergence]:
    return [StoredDivergence("divergence 1", 0, BRIGHTER, ref, cand)]


def test_a_divergence_that_still_diverges_and_is_valid_reproduces():
    (outcome,) = replay_stored(planted_pair(), SEEDS, stored(), "linf<=0.2")
    assert outcome.reproduced and outcome.reason is None
    assert (outcome.reference_label, outcome.candidate_label) == (0, 1)


def test_a_mutant_that_breaks_the_validity_rule_does_not_reproduce():
    (outcome,) = replay_stored(planted_pair(), SEEDS, stored(), "linf<=0.05")
    assert outcome.labels_match and not outcome.valid and not outcome.reproduced
    assert "validity" in outcome.reason


def test_another_label_pair_does_not_reproduce():
    (outcome,) = replay_stored(planted_pair(), SEEDS, stored(ref=1, cand=0), "linf<=0.2")
    assert not outcome.reproduced and "recorded 1 vs 0, replayed 0 vs 1" in outcome.reason


def test_replay_triages_the_stored_chain_with_the_modules_reference():
    (outcome,) = replay_stored(planted_pair(), SEEDS, stored(), "linf<=0.2")
    assert outcome.triage is not None and outcome.triage["label"] in ("precision-induced", "reference-unstable")


def test_regression_replay_in_check_applies_the_validity_rule(tmp_path):
    # Before one replay semantics, check() counted any stored disagreement,
    # valid or not: this entry broke validity yet failed the gate.
    corpus_dir = tmp_path / "corpus"
    regression = RegressionCorpus(corpus_dir, "planted")
    regression.add([RegressionEntry(0, seed_digest(SEEDS[0]), BRIGHTER.to_list(), 0, 1)])
    regression.save()
    pair = planted_pair()
    kwargs = dict(budget=4, name="planted", corpus_dir=corpus_dir, report_dir=tmp_path / "r")
    strict = check(pair.reference, pair.candidate, SEEDS, validity="linf<=0.05", **kwargs)
    assert strict.replayed == 1 and strict.still_diverging == []
    loose = check(pair.reference, pair.candidate, SEEDS, validity="linf<=0.2", **kwargs)
    assert loose.replayed >= 1 and [s.seed_index for s in loose.still_diverging][:1] == [0]


def test_campaign_replay_gives_back_the_stored_triage(tmp_path):
    pair = planted_pair()
    config = CampaignConfig(seeds=3, budget=60, rng_seed=1, validity="linf<=0.3", relations=("brightness", "contrast"))
    workload = Workload(pair, SEEDS, None, {"model": "planted", "data": "constant 0.45"}, "image", ("brightness", "contrast"))
    report = run_campaign(config, tmp_path, workload=workload).report
    assert report["divergences"], "the planted pair diverges under a brightness shift"
    result = replay(tmp_path, workload=workload)
    assert result.ok and result.total == len(report["divergences"])
    with Corpus.in_folder(tmp_path) as corpus:
        stored_triage = {f"divergence {i}": d.triage for i, d in corpus.divergences()}
    for outcome in result.outcomes:
        assert outcome.triage == json.loads(json.dumps(stored_triage[outcome.stored.key]))
