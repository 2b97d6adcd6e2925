"""Tests for reports.markdown_report."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports import ReportError, write_markdown


def test_one_row_per_divergence(tmp_path: Path, sample_report: dict) -> None:
    text = write_markdown(sample_report, tmp_path / "r.md").read_text(encoding="utf-8")
    assert text.startswith("# diverfuzz report\n")
    rows = [line for line in text.splitlines() if line.startswith("| 0 |") or line.startswith("| 1 |")]
    assert len(rows) == len(sample_report["divergences"])
    assert "| 0 | 17 | 3 | 5 | rotation(angle=12.5) → gaussian_blur(sigma=0.8) | 87 |" in rows
    assert "| Success rate | 42.0 % |" in text


def test_pipes_and_markup_escaped(tmp_path: Path, sample_report: dict) -> None:
    text = write_markdown(sample_report, tmp_path / "r.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| 1 |"))
    assert "&lt;b&gt;bold\\|rel&lt;/b&gt;(k='x\\|y')" in row
    # every unescaped pipe in the row is a column separator: 7 for 6 columns
    assert row.replace("\\|", "").count("|") == 7
    assert "runs/a\\|b/report" in text
    assert "<script>" not in text and "<b>" not in text


def test_no_divergences(tmp_path: Path, empty_report: dict) -> None:
    text = write_markdown(empty_report, tmp_path / "r.md").read_text(encoding="utf-8")
    assert "No divergences found." in text
    assert "| — |" in text  # median queries is None


def test_rejects_missing_schema_version(tmp_path: Path, sample_report: dict) -> None:
    del sample_report["schema_version"]
    with pytest.raises(ReportError, match="schema_version"):
        write_markdown(sample_report, tmp_path / "r.md")
