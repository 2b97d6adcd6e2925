"""``--threads`` also applies relations and validity metrics in threads on large inputs: nothing found changes."""

import json

import numpy as np
import torch

from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.fuzzer.campaign.driver import run_campaign
from diverfuzz.fuzzer.campaign.workload import Workload
from diverfuzz.models.pair import ModelPair


def _reference(x):
    m = x.mean(dim=(1, 2, 3))
    return torch.stack([torch.full_like(m, 0.45), m], dim=1)


def _candidate(x):
    # Disagrees with the reference when the mean brightness lies in (0.42, 0.45).
    m = x.mean(dim=(1, 2, 3))
    return torch.stack([torch.full_like(m, 0.45), m + 0.03], dim=1)


def _campaign(tmp_path, threads: int) -> dict:
    rng = np.random.default_rng(0)
    # 3x96x96 = 27,648 values per input: above the 16,384 where relations go to the pool.
    x = np.clip(0.5 + rng.normal(0, 0.1, size=(4, 3, 96, 96)), 0, 1).astype(np.float32)
    workload = Workload(ModelPair(_reference, _candidate), x, None, {"data": "synthetic"})
    config = CampaignConfig(seeds=3, budget=40, mode="many", threads=threads)
    out = tmp_path / f"threads{threads}"
    run_campaign(config, out, workload=workload)
    return json.loads((out / "report.json").read_text())


def _found(report: dict) -> list:
    keys = ("seed_index", "chain", "validity", "reference_label", "candidate_label", "queries", "minimal_chain")
    return [{k: d.get(k) for k in keys} for d in report["divergences"]]


def test_two_threads_find_exactly_what_one_thread_finds(tmp_path, monkeypatch):
    import diverfuzz.relations.chain

    pooled = []
    in_pool = diverfuzz.relations.chain._apply_rows_in
    monkeypatch.setattr(diverfuzz.relations.chain, "_apply_rows_in", lambda *a: pooled.append(1) or in_pool(*a))
    one = _campaign(tmp_path, 1)
    assert not pooled
    two = _campaign(tmp_path, 2)
    assert len(pooled) > 10  # the relations did run in the pool
    assert len(one["divergences"]) >= 2
    assert _found(one) == _found(two)
    for field in ("queries", "rejected", "seeds_with_divergence"):
        assert one["summary"][field] == two["summary"][field]
