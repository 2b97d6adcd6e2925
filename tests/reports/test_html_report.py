"""Tests for diverfuzz.reports.html_report: content, images, escaping, self-containment."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest
from markupsafe import escape
from PIL import Image

from diverfuzz.reports import DivergenceImages, ReportError, write_html
from diverfuzz.reports.formatting import SUMMARY_HELP

URI_RE = re.compile(r'data:image/png;base64,([A-Za-z0-9+/=]+)')


def _render(tmp_path: Path, report: dict, **kwargs) -> str:
    path = write_html(report, tmp_path / "report.html", **kwargs)
    assert path == tmp_path / "report.html"
    return path.read_text(encoding="utf-8")


def test_summary_numbers(tmp_path: Path, sample_report: dict) -> None:
    html = _render(tmp_path, sample_report)
    assert "<title>diverfuzz report</title>" in html
    for text in ("100", "42", "42.0 %", "12345", "87.5", "61.2", "Interrupted"):
        assert text in html
    assert "sklearn load_digits test split" in html
    assert "3.11.7" in html
    assert "rotation(angle=12.5) → gaussian_blur(sigma=0.8)" in html
    assert "0.810" in html and "0.610" in html  # top probabilities
    assert "∞" in html  # psnr inf in memory
    assert "No divergences found" not in html


def test_images_inline_and_decodable(tmp_path: Path, sample_report: dict,
                                     digit_images: DivergenceImages) -> None:
    html = _render(tmp_path, sample_report, images={0: digit_images})
    uris = URI_RE.findall(html)
    assert len(uris) == 3
    for payload in uris:
        image = Image.open(io.BytesIO(base64.b64decode(payload, validate=True)))
        assert image.format == "PNG"
        assert image.size == (8, 8)
    # enlarged for display, pixelated
    assert html.count('width="128" height="128"') == 3
    assert "image-rendering: pixelated" in html
    for caption in ("seed", "mutant", "|mutant − seed|"):
        assert f"<figcaption>{caption}" in html


def test_rgb_images(tmp_path: Path, sample_report: dict) -> None:
    rng = np.random.default_rng(2)
    seed = rng.random((3, 32, 48), dtype=np.float32)
    images = {1: DivergenceImages(seed=seed, mutant=seed[::-1].copy())}
    html = _render(tmp_path, sample_report, images=images)
    modes = [Image.open(io.BytesIO(base64.b64decode(p))).mode for p in URI_RE.findall(html)]
    assert modes == ["RGB", "RGB", "L"]
    assert html.count('width="96" height="64"') == 3


def test_user_strings_are_escaped(tmp_path: Path, sample_report: dict) -> None:
    sample_report["config"]["<key>"] = "a & b"
    sample_report["versions"]["torch"] = '"><img src=x onerror=alert(1)>'
    html = _render(tmp_path, sample_report)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    assert "<script" not in html
    assert "&lt;b&gt;bold|rel&lt;/b&gt;" in html
    assert "<b>bold" not in html
    assert "&lt;key&gt;" in html and "a &amp; b" in html
    assert "<img src=x" not in html


def test_no_external_resources(tmp_path: Path, sample_report: dict,
                               digit_images: DivergenceImages) -> None:
    sample_report["config"]["homepage"] = "https://example.com/x"
    html = _render(tmp_path, sample_report, images={0: digit_images})
    assert not re.search(r'(src|href)\s*=\s*["\']?\s*(https?:)?//', html, re.I)
    assert "<link" not in html and "<script" not in html
    assert "@import" not in html and "url(" not in html
    for src in re.findall(r'src="([^"]*)"', html):
        assert src.startswith("data:image/png;base64,")


def test_zero_divergences(tmp_path: Path, empty_report: dict) -> None:
    html = _render(tmp_path, empty_report)
    assert "No divergences found" in html
    assert "data:image" not in html


def test_max_divergences_reports_omitted(tmp_path: Path, sample_report: dict,
                                         digit_images: DivergenceImages) -> None:
    html = _render(tmp_path, sample_report, images={0: digit_images, 1: digit_images},
                   max_divergences=1)
    assert "Showing the first 1 of 2 divergences; 1 omitted" in html
    assert 'id="divergence-0"' in html and 'id="divergence-1"' not in html
    assert len(URI_RE.findall(html)) == 3


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_max_divergences_validated(tmp_path: Path, sample_report: dict, bad) -> None:
    with pytest.raises(ReportError, match="max_divergences"):
        write_html(sample_report, tmp_path / "r.html", max_divergences=bad)


def test_bad_image_entry(tmp_path: Path, sample_report: dict) -> None:
    with pytest.raises(ReportError, match=r"images\[0\]"):
        write_html(sample_report, tmp_path / "r.html", images={0: np.zeros((1, 8, 8))})


def test_rejects_wrong_schema(tmp_path: Path, sample_report: dict) -> None:
    sample_report["schema_version"] = 2
    with pytest.raises(ReportError, match="schema_version=2"):
        write_html(sample_report, tmp_path / "r.html")


def test_renders_record_read_back_from_json(tmp_path: Path, sample_report: dict) -> None:
    from diverfuzz.reports import read_json, write_json

    record = read_json(write_json(sample_report, tmp_path / "r.json"))
    html = _render(tmp_path, record)
    assert "—" in html  # psnr stored as null


def test_models_and_data_section_is_shown_and_escaped():
    from diverfuzz.reports.html_report import render_html

    report = {
        "schema_version": 1,
        "summary": {},
        "divergences": [],
        "workload": {"model": "net.py:<build>", "data": "digits test split"},
    }
    html = render_html(report)
    assert "Models and data" in html
    assert "net.py:&lt;build&gt;" in html and "digits test split" in html


def test_summary_first_with_pair_precision_budget(tmp_path: Path, campaign_record: dict) -> None:
    html = _render(tmp_path, campaign_record)
    order = [html.index(s) for s in ("<h2>Summary</h2>", "<h2>Charts</h2>",
                                     "<h2>Divergences (2)</h2>", "<h2>Environment</h2>")]
    assert order == sorted(order)
    summary = html[order[0]:order[1]]
    assert ("bundled digits CNN (trained from seed 0) / int8-static counterpart of "
            "the reference") in summary
    for row in (f"<th scope=\"row\" title=\"{escape(SUMMARY_HELP['Precision'])}\">Precision</th><td>int8-static</td>",
                f"<th scope=\"row\" title=\"{escape(SUMMARY_HELP['Budget per seed'])}\">Budget per seed</th><td>200</td>",
                f"<th scope=\"row\" title=\"{escape(SUMMARY_HELP['Mode'])}\">Mode</th><td>first</td>",
                f"<th scope=\"row\" title=\"{escape(SUMMARY_HELP['Success rate'])}\">Success rate</th><td>50.0 %</td>",
                f"<th scope=\"row\" title=\"{escape(SUMMARY_HELP['Queries'])}\">Queries</th><td>1276</td>"):
        assert row in summary
    assert f"diverfuzz replay {tmp_path}" in summary


def test_charts_count_minimal_chains_and_label_changes(tmp_path: Path,
                                                       campaign_record: dict) -> None:
    import xml.etree.ElementTree as ET

    html = _render(tmp_path, campaign_record)
    svgs = re.findall(r"<svg .*?</svg>", html, re.S)
    assert len(svgs) == 2
    relations = ET.fromstring(svgs[0])
    titles = [t.text for t in relations.iter("title")][1:]
    # both minimal chains use shear and occlusion; "gamma" is only in a found chain
    assert titles[:2] == ["occlusion: 2", "shear: 2"]
    assert "perspective: 1" in titles and not any(t.startswith("gamma") for t in titles)
    changes = [t.text for t in ET.fromstring(svgs[1]).iter("title")][1:]
    assert changes == ["1 → 4: 1", "3 → 8: 1"]
    assert 'class="heat"' in html


def test_divergence_details(tmp_path: Path, campaign_record: dict,
                            digit_images: DivergenceImages) -> None:
    html = _render(tmp_path, campaign_record, images={1: digit_images})
    section = html[html.index('id="divergence-1"'):html.index('id="divergence-2"')]
    assert "Divergence 1 · seed 0" in section
    assert "Minimal chain: <span class=\"chain\">shear(shear=0.265518) → occlusion(" in section
    assert "Chain found by the search: <span class=\"chain\">gamma(" in section
    # top-3 of each model: class and probability
    assert re.search(r"<td>1</td><td class=\"num\">0\.468</td>\s*<td>4</td>"
                     r"<td class=\"num\">0\.464</td>", section)
    assert re.search(r"<td>7</td><td class=\"num\">0\.096</td>\s*<td>7</td>", section)
    for name in ("ssim", "psnr", "minimal distance", "shrink queries", "cluster size"):
        assert re.search(f'<th scope="row" title="[^"]+">{name}</th><td class="num">', section)
    assert section.count("data:image/png;base64,") == 3
    assert f"diverfuzz replay {tmp_path} --id 1" in section


def test_environment_shows_fingerprints(tmp_path: Path, campaign_record: dict) -> None:
    html = _render(tmp_path, campaign_record)
    env = html[html.index("<h2>Environment</h2>"):]
    assert "<th scope=\"row\">reference</th><td><code>d9b86424a0b8b515</code></td>" in env
    assert "2.13.0+cpu" in env


def test_optional_fields_absent(tmp_path: Path, sample_report: dict) -> None:
    html = _render(tmp_path, sample_report)
    assert "Minimal chain" not in html and "Chain found by the search" not in html
    assert "Chain: <span class=\"chain\">rotation(angle=12.5)" in html
    assert "minimal distance" not in html
    assert "<h3>Model fingerprints</h3>\n<p>—</p>" in html


def test_report_dir_placeholder_and_control_characters() -> None:
    from diverfuzz.reports.html_report import render_html

    report = {"schema_version": 1, "summary": {}, "config": {"note": "a\x1bb\x00"},
              "divergences": [{"id": 4, "seed_index": 0, "chain": [],
                               "reference_label": 1, "candidate_label": 2,
                               "reference_probs": None, "candidate_probs": [0.2, None, 0.8],
                               "queries": 3}]}
    html = render_html(report)
    assert "diverfuzz replay DIR --id 4" in html
    assert "a\\x1bb\\x00" in html and "\x1b" not in html and "\x00" not in html
    assert "Chain: <span class=\"chain\">(identity)</span>" in html
