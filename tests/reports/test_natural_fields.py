"""Reports of the natural rule: severity, geometry, pixel validity, margins, moved seed.

Every renderer shows the fields a natural-rule record carries and still renders a
record written before them (none of the fields, as in ``conftest._SAMPLE``).
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from diverfuzz.entry.tables import campaign_table
from diverfuzz.reports import DivergenceImages, ReportError, validate_report
from diverfuzz.reports.formatting import format_geometry, margin_text
from diverfuzz.reports.html_report import render_html
from diverfuzz.reports.images import array_to_png_data_uri, difference_image
from diverfuzz.reports.junit_report import render_junit
from diverfuzz.reports.markdown_report import render_markdown

_GEOMETRY = [
    {"relation": "rotation", "values": {"angle": 7.2}, "units": {"angle": "degrees"}},
    {"relation": "translation", "values": {"dx": 1.4, "dy": -0.7}, "units": {"dx": "pixels", "dy": "pixels"}},
]
_GEOMETRY_TEXT = "rotation 7.2 degrees, translation dx 1.4 pixels dy -0.7 pixels"


@pytest.fixture
def natural_report(sample_report: dict[str, Any]) -> dict[str, Any]:
    """The sample record as the natural rule writes it: one decisive divergence, one near-tie."""
    sample_report["config"]["validity"] = "natural"
    sample_report["summary"].update(
        validity="natural:3 and psnr>=20",
        min_margin=0.0,
        decisive_counts={">=0.05": 12, ">=0.1": 9},
        reference_margins={"q25": 0.12, "median": 0.31, "q75": 0.55},
    )
    first, second = sample_report["divergences"]
    first.update(
        reference_margin=0.71, candidate_margin=0.31, severity=3, geometry=_GEOMETRY,
        pixel_validity={"ssim": 0.88, "psnr": 23.5, "l0": 0.2, "l2": 0.4, "linf": 0.12},
    )
    second.update(reference_margin=0.0016, candidate_margin=0.1, severity=1, geometry=[], pixel_validity=None)
    return sample_report


@pytest.fixture
def moved_images() -> DivergenceImages:
    """An 8x8 seed, the seed shifted by one pixel (moved) and a mutant of the moved seed."""
    rng = np.random.default_rng(1)
    seed = rng.random((1, 8, 8)).astype(np.float32)
    moved = np.roll(seed, 1, axis=-1)
    mutant = np.clip(moved + 0.05, 0, 1).astype(np.float32)
    return DivergenceImages(seed=seed, mutant=mutant, moved=moved)


def _section(html: str, div_id: int) -> str:
    start = html.index(f'id="divergence-{div_id}"')
    end = html.find("</section>", start)
    return html[start:end]


def test_natural_record_validates(natural_report) -> None:
    validate_report(natural_report)


# ---- formatting ------------------------------------------------------------------------------


def test_geometry_text_in_units() -> None:
    assert format_geometry(_GEOMETRY) == _GEOMETRY_TEXT
    assert format_geometry([{"relation": "zoom", "values": {"factor": 1.08}, "units": {"factor": "scale factor"}}]) \
        == "zoom ×1.08"
    assert format_geometry([]) == "none"
    assert format_geometry(None) is None


def test_margin_text_flags_near_ties() -> None:
    assert "near-tie" in margin_text(0.0016, flag=True)
    assert "near-tie" not in margin_text(0.5, flag=True)
    assert margin_text(None, flag=True) == "—"


# ---- images ----------------------------------------------------------------------------------


def test_moved_must_match_the_seed_shape() -> None:
    seed = np.zeros((1, 8, 8), dtype=np.float32)
    with pytest.raises(ReportError, match="moved.shape"):
        DivergenceImages(seed=seed, mutant=seed, moved=np.zeros((1, 4, 4), dtype=np.float32))


def test_moved_defaults_to_none(digit_images) -> None:
    assert digit_images.moved is None
    assert digit_images.base is digit_images.seed


# ---- HTML ------------------------------------------------------------------------------------


def test_html_shows_the_natural_fields(natural_report) -> None:
    html = render_html(natural_report)
    first, second = _section(html, 0), _section(html, 1)
    assert "severity 3" in first
    assert _GEOMETRY_TEXT in first
    assert "after the geometry: psnr 23.5, ssim 0.88" in first
    assert "against the seed: psnr ∞, ssim 0.91" in first
    assert "reference margin 0.71" in first and "candidate margin 0.31" in first
    assert "psnr after geometry" in first
    assert "Near-tie" not in first
    assert "geometry: none" in second
    assert "Near-tie" in second and "0.0016" in second
    # the summary
    assert "Seeds with a decisive divergence" in html
    assert "≥0.05: 12 · ≥0.1: 9" in html
    assert "median 0.31 (q25 0.12, q75 0.55)" in html
    assert "Minimum reference margin" in html
    # the legend explains the new metrics
    legend = html[html.index('id="legend"'):]
    assert "reference margin" in legend and "near-tie" in legend


def test_html_renders_an_older_record(sample_report, digit_images) -> None:
    html = render_html(sample_report, {0: digit_images})
    assert "Divergence 0" in html
    for absent in ("Near-tie", "decisive", "after geometry", "severity", "moved seed", "Reference margin"):
        assert absent not in html
    assert html.count("<img ") == 3


def test_html_renders_null_natural_fields(natural_report) -> None:
    for d in natural_report["divergences"]:
        d.update(reference_margin=None, candidate_margin=None, severity=None, geometry=None, pixel_validity=None)
    natural_report["summary"].update(decisive_counts=None, reference_margins=None, min_margin=None)
    html = render_html(natural_report)
    assert "Near-tie" not in html
    assert "severity beyond 5" in html


def test_html_escapes_a_geometry_relation(natural_report) -> None:
    hostile = "<script>alert(1)</script>"
    natural_report["divergences"][0]["geometry"] = [
        {"relation": hostile, "values": {'"><b>': 1.0}, "units": {'"><b>': "<i>px</i>"}}]
    html = render_html(natural_report)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<i>px</i>" not in html and "<b>" not in html


def test_html_shows_the_moved_seed(natural_report, moved_images) -> None:
    html = render_html(natural_report, {0: moved_images})
    first = _section(html, 0)
    assert first.count("<img ") == 4
    assert "moved seed (the chain&#39;s geometric steps alone)" in first
    assert "|mutant − moved seed|" in first
    order = [first.index(s) for s in ('alt="seed input', 'alt="seed moved', 'alt="mutant', 'alt="absolute difference')]
    assert order == sorted(order)
    # the difference is taken against the moved seed, not the seed
    against_moved = array_to_png_data_uri(difference_image(moved_images.moved, moved_images.mutant))
    against_seed = array_to_png_data_uri(difference_image(moved_images.seed, moved_images.mutant))
    assert against_moved in first and against_seed not in first


def test_html_signal_with_moved_seed(natural_report) -> None:
    t = np.linspace(0, 1, 50)
    seed = np.stack([0.5 + 0.3 * np.sin(6 * t), 0.5 + 0.2 * np.cos(4 * t)])
    moved = np.roll(seed, 3, axis=-1)
    images = DivergenceImages(seed=seed, mutant=np.clip(moved + 0.02, 0, 1), kind="signal", moved=moved)
    first = _section(render_html(natural_report, {0: images}), 0)
    assert first.count("<img ") == 1
    assert "moved seed (blue)" in first


# ---- Markdown --------------------------------------------------------------------------------


def test_markdown_shows_the_natural_fields(natural_report) -> None:
    text = render_markdown(natural_report)
    header = next(line for line in text.splitlines() if line.startswith("| ID |"))
    assert header == ("| ID | Seed | Reference | Candidate | True label | Chain | Severity | Geometry "
                      "| Reference margin | Queries |")
    row0 = next(line for line in text.splitlines() if line.startswith("| 0 |"))
    assert "| 3 |" in row0 and _GEOMETRY_TEXT in row0 and "| 0.71 |" in row0
    row1 = next(line for line in text.splitlines() if line.startswith("| 1 |"))
    assert "| none |" in row1 and "near-tie" in row1
    assert "| Seeds with a decisive divergence | ≥0.05: 12 · ≥0.1: 9 |" in text
    assert "| Reference margin of divergences | median 0.31 (q25 0.12, q75 0.55) |" in text


def test_markdown_renders_an_older_record(sample_report) -> None:
    text = render_markdown(sample_report)
    header = next(line for line in text.splitlines() if line.startswith("| ID |"))
    assert header == "| ID | Seed | Reference | Candidate | True label | Chain | Queries |"
    assert "decisive" not in text and "Severity" not in text


def test_markdown_escapes_a_geometry_relation(natural_report) -> None:
    natural_report["divergences"][0]["geometry"] = [
        {"relation": "<script>x|y</script>", "values": {"a": 1.0}, "units": {"a": "px"}}]
    text = render_markdown(natural_report)
    assert "<script>" not in text
    assert "&lt;script&gt;x\\|y&lt;/script&gt; 1 px" in text


# ---- JUnit -----------------------------------------------------------------------------------


def _properties(xml: str) -> dict[str, str]:
    root = ET.fromstring(xml.split("\n", 1)[1])
    return {p.get("name"): p.get("value") for p in root.iter("property")}


def test_junit_carries_decisive_counts(natural_report) -> None:
    props = _properties(render_junit(natural_report))
    assert props["decisive_seeds_margin_0.05"] == "12"
    assert props["decisive_seeds_margin_0.1"] == "9"
    assert props["reference_margin_median"] == "0.31"
    assert props["min_margin"] == "0"


def test_junit_renders_an_older_record(sample_report) -> None:
    props = _properties(render_junit(sample_report))
    assert not any(re.match("decisive|reference_margin|min_margin", name) for name in props)
    assert props["divergences"] == "2"


# ---- the CLI's campaign table ----------------------------------------------------------------


def _table_text(report: dict) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(campaign_table(report))
    return console.file.getvalue()


def test_campaign_table_shows_margins(natural_report) -> None:
    text = _table_text(natural_report)
    assert "decisive divergences (reference margin >= 0.05 / >= 0.1)" in text
    assert "12 / 9 seeds" in text
    assert "reference margin of divergences (median)" in text
    assert "0.31 (q25 0.12, q75 0.55)" in text
    natural_report["summary"]["min_margin"] = 0.05
    assert "counted only at reference margin >=" in _table_text(natural_report)


def test_campaign_table_without_margins(sample_report) -> None:
    text = _table_text(sample_report)
    assert "decisive" not in text and "reference margin" not in text


# ---- the campaign's images -------------------------------------------------------------------


def test_driver_moves_the_seed_for_geometric_chains() -> None:
    from diverfuzz.fuzzer.campaign.driver import _moved_seed
    from diverfuzz.relations import Chain, Step

    seed = np.random.default_rng(2).random((1, 12, 12)).astype(np.float32)
    rotation = Step("rotation", {"angle": 10.0})
    natural = SimpleNamespace(chain=Chain((rotation,)), pixel_validity={"psnr": 30.0})
    moved = _moved_seed(natural, seed)
    assert moved is not None and moved.shape == seed.shape
    np.testing.assert_array_equal(moved, Chain((rotation,)).apply(seed))
    # a metric rule judged against the seed: no moved seed
    assert _moved_seed(SimpleNamespace(chain=Chain((rotation,)), pixel_validity=None), seed) is None
    # no geometric step: no moved seed
    assert _moved_seed(SimpleNamespace(chain=Chain(()), pixel_validity={"psnr": 30.0}), seed) is None
