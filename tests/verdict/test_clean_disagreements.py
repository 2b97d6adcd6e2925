"""Item 1 of issue 14: seeds the models already disagree on count against the gate."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from diverfuzz.entry.check import CheckResult, check

MARK = 0.123456  # pixel value that makes the candidate flip its answer


class Linear(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.weight = torch.nn.Parameter(torch.randn(3, 64, generator=gen))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.weight.T


def _pair():
    reference = Linear()

    def candidate(x: torch.Tensor) -> torch.Tensor:
        # The reference, except on inputs carrying MARK: a "2-bit model" wrong
        # on exactly those clean inputs and nowhere the search can reach.
        out = reference(x)
        marked = x[:, 0, 0, 0] == MARK
        out[marked] = out[marked].roll(1, dims=1)
        return out

    return reference, candidate


def _seeds(n: int = 10, marked: tuple[int, ...] = (3, 7)) -> np.ndarray:
    x = np.random.default_rng(5).random((n, 1, 8, 8), dtype=np.float32)
    for i in marked:
        x[i, 0, 0, 0] = np.float32(MARK)
    return x


def test_clean_disagreements_fail_the_gate(tmp_path: Path) -> None:
    reference, candidate = _pair()
    x = _seeds()
    with torch.no_grad():
        y = reference(torch.from_numpy(x)).argmax(1).numpy()
    result = check(reference, candidate, x, labels=y, budget=20, report_dir=tmp_path / "r")
    assert result.clean_disagreements == [3, 7]
    assert result.success_rate == 0.0  # the search found nothing: candidate == reference off the marks
    assert result.divergence_rate == pytest.approx(2 / 10)
    summary = result.report["summary"]
    assert summary["clean_disagreements"] == [3, 7] and summary["seeds_disagreeing_initially"] == 2
    assert summary["divergence_rate"] == pytest.approx(0.2) and summary["success_rate"] == 0.0
    with pytest.raises(AssertionError, match=r"2 of 10 seeds diverged: divergence rate 20\.0% > allowed 0\.0%") as info:
        result.assert_max_success_rate(0.0)
    assert "2 seeds disagree before any transformation (seeds 3, 7)" in str(info.value)
    result.assert_max_success_rate(0.2)


def test_rates_never_exceed_one_with_regression_replays() -> None:
    # Two seeds fuzzed; regression entries still diverge on seeds 0, 5 and 6
    # (5 and 6 were not fuzzed this time). The old rate was 3 / 2.
    report = {
        "summary": {"seeds": 2, "queries": 40, "clean_disagreements": [9]},
        "seed_results": [{"seed_index": 0, "queries": 20}, {"seed_index": 1, "queries": 20}],
        "divergences": [{"seed_index": 0, "chain": [], "reference_label": 1, "candidate_label": 2}],
    }
    still = [SimpleNamespace(seed_index=i) for i in (0, 5, 6)]
    result = CheckResult("pair", report, Path("out"), replayed=3, still_diverging=still)
    assert result.seeds_checked == 5  # 0, 1, 9, 5, 6
    assert result.divergence_rate == pytest.approx(4 / 5)
    assert result.success_rate == pytest.approx(1 / 2)
    assert 0.0 <= result.divergence_rate <= 1.0 and 0.0 <= result.success_rate <= 1.0
