"""Seed selection screens the data in chunks and picks the seeds screening everything would pick."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import diverfuzz.fuzzer.campaign.workload as workload_module
from diverfuzz.fuzzer.campaign.workload import Workload, select_seeds
from diverfuzz.models.pair import ModelPair


def reference(x: torch.Tensor) -> torch.Tensor:
    m = x.flatten(1).mean(1)
    return 3 * torch.stack([m, 1 - m], dim=1)


def candidate(x: torch.Tensor) -> torch.Tensor:
    # Disagrees with the reference on inputs whose mean lies in (0.48, 0.52).
    m = x.flatten(1).mean(1)
    flip = ((m - 0.5).abs() < 0.02).to(x.dtype)
    return 3 * torch.stack([m, 1 - m], dim=1) * (1 - 2 * flip[:, None])


@pytest.mark.parametrize("labels", [False, True])
def test_small_chunks_pick_the_seeds_and_disagreements_of_screening_everything(monkeypatch, labels):
    rng = np.random.default_rng(3)
    x = (rng.random((300, 1, 6, 6), dtype=np.float32) * 0.3 + rng.random((300, 1, 1, 1), dtype=np.float32) * 0.7)
    y = reference(torch.from_numpy(x)).argmax(1).numpy() if labels else None
    if labels:
        y[::7] = 1 - y[::7]  # some inputs both models get wrong alike: not eligible

    def selected(chunk: int):
        monkeypatch.setattr(workload_module, "SCREEN_CHUNK", chunk)
        return select_seeds(Workload(ModelPair(reference, candidate), x, y, {}), 20)

    default = workload_module.SCREEN_CHUNK
    everything, chunked = selected(10_000), selected(default)
    assert chunked.screened < everything.screened == len(x)
    assert np.array_equal(chunked.indices, everything.indices) and len(chunked.indices) == 20
    assert chunked.clean_disagreements == everything.clean_disagreements
    assert chunked.checked == everything.checked
    assert len(chunked.clean_disagreements) > 0  # the pair does disagree on some screened inputs
