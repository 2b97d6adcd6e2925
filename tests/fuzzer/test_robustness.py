"""A model that starts raising mid-campaign loses none of the results already found."""

import json

import numpy as np
import pytest
import torch

from diverfuzz.common.errors import ModelError
from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.fuzzer.campaign.driver import run_campaign
from diverfuzz.fuzzer.campaign.storage.corpus import Corpus
from diverfuzz.fuzzer.campaign.workload import Workload
from diverfuzz.models.pair import ModelPair


def _reference(x):
    zeros = torch.zeros(len(x))
    return torch.stack([zeros + 1.0, zeros], dim=1)


class FlakyCandidate:
    """Diverges whenever mean brightness exceeds 0.5; raises after ``limit`` calls."""

    def __init__(self, limit):
        self.calls = 0
        self.limit = limit

    def __call__(self, x):
        self.calls += 1
        if self.calls > self.limit:
            raise RuntimeError("device lost")
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([torch.ones(len(x)), 1.0 + 20 * (m - 0.5)], dim=1)


def test_model_raising_mid_campaign_keeps_found_divergences(tmp_path):
    # Synthetic seeds: 1x8x8 images of mean brightness ~0.4.
    rng = np.random.default_rng(0)
    x = np.clip(0.4 + rng.normal(0, 0.05, size=(20, 1, 8, 8)), 0, 1).astype(np.float32)
    # Probing (same batch twice, then two batch-dependence batches) and screening take
    # 5 calls before the search; searching and shrinking the first seed take about 20
    # more (validity repair finds divergences at the validity boundary, which shrinking
    # then walks back), so the model fails after some seeds are finished.
    candidate = FlakyCandidate(limit=30)
    workload = Workload(ModelPair(_reference, candidate), x, None, {"data": "synthetic"})
    config = CampaignConfig(seeds=20, budget=300, validity="linf<=0.5")
    with pytest.raises(ModelError, match="device lost"):
        run_campaign(config, tmp_path, workload=workload)
    with Corpus.in_folder(tmp_path) as corpus:
        stored = list(corpus.divergences())
        finished = corpus.finished_seeds()
    assert stored and finished, "divergences found before the failure must be kept"
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["summary"]["interrupted"] is True
    assert len(report["divergences"]) == len(stored)
    assert (tmp_path / "report.html").is_file()
