"""check(): model files and a separate calibration set."""

from __future__ import annotations

import numpy as np
import pytest

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.entry.check import check
from diverfuzz.models.precision import build_counterpart


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    return (load_digits().images[:80] / 16.0).astype(np.float32)[:, None]


def test_check_calibrates_on_the_calibration_set_when_given(tmp_path, digits, make_cnn, monkeypatch):
    import diverfuzz.entry.check as check_module

    seen = []

    def spy(spec, reference, calibration, **kw):
        seen.append(calibration.copy())
        return build_counterpart(spec, reference, calibration, **kw)

    monkeypatch.setattr(check_module, "build_counterpart", spy)
    seeds, held_out = digits[:6], digits[40:]
    result = check(make_cnn(), "fp16", seeds, calibration=held_out, budget=10, report_dir=tmp_path / "a")
    np.testing.assert_array_equal(seen[-1], held_out)
    check(make_cnn(), "fp16", seeds, budget=10, report_dir=tmp_path / "b")
    np.testing.assert_array_equal(seen[-1], seeds)
    assert result.report["summary"]["seeds"] >= 1
    with pytest.raises(DiverfuzzError, match="calibration: inputs of shape"):
        check(make_cnn(), "fp16", seeds, calibration=np.zeros((3, 1, 4, 4), np.float32), budget=10, report_dir=tmp_path / "c")


def test_check_takes_model_file_paths(tmp_path, digits, make_cnn, exporters):
    exporters["onnx"](make_cnn(), tmp_path / "m.onnx")
    exporters["pt2"](make_cnn(), tmp_path / "m.pt2")
    result = check(str(tmp_path / "m.pt2"), str(tmp_path / "m.onnx"), digits[:4], budget=10, report_dir=tmp_path / "r")
    assert result.report["divergences"] == []  # the same network in two runtimes
