"""CheckResult gates: what counts as a failing divergence and how the message reads."""

from pathlib import Path

import pytest

from diverfuzz.entry.check import CheckResult


def _report(divergences, seeds=4):
    return {"summary": {"seeds": seeds, "queries": 100}, "divergences": divergences}


def _div(seed, label, ssim):
    return {
        "seed_index": seed,
        "chain": [{"relation": "brightness", "params": {"delta": 0.1}}],
        "reference_label": 3,
        "candidate_label": 5,
        "validity": {"ssim": ssim},
        "queries": 10,
        "triage": {"label": label},
    }


def test_reference_unstable_divergences_do_not_fail_by_default():
    report = _report([_div(0, "reference-unstable", 0.9), _div(1, "precision-induced", 0.7)])
    result = CheckResult("pair", report, Path("out"))
    assert result.success_rate == pytest.approx(0.25)
    assert [d["seed_index"] for d in result.counted] == [1]
    assert CheckResult("pair", report, Path("out"), include_unstable=True).success_rate == pytest.approx(0.5)


def test_assert_message_names_the_most_natural_counted_divergence():
    report = _report([_div(0, "precision-induced", 0.7), _div(2, "precision-induced", 0.95)])
    result = CheckResult("my pair", report, Path("out"))
    with pytest.raises(AssertionError) as info:
        result.assert_max_success_rate(0.25)
    text = str(info.value)
    assert "2 of 4 seeds diverged: divergence rate 50.0% > allowed 25.0% (my pair)" in text
    assert "seed 2, brightness(delta=0.1): reference says 3, candidate says 5" in text
    assert "report: out/report.html" in text
    result.assert_max_success_rate(0.5)
    with pytest.raises(Exception, match="rate=2"):
        result.assert_max_success_rate(2)
