"""``diverfuzz estimate``, ``check(estimate=...)`` and the gate on divergence probability."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.entry.check import check
from diverfuzz.entry.cli import EXIT_OK, EXIT_USAGE, main
from diverfuzz.reports import validate_report

#: A reference that reads an input's mean against 0.5 and a candidate that reads it against 0.53:
#: they disagree exactly on inputs whose mean lies in (0.5, 0.53].
MODELS_PY = textwrap.dedent(
    """
    import torch
    from torch import nn


    class Threshold(nn.Module):
        def __init__(self, at):
            super().__init__()
            self.at = at

        def forward(self, x):
            mean = x.reshape(len(x), -1).mean(dim=1)
            return torch.stack([torch.zeros_like(mean), mean - self.at], dim=1)


    def reference():
        return Threshold(0.5).eval()


    def candidate():
        return Threshold(0.53).eval()
    """
)


def _flat(values) -> np.ndarray:
    return np.asarray(values, np.float32)[:, None, None, None] * np.ones((1, 1, 4, 4), np.float32)


@pytest.fixture
def pair_files(tmp_path: Path) -> tuple[str, str, str]:
    models = tmp_path / "models.py"
    models.write_text(MODELS_PY)
    data = tmp_path / "data.npz"
    np.savez(data, x=_flat(np.linspace(0.42, 0.6, 12)), y=np.tile([0, 1], 6))
    return f"{models}:reference", f"{models}:candidate", str(data)


def test_cli_writes_estimate_json_and_kept_draws_replay(pair_files, tmp_path, capsys):
    model, candidate, data = pair_files
    out = tmp_path / "est"
    argv = ["estimate", "--model", model, "--candidate", candidate, "--data", data, "--relations",
            "brightness,rotation", "--severities", "1,5", "--samples", "6", "--keep", "--out", str(out), "--quiet"]
    assert main(argv) == EXIT_OK
    printed = capsys.readouterr().out
    assert "brightness" in printed and "draws/s" in printed
    payload = json.loads((out / "estimate.json").read_text())
    records = payload["records"]
    assert [(r["relation"], r["severity"]) for r in records] == [
        ("clean", 0), ("brightness", 1), ("brightness", 5), ("rotation", 1), ("rotation", 5)]
    for r in records:
        assert {"relation", "severity", "samples", "seeds", "probability", "low", "high", "per_class"} <= set(r)
        assert 0.0 <= r["low"] <= r["probability"] <= r["high"] <= 1.0
        assert r["seeds"] == 12 and {c["label"] for c in r["per_class"]} == {0, 1}
    clean = records[0]
    assert clean["disagreements"] == 2  # the seeds at means 0.5018 and 0.5182 lie in (0.5, 0.53]
    assert payload["kept"] == sum(r["disagreements"] for r in records) > 1
    report = json.loads((out / "report.json").read_text())
    validate_report(report)
    assert report["estimate"] == records
    assert "Divergence probability" in (out / "report.html").read_text()
    assert "| brightness |" in (out / "report.md").read_text()
    # Every kept draw replays like a divergence.
    assert main(["replay", str(out)]) == EXIT_OK
    assert f"{payload['kept']}/{payload['kept']} divergences reproduce" in capsys.readouterr().out
    # An estimate already there is refused without --force.
    assert main(argv) == EXIT_USAGE
    assert "already holds" in capsys.readouterr().err


def test_without_keep_the_folder_holds_the_estimate_pages_and_no_corpus(pair_files, tmp_path, capsys):
    model, candidate, data = pair_files
    out = tmp_path / "plain"
    argv = ["estimate", "--model", model, "--candidate", candidate, "--data", data, "--relations", "contrast",
            "--severities", "2", "--samples", "3", "--seeds", "5", "--out", str(out), "--quiet"]
    assert main(argv) == EXIT_OK
    assert not (out / "corpus.sqlite").exists()
    records = json.loads((out / "estimate.json").read_text())["records"]
    assert [(r["relation"], r["severity"], r["samples"], r["seeds"]) for r in records] == [
        ("clean", 0, 5, 5), ("contrast", 2, 15, 5)]
    html = (out / "report.html").read_text()
    assert "<th scope=\"row\">contrast</th>" in html and "severity 2" in html
    assert "| contrast |" in (out / "report.md").read_text()
    assert main([*argv, "--force"]) == EXIT_OK  # --force replaces it


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--severities", "9"], "--severities='9': severity 9 is not one of 0-5"),
        (["--samples", "0"], "--samples=0: expected an integer 1-1000000"),
        (["--relations", "no_such"], "--relations"),
    ],
)
def test_bad_input_is_one_line_without_a_traceback(pair_files, tmp_path, capsys, extra, message):
    model, candidate, data = pair_files
    argv = ["estimate", "--model", model, "--candidate", candidate, "--data", data, "--out", str(tmp_path / "e"),
            "--quiet", *extra]
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def _reference(x: torch.Tensor) -> torch.Tensor:
    mean = x.reshape(len(x), -1).mean(dim=1)
    return torch.stack([torch.zeros_like(mean), mean - 0.5], dim=1)


def _candidate(x: torch.Tensor) -> torch.Tensor:
    mean = x.reshape(len(x), -1).mean(dim=1)
    return torch.stack([torch.zeros_like(mean), mean - 0.53], dim=1)


def test_check_gate_fails_naming_the_worst_cell(tmp_path):
    seeds = _flat(np.linspace(0.42, 0.6, 12))
    result = check(_reference, _candidate, seeds, budget=10, report_dir=tmp_path / "r",
                   estimate={"samples": 10, "severities": "1-2", "relations": ["brightness", "gaussian_noise"]})
    cells = {(r["relation"], r["severity"]): r for r in result.estimate}
    assert set(cells) == {("clean", 0), ("brightness", 1), ("brightness", 2), ("gaussian_noise", 1),
                          ("gaussian_noise", 2)}
    worst = max(result.estimate, key=lambda r: r["high"])
    with pytest.raises(AssertionError) as info:
        result.assert_max_divergence_probability(0.01)
    assert f"of {worst['relation']} at severity {worst['severity']}" in str(info.value)
    assert f"{100 * worst['high']:.2f}%" in str(info.value)
    result.assert_max_divergence_probability(1.0)  # every upper bound is <= 1
    only = max((r for r in result.estimate if r["relation"] == "brightness" and r["severity"] == 2),
               key=lambda r: r["high"])
    with pytest.raises(AssertionError, match="of brightness at severity 2"):
        result.assert_max_divergence_probability(only["high"] / 2, relation="brightness", severity=2)
    with pytest.raises(DiverfuzzError, match="no estimated cell matches"):
        result.assert_max_divergence_probability(0.5, relation="rotation")
    junit = (tmp_path / "r" / "junit.xml").read_text()
    assert 'name="estimate_worst_cell"' in junit and 'name="estimate_brightness_s2"' in junit
    assert (tmp_path / "r" / "estimate.json").is_file()
    # The corpus keeps the table: re-rendered reports still carry it.
    (tmp_path / "r" / "report.md").unlink()
    assert main(["report", str(tmp_path / "r"), "--format", "md"]) == EXIT_OK
    assert "## Divergence probability" in (tmp_path / "r" / "report.md").read_text()


def test_gate_without_an_estimate_and_bad_estimate_values_are_one_line_errors(tmp_path):
    seeds = _flat(np.linspace(0.42, 0.6, 4))
    with pytest.raises(DiverfuzzError, match="estimate=.*unknown keys"):
        check(_reference, _candidate, seeds, budget=5, report_dir=tmp_path / "a", estimate={"draws": 5})
    with pytest.raises(DiverfuzzError, match="--samples=-1"):
        check(_reference, _candidate, seeds, budget=5, report_dir=tmp_path / "b", estimate=-1)
    result = check(_reference, _candidate, seeds, budget=5, report_dir=tmp_path / "c")
    with pytest.raises(DiverfuzzError, match="needs an estimate"):
        result.assert_max_divergence_probability(0.1)


PLUGIN_TEST = textwrap.dedent(
    '''
    import numpy as np
    import torch


    def reference(x):
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([torch.zeros_like(m), m - 0.5], dim=1)


    def candidate(x):
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([torch.zeros_like(m), m - 0.53], dim=1)


    def test_rate_gate(diverfuzz):
        seeds = np.linspace(0.42, 0.6, 12, dtype=np.float32)[:, None, None, None] * np.ones((1, 1, 4, 4), np.float32)
        result = diverfuzz.check(reference, candidate, seeds, budget=5,
                                 estimate={"samples": 5, "severities": "1", "relations": ["brightness"]})
        result.assert_max_divergence_probability(0.01)
    '''
)


def test_plugin_carries_the_table_into_junit_and_the_summary(pytester: pytest.Pytester):
    pytester.makepyfile(test_rates=PLUGIN_TEST)
    result = pytester.runpytest_inprocess("--junitxml", "junit.xml", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*divergence probability of * at severity *upper bound > allowed 1.00%*",
                                 "*divergence probability, % [[]95% interval]: Severity 0 (clean) | Severity 1*",
                                 "*brightness: * [[]*, *] | * [[]*, *]*"])
    junit = (pytester.path / "junit.xml").read_text()
    assert 'name="diverfuzz_estimate_worst_cell"' in junit and 'name="diverfuzz_estimate_brightness_s1"' in junit
