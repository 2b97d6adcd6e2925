"""``--backend local --workers N``: a stopped campaign (Ctrl-C, a failed seed) ends its running seed threads
at their next model call instead of letting them run to their budget."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from diverfuzz.fuzzer.campaign.backends import local
from diverfuzz.fuzzer.campaign.workload import Workload
from diverfuzz.models.pair import ModelPair, SeedStopped

CALLS_CAP = 20_000  # far more than one stop needs; ends the test (failing) if the stop never comes


def test_interrupt_stops_running_seed_threads(monkeypatch, make_tiny_config):
    linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    workload = Workload(ModelPair(linear, linear), np.zeros((2, 1, 2, 2), np.float32), None, {})
    started, stored = threading.Event(), threading.Event()
    ended: dict[int, str] = {}

    def fake_fuzz_seed(config, view, index, *setup):
        if index == 0:
            started.wait()  # seed 1 is running when seed 0 ends
            return index
        started.set()
        stored.wait()  # seed 0's outcome reached the driver, which raises KeyboardInterrupt
        batch = np.zeros((1, 1, 2, 2), np.float32)
        try:
            for _ in range(CALLS_CAP):
                view.pair.logits(batch)
        except SeedStopped:
            ended[index] = "stopped"
            raise
        ended[index] = "ran to its budget"
        return index

    def store(outcome):
        stored.set()
        raise KeyboardInterrupt

    monkeypatch.setattr(local, "fuzz_seed", fake_fuzz_seed)
    monkeypatch.setattr(local, "search_setup", lambda config, view: (None, None, None))
    with pytest.raises(KeyboardInterrupt):
        local.LocalBackend(2).run(make_tiny_config(2, 0)(), workload, [0, 1], store)
    assert ended == {1: "stopped"}
