"""Item 5 of issue 14: degenerate runs say so in summary.warnings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.entry.check import check
from diverfuzz.fuzzer.campaign.workload import Workload, label_warnings, select_seeds
from diverfuzz.models.pair import ModelPair


def three_classes(x: torch.Tensor) -> torch.Tensor:
    m = x.flatten(1).mean(1)
    return torch.stack([m, 1 - m, (m - 0.5).abs()], dim=1)


def nudged(x: torch.Tensor) -> torch.Tensor:
    return three_classes(x) * 1.01


def _data(n: int = 20) -> np.ndarray:
    return np.random.default_rng(2).random((n, 1, 8, 8), dtype=np.float32)


def _labels(x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return three_classes(torch.from_numpy(x)).argmax(1).numpy()


def test_labels_outside_the_output_range_are_reported() -> None:
    x = _data()
    y = _labels(x)
    y[0] = 7
    selection = select_seeds(Workload(ModelPair(three_classes, nudged), x, y, {}), 5)
    assert any("1 of 20 labels lie outside the models' output range 0..2 (values 7)" in w for w in selection.warnings)


def test_fewer_outputs_than_distinct_labels_is_reported() -> None:
    warnings = label_warnings(np.array([0, 1, 2, 3, 4]), classes=3)
    assert any("the models have 3 outputs, fewer than the 5 distinct labels" in w for w in warnings)
    assert label_warnings(np.array([0, 1, 2]), classes=3) == []
    assert any("single output" in w for w in label_warnings(None, classes=1))


def test_identical_logits_are_reported(tmp_path: Path) -> None:
    x = _data(8)
    result = check(three_classes, three_classes, x, labels=_labels(x), budget=10, report_dir=tmp_path / "r")
    assert any("identical logits on all 8 screened inputs" in w for w in result.warnings)
    selection = select_seeds(Workload(ModelPair(three_classes, nudged), x, None, {}), 5)
    assert not any("identical" in w for w in selection.warnings)


def test_labels_all_outside_say_what_is_wrong() -> None:
    x = _data(6)
    with pytest.raises(DiverfuzzError, match=r"every label lies outside the models' output range 0\.\.2 \(labels span 10\.\.15\)"):
        select_seeds(Workload(ModelPair(three_classes, nudged), x, np.arange(10, 16), {}), 5)
