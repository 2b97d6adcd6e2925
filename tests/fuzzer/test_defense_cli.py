"""``--defense`` and ``diverfuzz evaluate-supervisors`` through the CLI."""

from __future__ import annotations

import json

import pytest

from diverfuzz.entry.cli import EXIT_OK, EXIT_USAGE, main


def test_evaluate_supervisors_writes_scores_and_report_section(tmp_path, tiny_run_args, capsys):
    out = tmp_path / "out"
    assert main(tiny_run_args(out, seeds=6)) == EXIT_OK
    report = json.loads((out / "report.json").read_text())
    assert report["divergences"], "the tiny pair must diverge for this test to mean anything"
    capsys.readouterr()
    assert main(["evaluate-supervisors", str(out)]) == EXIT_OK
    rows = json.loads((out / "supervisors.json").read_text())
    softmax_ones = ["max_softmax", "margin", "entropy", "deepgini"]
    assert [r["name"] for r in rows] == softmax_ones * 2
    assert [r["monitored"] for r in rows] == ["reference"] * 4 + ["candidate"] * 4
    for row in rows:
        assert {"name", "auroc", "tpr_at_threshold", "nominal_acceptance", "accepted_accuracy"} <= set(row)
        assert {"auroc_matched", "auroc_nominal", "average_precision", "at"} <= set(row)
        assert 0.0 <= row["auroc"] <= 1.0
        assert set(row["at"]) == {"S1", "S5", "S10"}
        assert 0.0 <= row["nominal_acceptance"] <= 1.0
    html = (out / "report.html").read_text()
    assert "Supervisors" in html and "deepgini" in html
    assert "AUROC matched" in html and "Absent: mc_dropout_*: the reference has no dropout layers" in html
    from diverfuzz.reports.markdown_report import render_markdown

    markdown = render_markdown(json.loads((out / "report.json").read_text()))
    assert "## Supervisors" in markdown and "| candidate | margin |" in markdown
    section = json.loads((out / "report.json").read_text())["supervisors"]
    assert section["scores"] == rows
    # a user model without dropout: the line saying why MC dropout and ensembles are absent
    assert any(line.startswith("mc_dropout_*: the reference has no dropout layers") for line in section["absent"])
    assert section["negatives"]["reproduced_divergences"] == len(report["divergences"])


def test_evaluate_supervisors_errors(tmp_path, capsys):
    assert main(["evaluate-supervisors", str(tmp_path)]) == EXIT_USAGE
    assert "holds no corpus.sqlite" in capsys.readouterr().err
    assert main(["evaluate-supervisors", str(tmp_path), "--false-alarm", "1.5"]) == EXIT_USAGE


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--defense", "pixeldp", "--model", "m.py:f"], "cannot be combined with --model"),
        (["--defense", "distillation", "--example", "signal"], "cannot be combined"),
    ],
)
def test_defense_conflicts(tmp_path, capsys, argv, expected):
    assert main(["run", *argv, "--out", str(tmp_path / "o"), "--quiet"]) == EXIT_USAGE
    assert expected in capsys.readouterr().err


@pytest.mark.slow
def test_distillation_defense_campaign_records_its_parameters(tmp_path):
    out = tmp_path / "out"
    assert main(["run", "--defense", "distillation", "--seeds", "3", "--budget", "40", "--out", str(out), "--quiet"]) == EXIT_OK
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["defense"] == "distillation"
    assert report["config"]["defense_params"]["temperature"] == pytest.approx(100.0)
    assert "defended by distillation" in report["workload"]["model"]
