"""The explain section of the HTML report: a bar per layer, the fix's layers marked."""

from diverfuzz.reports.explain_view import FIX_MARK, explain_summary, explain_view

SECTION = {
    "layers": ["conv", "fc"],
    "histogram": {"conv": 3, "fc": 1},
    "divergences": 4,
    "fix": {"policy": "DIR/explain_fix.json", "layers": ["conv"], "removed": 0.75, "weights_share": 0.1,
            "macs_share": 0.6, "accuracy": {"before": 0.9, "after": 0.95}},
}


def test_chart_has_a_bar_per_layer_and_marks_the_fix():
    view = explain_view(SECTION)
    svg = str(view["chart"])
    assert f"conv{FIX_MARK}" in svg and "fc" in svg and f"fc{FIX_MARK}" not in svg
    assert "75.0% of the 4 stored divergences" in view["summary"] and "95.0% after" in view["summary"]


def test_no_section_no_view():
    assert explain_view(None) is None and explain_summary({"histogram": {}}) == ""
