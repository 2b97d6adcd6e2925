"""Tests for diverfuzz.reports.render.render_all."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from diverfuzz.reports import DivergenceImages, ReportError, read_json, render_all


def test_writes_every_format(tmp_path: Path, campaign_record: dict,
                             digit_images: DivergenceImages) -> None:
    out = tmp_path / "run"
    paths = render_all(campaign_record, out, images={1: digit_images})
    assert paths == {
        "json": out / "report.json", "html": out / "report.html",
        "md": out / "report.md", "junit": out / "junit.xml",
    }
    assert sorted(p.name for p in out.iterdir()) == [
        "junit.xml", "report.html", "report.json", "report.md"]
    assert read_json(paths["json"]) == campaign_record
    html = paths["html"].read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 3
    assert f"diverfuzz replay {out} --id 1" in html
    assert f"diverfuzz replay {out} --id 2" in html
    assert f"`diverfuzz replay {out}`" in paths["md"].read_text(encoding="utf-8")
    assert ET.parse(paths["junit"]).getroot().get("failures") == "1"


def test_subset_of_formats(tmp_path: Path, sample_report: dict) -> None:
    paths = render_all(sample_report, tmp_path, formats=["md", "md", "junit"])
    assert set(paths) == {"md", "junit"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junit.xml", "report.md"]
    assert set(render_all(sample_report, tmp_path / "one", formats="html")) == {"html"}


@pytest.mark.parametrize("formats", [(), ["pdf"], ["html", "xml"]])
def test_unknown_formats_rejected(tmp_path: Path, sample_report: dict, formats) -> None:
    with pytest.raises(ReportError, match=r"formats=.*'html', 'md'|formats=.*expected"):
        render_all(sample_report, tmp_path, formats=formats)
    assert not list(tmp_path.iterdir())


def test_wrong_version_writes_nothing(tmp_path: Path, sample_report: dict) -> None:
    sample_report["schema_version"] = 3
    with pytest.raises(ReportError, match="schema_version=3"):
        render_all(sample_report, tmp_path / "out")
    assert not (tmp_path / "out").exists()
