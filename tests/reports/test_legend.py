"""Every summary row and divergence metric is explained (tooltip and legend), the validity rule shown."""

from __future__ import annotations

import re

from diverfuzz.reports import DivergenceImages
from diverfuzz.reports.formatting import SUMMARY_HELP, overview_rows
from diverfuzz.reports.html_report import render_html
from diverfuzz.reports.markdown_report import render_markdown


def _record(campaign_record: dict) -> dict:
    campaign_record["summary"].update(
        seeds_checked=10, clean_disagreements=[4], divergence_rate=0.3, validity="ssim>=0.6", rejected=5,
        shrink_queries=9, triage_evaluations=17, screening_queries=30, total_model_evaluations=900,
        correct_counts={"reference": 1, "candidate": 1, "neither": 0}, batch_dependent=["candidate"],
        warnings=["w1"],
    )
    return campaign_record


def test_every_summary_row_has_a_meaning(campaign_record: dict) -> None:
    labels = [label for label, _ in overview_rows(_record(campaign_record))]
    assert "Validity rule" in labels and "Divergence rate" in labels and "Right on divergences" in labels
    assert [label for label in labels if not SUMMARY_HELP.get(label)] == []


def test_html_explains_every_row_and_metric(campaign_record: dict, digit_images: DivergenceImages) -> None:
    html = render_html(_record(campaign_record), {1: digit_images})
    summary = html[html.index('<table class="summary">'):html.index("</table>", html.index('<table class="summary">'))]
    rows = re.findall(r"<th scope=\"row\"([^>]*)>", summary)
    assert rows and all('title="' in attrs for attrs in rows)
    assert '<th scope="row" title="' in html and ">Validity rule</th><td>ssim&gt;=0.6</td>" in html
    metrics = re.findall(r'<table class="details metrics">(.*?)</table>', html, re.S)
    assert len(metrics) == len(campaign_record["divergences"])
    legend = html[html.index('<h2 id="legend">'):]
    for table in metrics:
        for attrs, name in re.findall(r"<th scope=\"row\"([^>]*)>([^<]+)</th>", table):
            assert 'title="' in attrs, name
            assert f"<dt>{name}</dt>" in legend, name
    assert '<div class="warnings" role="alert">' in html and "<li>w1</li>" in html


def test_markdown_explains_every_summary_row(campaign_record: dict) -> None:
    text = render_markdown(_record(campaign_record))
    table = text[text.index("| Metric | Value | Meaning |"):text.index("Replay:")]
    rows = [line for line in table.splitlines()[2:] if line.startswith("|")]
    assert rows and all(not line.endswith("|  |") for line in rows)
    assert "| Validity rule | ssim&gt;=0.6 |" in text and "> **Warning:** w1" in text
