"""Tests for diverfuzz.reports.junit_report."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from diverfuzz.reports import ReportError, write_junit


def _props(root: ET.Element) -> dict[str, str]:
    return {p.get("name"): p.get("value") for p in root.find("properties")}


def test_suite_properties_and_failure(tmp_path: Path, campaign_record: dict) -> None:
    path = write_junit(campaign_record, tmp_path / "out" / "junit.xml")
    assert path == tmp_path / "out" / "junit.xml"
    assert path.read_text(encoding="utf-8").startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.parse(path).getroot()
    assert root.tag == "testsuite"
    assert root.get("name") == "diverfuzz"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("1", "1", "0")
    assert root.get("time") == "9.008"
    props = _props(root)
    assert props["divergences"] == "2"
    assert props["success_rate"] == "0.5"
    assert props["queries"] == "1276"
    assert props["seeds"] == "8"
    assert props["precision"] == "int8-static"
    cases = root.findall("testcase")
    assert len(cases) == 1
    assert cases[0].get("name") == ("bundled digits CNN (trained from seed 0) / "
                                    "int8-static counterpart of the reference")
    failure = cases[0].find("failure")
    assert failure.get("message") == "2 divergences on 4 of 8 seeds (success rate 50.0 %)"
    assert failure.get("type") == "diverfuzz.Divergence"
    # minimal chain listed, not the chain the search found
    assert "divergence 1 (seed 0): reference 1 -> candidate 4 via shear(" in failure.text
    assert "gamma(" not in failure.text


def test_no_divergence_passes(tmp_path: Path, empty_report: dict) -> None:
    root = ET.parse(write_junit(empty_report, tmp_path / "j.xml", name="my pair")).getroot()
    assert root.get("failures") == "0" and root.get("name") == "my pair"
    case = root.find("testcase")
    assert case.get("classname") == "my pair"
    assert case.find("failure") is None
    assert _props(root)["divergences"] == "0"


def test_escapes_hostile_strings(tmp_path: Path, sample_report: dict) -> None:
    evil = '<script>alert(1)</script> "q" ]]> &amp; \x00\x1b|'
    sample_report["config"]["model"] = evil
    sample_report["config"]["precision"] = evil
    sample_report["divergences"][0]["reference_label"] = evil
    path = write_junit(sample_report, tmp_path / "j.xml", name=evil)
    root = ET.parse(path).getroot()  # parses: nothing raw, no control characters
    visible = '<script>alert(1)</script> "q" ]]> &amp; \\x00\\x1b|'
    assert root.get("name") == visible
    assert _props(root)["precision"] == visible
    assert visible in root.find("testcase/failure").text
    assert "<script" not in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["", None, 3])
def test_rejects_bad_name(tmp_path: Path, sample_report: dict, name) -> None:
    with pytest.raises(ReportError, match="name="):
        write_junit(sample_report, tmp_path / "j.xml", name=name)
