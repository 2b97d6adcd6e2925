"""The pytest plugin, run in a child pytest session (pytester)."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from diverfuzz.models.training import cache_dir

#: The weights cache as this session sees it, read before pytester moves HOME.
CACHE = str(cache_dir())

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "test_quantized_model.py"

TINY = textwrap.dedent(
    '''
    import numpy as np
    import pytest
    import torch


    def reference(x):
        # Class 1 when the mean brightness exceeds 0.5 (synthetic task).
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([0.5 - m, m - 0.5], dim=1)


    def shifted(x):
        # A "shrunk" model whose threshold moved to 0.45.
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([0.45 - m, m - 0.45], dim=1)


    SEEDS = np.clip(
        0.35 + np.random.default_rng(0).normal(0, 0.03, size=(8, 1, 8, 8)), 0, 1
    ).astype(np.float32)  # synthetic seeds, mean brightness about 0.35


    @pytest.mark.diverfuzz(budget=60, validity="linf<=0.5")
    def test_gate(diverfuzz):
        result = diverfuzz.check(reference, {candidate}, SEEDS)
        result.assert_max_success_rate(0.0)


    def test_identical_pair_passes(diverfuzz):
        result = diverfuzz.check(reference, reference, SEEDS, budget=40, validity="linf<=0.5")
        result.assert_max_success_rate(0.0)
        assert result.divergences == []
    '''
)


def test_gate_fails_with_a_readable_message_and_records_everything(pytester: pytest.Pytester):
    pytester.makepyfile(test_pair=TINY.replace("{candidate}", "shifted"))
    result = pytester.runpytest_subprocess("--diverfuzz-report", "pair-reports", "--junitxml", "junit.xml", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*seeds diverged: divergence rate *% > allowed 0.0%*",
            "*most natural divergence: seed *reference says 0, candidate says 1*",
            "*report: *report.html*",
            "*= diverfuzz =*",
            "*test_pair.py::test_gate: */8 seeds diverged*replayed from the regression corpus*",
        ]
    )
    root = Path(pytester.path)
    folders = sorted(p.name for p in (root / "pair-reports").iterdir())
    assert len(folders) == 2
    gate = next(p for p in (root / "pair-reports").iterdir() if "test_gate" in p.name)
    for name in ("report.html", "report.md", "report.json"):
        assert (gate / name).is_file(), name
    report = json.loads((gate / "report.json").read_text())
    assert report["divergences"] and report["summary"]["seeds"] == 8
    props = {
        p.get("name"): p.get("value")
        for case in ET.parse(root / "junit.xml").iter("testcase")
        if case.get("name") == "test_gate"
        for p in case.iter("property")
    }
    assert int(props["diverfuzz_divergences"]) == len(report["divergences"])
    assert float(props["diverfuzz_success_rate"]) > 0
    corpus = json.loads(next((root / ".diverfuzz-corpus").glob("*test_gate*.json")).read_text())
    assert len(corpus["divergences"]) == len(report["divergences"])


def test_regression_corpus_is_replayed_first_and_a_fixed_model_passes(pytester: pytest.Pytester):
    pytester.makepyfile(test_pair=TINY.replace("{candidate}", "shifted"))
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1, failed=1)
    stored = len(json.loads(next((Path(pytester.path) / ".diverfuzz-corpus").glob("*test_gate*.json")).read_text())["divergences"])
    # Same broken model: every stored divergence replays and still diverges.
    again = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    again.assert_outcomes(passed=1, failed=1)
    again.stdout.fnmatch_lines([f"*test_gate: *{stored} replayed from the regression corpus ({stored} still diverge)*"])
    # The model is fixed (candidate == reference): the stored divergences replay and pass.
    pytester.makepyfile(test_pair=TINY.replace("{candidate}", "reference"))
    fixed = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    fixed.assert_outcomes(passed=2)
    fixed.stdout.fnmatch_lines([f"*test_gate: 0/8 seeds diverged*{stored} replayed from the regression corpus (0 still diverge)*"])


def test_marker_rejects_unknown_arguments(pytester: pytest.Pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.diverfuzz(budgett=5)
        def test_x(diverfuzz):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*@pytest.mark.diverfuzz takes keyword arguments*budgett*"])
    assert result.ret != 0


def test_ini_and_option_settings(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\ndiverfuzz_budget = 7\n")
    pytester.makepyfile(
        """
        from diverfuzz.entry.pytest_plugin import setting

        def test_settings(request):
            assert setting(request.config, "diverfuzz_budget") == 13
            assert setting(request.config, "diverfuzz_seed") == 0
            assert setting(request.config, "diverfuzz_workers") == 1
        """
    )
    pytester.runpytest_subprocess("--diverfuzz-budget", "13", "-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_workers_setting_reaches_the_campaign_and_finds_the_same(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\ndiverfuzz_workers = 2\n")
    pytester.makepyfile(TINY.replace("{candidate}", "shifted") + textwrap.dedent(
        """

        def test_seed_threads_match_one_thread(diverfuzz, request):
            two = diverfuzz.check(reference, shifted, SEEDS, budget=60, validity="linf<=0.5")
            assert two.report["config"]["workers"] == 2
            from diverfuzz.entry.check import check
            one = check(reference, shifted, SEEDS, budget=60, validity="linf<=0.5", name="one")
            assert one.report["config"]["workers"] == 1
            assert two.divergences and [d["chain"] for d in two.divergences] == [d["chain"] for d in one.divergences]
        """
    ))
    result = pytester.runpytest_subprocess("-k", "seed_threads", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


@pytest.mark.slow
def test_copyable_example_runs(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    from diverfuzz.models.examples.digits import trained_digits_cnn

    # pytester points HOME at a temporary folder: give the child this session's
    # weights cache, with the digits CNN in it, instead of an empty one.
    monkeypatch.setenv("DIVERFUZZ_CACHE", CACHE)
    trained_digits_cnn(0)
    pytester.makepyfile(test_quantized_model=EXAMPLE.read_text())
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, xfailed=1)
