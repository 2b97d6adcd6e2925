"""Item 2 of issue 14: an impossible validity rule is counted, warned about, and fails check()."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.entry.check import check


def _model(x: torch.Tensor) -> torch.Tensor:
    m = x.flatten(1).mean(1)
    return torch.stack([m, 1 - m, 0.5 * m], dim=1)


def _candidate(x: torch.Tensor) -> torch.Tensor:
    return _model(x) + 0.01


def test_impossible_validity_fails_check_with_a_clear_message(tmp_path: Path) -> None:
    x = np.random.default_rng(0).random((4, 1, 8, 8), dtype=np.float32)
    with pytest.raises(DiverfuzzError, match=r"validity='ssim>=2'\): the validity rule rejected all 80 candidate inputs"):
        check(_model, _candidate, x, budget=20, validity="ssim>=2", report_dir=tmp_path / "r")
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    summary = report["summary"]
    assert summary["queries"] == 80 and summary["rejected"] == 80
    assert [row["rejected"] for row in report["seed_results"]] == [20, 20, 20, 20]
    assert any("rejected 80 of 80 candidates" in w for w in summary["warnings"])
    assert summary["validity"] == "ssim>=2"


def test_a_feasible_rule_counts_its_rejections_per_seed(tmp_path: Path) -> None:
    x = np.random.default_rng(0).random((3, 1, 8, 8), dtype=np.float32)
    result = check(_model, _candidate, x, budget=30, validity="ssim>=0.6", report_dir=tmp_path / "r")
    rows = result.report["seed_results"]
    assert result.report["summary"]["rejected"] == sum(r["rejected"] for r in rows)
    assert all(0 <= r["rejected"] <= r["queries"] for r in rows)
    assert not any("rejected" in w for w in result.warnings)
