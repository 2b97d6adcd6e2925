"""Precision sweep on the bundled digits model (issue 8)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.entry.cli import main
from diverfuzz.fuzzer.sweep import ROW_KEYS, Format, recommend, relative_bits, run_sweep


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    return run_sweep(out, quick=True, fuzz_seeds=3, fuzz_budget=40)


def test_sweep_json_rows_have_exactly_the_documented_keys(sweep):
    rows = json.loads((sweep.out / "sweep.json").read_text())
    assert isinstance(rows, list) and len(rows) == 6
    assert all(tuple(r) == ROW_KEYS for r in rows)
    assert all(0.0 <= r["agreement"] <= 1.0 and 0.0 <= r["significant_bits"] <= 24.0 for r in rows)
    rec = json.loads((sweep.out / "recommendation.json").read_text())
    assert rec["threshold"] == 0.99 and set(rec["by_target"]) == {"both", "weights", "activations"}
    layers = json.loads((sweep.out / "layers.json").read_text())
    assert [r["layer"] for r in layers] and {r["layer"] for r in layers} == {
        "features.0", "features.2", "classifier.1", "classifier.3"
    }


def test_agreement_is_monotone_in_mantissa_bits_and_exact_at_fp32(sweep):
    e8 = sorted(
        (int(r["format"].split("m")[-1]), r) for r in sweep.rows if r["format"].startswith("float:e8m") and r["target"] == "both"
    )
    agreement = [r["agreement"] for _, r in e8]
    bits = [r["significant_bits"] for _, r in e8]
    # non-decreasing up to sampling noise: 2 inputs of the 541 test digits
    assert all(b >= a - 2 / 541 for a, b in zip(agreement, agreement[1:])), agreement
    assert all(b >= a for a, b in zip(bits, bits[1:])), bits
    fp32 = dict(e8)[23]
    assert fp32["agreement"] == 1.0 and fp32["significant_bits"] == 24.0 and fp32["fuzz_success_rate"] == 0.0


@pytest.mark.parametrize("name", ["agreement_vs_mantissa.png", "heatmap_exp_man.png"])
def test_plots_are_real_images_with_content(sweep, name):
    path = sweep.out / name
    assert path.stat().st_size > 5000
    with Image.open(path) as image:
        assert image.format == "PNG"
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20  # not a blank canvas


def test_recommendation_is_the_smallest_qualifying_format():
    rows = [
        {"format": "float:e8m23", "target": "both", "accuracy": 1, "agreement": 1.0, "significant_bits": 24, "fuzz_success_rate": 0.0},
        {"format": "float:e5m7", "target": "both", "accuracy": 1, "agreement": 1.0, "significant_bits": 8, "fuzz_success_rate": 0.0},
        {"format": "float:e4m3", "target": "both", "accuracy": 1, "agreement": 1.0, "significant_bits": 4, "fuzz_success_rate": 0.5},
        {"format": "int4", "target": "both", "accuracy": 1, "agreement": 0.9, "significant_bits": 2, "fuzz_success_rate": 0.0},
    ]
    bits = {("float:e8m23", "both"): 32, ("float:e5m7", "both"): 13, ("float:e4m3", "both"): 8, ("int4", "both"): 4}
    rec = recommend(rows, bits, 0.99)
    assert rec["recommended"]["format"] == "float:e5m7" and rec["recommended"]["bits"] == 13
    assert rec["by_target"]["weights"] is None


def test_relative_bits():
    r = np.array([[8.0, -2.0], [1.0, 0.0]])
    np.testing.assert_allclose(relative_bits(r + [[1.0, 0.0], [0.0, 0.0]], r), [3.0, 24.0])
    assert relative_bits(r + 100.0, r).min() == 0.0


def test_bad_arguments_name_the_option(tmp_path):
    with pytest.raises(DiverfuzzError, match="--threshold"):
        run_sweep(tmp_path, threshold=1.5, formats=[Format("int8", "both", 8)])
    assert main(["sweep", "--out", str(tmp_path), "--fuzz-seeds", "0", "--quiet"]) == 2


def test_sweep_plot_y_range_shows_where_lines_differ():
    from diverfuzz.fuzzer.sweep import y_range

    lo, hi = y_range([0.97, 0.985, 1.0])
    assert 0.9 < lo < 0.97 and 1.0 <= hi <= 1.011  # not the 0..1 axis that flattened every line
    lo, hi = y_range([0.5, 0.5])
    assert hi - lo >= 0.02 and lo < 0.5 < hi
    assert y_range([0.0, 1.0]) == (-0.01, 1.01)
    assert y_range([]) == (-0.02, 1.02)
