"""Item 7 of issue 14: every model evaluation is counted, the budget apart from the rest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from diverfuzz.entry.check import check

#: Rows each model saw (module-level: MCA triage runs deep copies of the reference).
SEEN = {"reference": 0, "candidate": 0}


class Reference(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(1)
        self.linear = torch.nn.Linear(64, 3)
        with torch.no_grad():
            self.linear.weight.copy_(torch.randn(3, 64, generator=gen))
            self.linear.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        SEEN["reference"] += len(x)
        return self.linear(x.flatten(1))


def test_total_model_evaluations_counts_every_forward_pass(tmp_path: Path) -> None:
    reference = Reference().eval()

    def candidate(x: torch.Tensor) -> torch.Tensor:
        SEEN["candidate"] += len(x)
        with torch.no_grad():
            out = reference.linear(x.flatten(1))
        return (out / 2).round() * 2  # a coarse fixed-point counterpart

    x = np.random.default_rng(4).random((12, 1, 8, 8), dtype=np.float32)
    SEEN.update(reference=0, candidate=0)
    result = check(reference, candidate, x, budget=40, validity="linf<=0.3", report_dir=tmp_path / "r")
    s = result.report["summary"]
    assert result.divergences, "the pair must diverge so shrinking and triage are counted"
    assert s["queries"] == sum(r["queries"] for r in result.report["seed_results"]) <= 40 * s["seeds"]
    assert s["shrink_queries"] == sum(d["shrink_queries"] for d in result.divergences) > 0
    assert s["triage_evaluations"] == sum(d["triage"]["samples"] + 1 for d in result.divergences)
    # determinism probe (the 12 inputs twice), batch probe (8 inputs beside two
    # sets of 8 companions) and one screening pass over the 12 inputs
    assert s["screening_queries"] == 2 * 12 + 2 * 16 + 12
    assert s["total_model_evaluations"] == SEEN["reference"] + SEEN["candidate"]
    assert s["total_model_evaluations"] > 2 * (s["queries"] - s["rejected"])


def test_check_with_seed_threads_gives_the_same_verdict_and_counts(tmp_path: Path) -> None:
    import pytest

    from diverfuzz.common.errors import DiverfuzzError

    reference = Reference().eval()

    def candidate(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            out = reference.linear(x.flatten(1))
        return (out / 2).round() * 2

    x = np.random.default_rng(4).random((12, 1, 8, 8), dtype=np.float32)
    one = check(reference, candidate, x, budget=40, validity="linf<=0.3", report_dir=tmp_path / "one")
    three = check(reference, candidate, x, budget=40, validity="linf<=0.3", report_dir=tmp_path / "three", workers=3)
    assert three.report["config"]["workers"] == 3
    assert one.divergences and [d["chain"] for d in one.divergences] == [d["chain"] for d in three.divergences]
    for field in ("queries", "rejected", "shrink_queries", "total_model_evaluations"):
        assert one.report["summary"][field] == three.report["summary"][field], field
    with pytest.raises(DiverfuzzError, match="^workers=0 must be an integer >= 1"):
        check(reference, candidate, x, budget=5, report_dir=tmp_path / "bad", workers=0)
