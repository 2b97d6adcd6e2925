"""Tests for diverfuzz.reports.aggregate (counts) and diverfuzz.reports.charts (inline SVG)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from diverfuzz.reports import ReportError
from diverfuzz.reports.aggregate import (
    effective_chain,
    label_change_counts,
    label_matrix,
    relation_counts,
)
from diverfuzz.reports.charts import bar_chart_svg


def _div(ref, cand, chain, minimal=None):
    d = {"reference_label": ref, "candidate_label": cand,
         "chain": [{"relation": r, "params": {}} for r in chain]}
    if minimal is not None:
        d["minimal_chain"] = [{"relation": r, "params": {}} for r in minimal]
    return d


def test_relation_counts_prefer_minimal_chain_and_count_once() -> None:
    divs = [
        _div(1, 2, ["gamma", "shear", "shear"], minimal=["shear"]),
        _div(1, 2, ["blur", "shear"]),
        _div(3, 4, ["blur"], minimal=None),
        {"reference_label": 0, "candidate_label": 1, "chain": [{"relation": "zoom"}],
         "minimal_chain": None},  # recorded as null: fall back to chain
    ]
    # ties ordered by name; gamma only in a found chain that was shrunk away
    assert relation_counts(divs) == [("blur", 2), ("shear", 2), ("zoom", 1)]
    assert [s["relation"] for s in effective_chain(divs[0])] == ["shear"]
    assert effective_chain({}) == []


def test_label_changes_and_matrix() -> None:
    divs = [_div(3, 5, []), _div(3, 5, []), _div(10, 2, []), _div("cat", "dog", [])]
    changes = label_change_counts(divs)
    assert changes == [("3", "5", 2), ("10", "2", 1), ("cat", "dog", 1)]
    rows, cols, counts = label_matrix(changes)
    assert rows == ["3", "10", "cat"] and cols == ["2", "5", "dog"]
    assert counts == [[0, 2, 0], [1, 0, 0], [0, 0, 1]]
    many = [(str(i), str(i + 1), 1) for i in range(13)]
    assert label_matrix(many) is None
    assert label_matrix([]) is None


def test_bar_chart_is_wellformed_and_escaped() -> None:
    items = [("<script>alert(1)</script>", 5), ('"><img onerror=x>', 2), ("]]>&amp;\x1b", 0)]
    svg = bar_chart_svg(items, title="t <b>")
    root = ET.fromstring(str(svg))
    assert root.tag == "svg" and root.get("aria-label") == "t <b>"
    texts = [t.text for t in root.iter("text")]
    assert texts[:2] == ["<script>alert(1)</script>", "5"]
    assert "]]>&amp;\\x1b" in texts
    assert "<script" not in str(svg) and "<img" not in str(svg)
    widths = [int(r.get("width")) for r in root.iter("rect")]
    assert widths[0] > widths[1] > widths[2] == 0


def test_bar_chart_truncates_and_limits() -> None:
    items = [("x" * 80, 3)] + [(f"r{i}", 1) for i in range(30)]
    root = ET.fromstring(str(bar_chart_svg(items, title="t", max_bars=5)))
    texts = [t.text for t in root.iter("text")]
    assert texts[0] == "x" * 35 + "…"
    assert texts[-1] == "… and 26 more"
    assert len(list(root.iter("rect"))) == 5
    tooltips = [t.text for t in root.iter("title")]
    assert "x" * 80 + ": 3" in tooltips  # full label kept as a tooltip
    assert str(bar_chart_svg([], title="t")) == ""


@pytest.mark.parametrize("kwargs, items", [({"max_bars": 0}, [("a", 1)]),
                                           ({}, [("a", -1)]), ({}, [("a", 1.5)])])
def test_bar_chart_rejects_bad_input(kwargs, items) -> None:
    with pytest.raises(ReportError):
        bar_chart_svg(items, title="t", **kwargs)
