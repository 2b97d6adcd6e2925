"""The benchmark's statistics and leave-one-pair-out choice, on fabricated records."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SUITE = Path(__file__).resolve().parents[2] / "bench" / "search_suite.py"


@pytest.fixture(scope="module")
def suite():
    spec = importlib.util.spec_from_file_location("search_suite", SUITE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _records(qs):
    return [{"rng": i, "seed": 0, "q": q, "psnr": None if q is None else 25.0, "ssim": None if q is None else 0.9}
            for i, q in enumerate(qs)]


def test_wilson_holm_and_a12(suite):
    lo, hi = suite.wilson(10, 10)
    assert hi == 1.0 and 0.65 < lo < 0.75
    assert suite.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert suite.a12([1, 2], [3, 4]) == 1.0 and suite.a12([3], [3]) == 0.5


def test_lopo_never_uses_the_held_out_pair(suite):
    # The second configuration of the grid wins on pair A only; the default (first) wins on B and C.
    good, bad = _records([10] * 10), _records([None] * 10)
    first, second = (suite.config_key("genetic", p) for p in suite.GRID["genetic"][:2])
    runs = {
        "A": {first: bad, second: good},
        "B": {first: good, second: bad},
        "C": {first: good, second: bad},
    }
    results = {
        name: {"levels": {"default": {"rule": "ssim>=0.6", "runs": {
            k: {"strategy": "genetic", "params": {}, "records": v} for k, v in r.items()}}}}
        for name, r in runs.items()
    }
    assert suite.lopo_choice(results, "genetic", "default", "A") == first
    assert suite.lopo_choice(results, "genetic", "default", "B") == first
    analysis = suite.analyse(results, ["genetic"])
    cell = next(c for c in analysis["cells"] if c["pair"] == "A" and c["variant"] == "genetic+tuned" and c["budget"] == 100)
    assert cell["success"] == 0.0  # A's number comes from the configuration chosen on B and C
    assert "## A, default" in suite.markdown(results, analysis, {"command": "x", "seconds": 1.0, "seeds": 1,
                                                                 "rng_seeds": 10})
