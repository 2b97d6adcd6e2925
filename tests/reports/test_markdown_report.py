"""Tests for diverfuzz.reports.markdown_report."""

from __future__ import annotations

from pathlib import Path

import pytest

from diverfuzz.reports import ReportError, write_markdown


def test_one_row_per_divergence(tmp_path: Path, sample_report: dict) -> None:
    text = write_markdown(sample_report, tmp_path / "r.md").read_text(encoding="utf-8")
    assert text.startswith("# diverfuzz report\n")
    rows = [line for line in text.splitlines() if line.startswith("| 0 |") or line.startswith("| 1 |")]
    assert len(rows) == len(sample_report["divergences"])
    assert "| 0 | 17 | 3 | 5 | — | rotation(angle=12.5) → gaussian_blur(sigma=0.8) | 87 |" in rows
    assert "| Success rate | 42.0 % | Search success" in text


def test_pipes_and_markup_escaped(tmp_path: Path, sample_report: dict) -> None:
    text = write_markdown(sample_report, tmp_path / "r.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| 1 |"))
    assert "&lt;b&gt;bold\\|rel&lt;/b&gt;(k='x\\|y')" in row
    # every unescaped pipe in the row is a column separator: 8 for 7 columns
    assert row.replace("\\|", "").count("|") == 8  # 7 columns
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


def test_summary_label_changes_and_minimal_chains(tmp_path: Path, campaign_record: dict) -> None:
    text = write_markdown(campaign_record, tmp_path / "r.md").read_text(encoding="utf-8")
    assert ("| Pair | bundled digits CNN (trained from seed 0) / int8-static counterpart "
            "of the reference |") in text
    for row in ("| Precision | int8-static |", "| Budget per seed | 200 |",
                "| Success rate | 50.0 % |", "| Queries | 1276 |"):
        row = row[:-1]  # a third column explains each metric
        assert row in text
    assert f"Replay: `diverfuzz replay {tmp_path}`" in text
    changes = text[text.index("## Top label changes"):text.index("## Divergences per relation")]
    assert "| 1 | 4 | 1 |" in changes and "| 3 | 8 | 1 |" in changes
    assert "| occlusion | 2 |" in text and "| shear | 2 |" in text
    row = next(line for line in text.splitlines() if line.startswith("| 1 | 0 |"))
    assert "| shear(shear=0.265518) → occlusion(" in row and "gamma" not in row
    assert "| fingerprint: reference | d9b86424a0b8b515 |" in text
    order = [text.index(h) for h in ("## Summary", "## Top label changes", "## Divergences\n",
                                     "## Configuration", "## Environment")]
    assert order == sorted(order)


def test_backslash_cannot_escape_the_separator(tmp_path: Path, sample_report: dict) -> None:
    sample_report["divergences"][0]["reference_label"] = "ends\\"
    text = write_markdown(sample_report, tmp_path / "r.md").read_text(encoding="utf-8")
    assert "| 0 | 17 | ends\\\\ | 5 |" in text


def test_code_span_fences_backticks() -> None:
    from diverfuzz.reports.markdown_report import code_span

    assert code_span("a``b") == "```a``b```"
    assert code_span("`x`") == "`` `x` ``"
    assert code_span("a\nb\x1b") == "`a b\\x1b`"
