"""Hostile strings in every user-provided field, through every renderer."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np

from diverfuzz.reports import DivergenceImages, read_json, render_all, validate_report

_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class _Tags(HTMLParser):
    """Collects every start tag and attribute name the HTML parser sees."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [name for name, _ in attrs]

    def handle_data(self, data):
        self.text.append(data)


def _render(tmp_path: Path, report: dict) -> dict[str, Path]:
    out = tmp_path / '<script>alert(1)</script> a|b "q" ]]> &amp;'
    rng = np.random.default_rng(0)
    seed = rng.random((1, 8, 8))
    images = {d["id"]: DivergenceImages(seed=seed, mutant=seed[:, ::-1].copy())
              for d in report["divergences"]}
    return render_all(report, out, images)


def test_html_has_no_markup_from_user_data(tmp_path, hostile_report):
    html = _render(tmp_path, hostile_report)["html"].read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert "onerror=" not in html.lower().replace("onerror=alert(1)&gt;", "")
    assert "<img src=x" not in html
    assert not _CONTROLS.search(html)
    parser = _Tags()
    parser.feed(html)
    assert "script" not in parser.tags
    assert not [a for a in parser.attrs if a.startswith("on")]
    assert set(parser.tags) <= {
        "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p",
        "table", "tr", "th", "td", "code", "pre", "section", "strong", "span", "div",
        "figure", "figcaption", "img", "svg", "g", "text", "rect", "a", "dl", "dt", "dd",
    }
    text = "".join(parser.text)
    # the strings are shown (escaped), with controls made visible
    assert "<script>alert(1)</script>" in text
    assert '"><img src=x onerror=alert(1)>' in text
    assert "ctl\\x00\\x07\\x08\\x0b\\x1b\\x7f\\x85end" in text
    # the replay command quotes the hostile folder for the shell
    assert "diverfuzz replay '" in text and "--id 1" in text


def test_html_charts_are_wellformed_svg(tmp_path, hostile_report):
    html = _render(tmp_path, hostile_report)["html"].read_text(encoding="utf-8")
    svgs = re.findall(r"<svg .*?</svg>", html, re.S)
    assert len(svgs) == 2
    for svg in svgs:
        root = ET.fromstring(svg)  # well-formed XML whatever the labels hold
        texts = " ".join(t.text or "" for t in root.iter("text"))
        assert "<script>" in texts or "<img" in texts or "]]>" in texts


def test_junit_parses_and_keeps_the_strings(tmp_path, hostile_report, hostile_strings):
    path = _render(tmp_path, hostile_report)["junit"]
    root = ET.parse(path).getroot()
    assert root.tag == "testsuite"
    case = root.find("testcase")
    assert case is not None and "<script>alert(1)</script>" in case.get("name")
    failure = case.find("failure")
    assert failure is not None
    assert hostile_strings[1] in failure.text and "]]>" in failure.text
    assert "\\x1b" in failure.text  # control character made visible
    raw = path.read_text(encoding="utf-8")
    assert "<script" not in raw and not _CONTROLS.search(raw)


def test_markdown_escapes_pipes_and_markup(tmp_path, hostile_report):
    text = _render(tmp_path, hostile_report)["md"].read_text(encoding="utf-8")
    # the replay commands are code spans: shown literally, never as markup
    replay = next(line for line in text.splitlines() if line.startswith("Replay: "))
    assert replay.startswith("Replay: `diverfuzz replay '") and replay.endswith("--id N`)")
    assert replay.count("`") == 4
    text = text.replace(replay, "")
    assert "<script" not in text and "<img" not in text
    assert not _CONTROLS.search(text)
    for line in text.splitlines():
        if line.startswith("| "):
            # unescaped pipes are column separators only: same count per table row
            cells = re.split(r"(?<!\\)\|", line.replace("\\\\", ""))
            assert cells[0] == "" and cells[-1] == ""
    div_rows = [l for l in text.splitlines() if l.startswith("| 1 |") or l.startswith("| 2 |")]
    assert len(div_rows) == 2
    for row in div_rows:
        assert len(re.findall(r"(?<!\\)\|", row.replace("\\\\", ""))) == 8  # 7 columns
    assert "pipe\\|cell\\\\" in text  # pipe escaped, trailing backslash doubled


def test_json_round_trips_and_validates(tmp_path, hostile_report):
    path = _render(tmp_path, hostile_report)["json"]
    again = read_json(path)
    assert again == json.loads(json.dumps(hostile_report))
    validate_report(again)
