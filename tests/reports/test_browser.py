"""report.html in a real browser: headless Chromium loads it and shows the images.

Skipped when no Chromium binary is found (set ``DIVERFUZZ_CHROMIUM`` to its
path to choose one); CI installs the OS package ``chromium`` when available.
The report has no scripts, so any console message from the page is an error.
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from diverfuzz.reports import DivergenceImages, render_all


def _find_chromium() -> str | None:
    configured = os.environ.get("DIVERFUZZ_CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


CHROMIUM = _find_chromium()

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium not found or DIVERFUZZ_CHROMIUM not executable (install the OS package 'chromium', e.g. "
           "`apt-get install -y chromium`, or set DIVERFUZZ_CHROMIUM=/path/to/chrome)",
)

_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--force-device-scale-factor=1", "--force-color-profile=srgb",
    "--enable-logging=stderr", "--v=0",
]
# Chromium logs each console message of a page as
#   [pid:tid:time:INFO:CONSOLE(12)] "message", source: file:///... (12)
_CONSOLE = re.compile(r":CONSOLE(?:\(\d+\)|:\d+)?\]|Uncaught")
_IMG = re.compile(r"<img\b[^>]*\bsrc=\"([^\"]*)\"")

# Display colours no part of the page's own styling uses.
_GREEN = (0.0, 1.0, 0.0)
_BLUE = (0.0, 0.0, 1.0)


def _run(args: list[str], tmp_path: Path, name: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{name}"
    env = dict(os.environ, HOME=str(tmp_path))
    return subprocess.run(
        [CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )


def _console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if _CONSOLE.search(line)]


def _images() -> DivergenceImages:
    # 8x8 RGB seed: a green square on black; the mutant adds a blue square.
    seed = np.zeros((3, 8, 8), dtype=np.float32)
    seed[:, 1:7, 1:4] = np.array(_GREEN, dtype=np.float32)[:, None, None]
    mutant = seed.copy()
    mutant[:, 2:6, 5:8] = np.array(_BLUE, dtype=np.float32)[:, None, None]
    return DivergenceImages(seed=seed, mutant=mutant)


def _count(pixels: np.ndarray, rgb: tuple[float, float, float]) -> int:
    target = np.array(rgb) * 255
    return int((np.abs(pixels.astype(int) - target).max(axis=-1) <= 24).sum())


def test_console_detector_sees_page_errors(tmp_path: Path) -> None:
    """Negative control: the log format the other test relies on still holds."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><p>x</p><script>throw new Error("boom")</script>',
                    encoding="utf-8")
    result = _run(["--dump-dom", page.as_uri()], tmp_path, "bad")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = _console_lines(result.stderr)
    assert any("boom" in line for line in lines), result.stderr[-2000:]


@pytest.mark.slow  # two browser launches, about 5 s
def test_report_loads_without_errors_and_shows_images(tmp_path: Path,
                                                      campaign_record: dict) -> None:
    out = tmp_path / "run dir"
    page = render_all(campaign_record, out, images={1: _images()}, formats=("html",))["html"]

    dom = _run(["--dump-dom", page.as_uri()], tmp_path, "dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert not _console_lines(dom.stderr), _console_lines(dom.stderr)
    html = dom.stdout
    assert "chrome-error://" not in html
    assert "<h1>diverfuzz report</h1>" in html and "<h2>Summary</h2>" in html
    assert "50.0 %" in html and "<h2>Divergences (2)</h2>" in html
    assert html.count("<svg") == 2 and "<script" not in html

    sources = _IMG.findall(html)
    assert len(sources) == 3  # seed, mutant, difference of divergence 1
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1], validate=True)))
        image.load()
        assert image.size == (8, 8)

    shot = tmp_path / "page.png"
    result = _run(["--window-size=1280,3200", f"--screenshot={shot}", page.as_uri()],
                  tmp_path, "shot")
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    assert not _console_lines(result.stderr), _console_lines(result.stderr)
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.std() > 10, "screenshot is blank: the page did not render"
    # images are drawn 16x enlarged: the seed's 6x3 green block and the
    # mutant's green and 4x3 blue blocks appear as solid colour areas.
    green, blue = _count(pixels, _GREEN), _count(pixels, _BLUE)
    assert green >= 2 * 6 * 3 * 16 * 16 * 0.8, f"green pixels: {green}"
    assert blue >= 4 * 3 * 16 * 16 * 0.8, f"blue pixels: {blue}"


_MEASURE = """<script>
document.body.setAttribute("data-measured",
  [document.documentElement.scrollWidth, window.innerWidth].join(","));
</script>"""


def _verdict_record(record: dict) -> dict:
    # The real record plus the verdict fields of a labelled run with warnings:
    # everything the summary and divergence sections can show.
    record["summary"].update(
        seeds_checked=10, clean_disagreements=[4, 9], divergence_rate=0.4, validity="ssim>=0.6",
        rejected=31, shrink_queries=120, triage_evaluations=34, screening_queries=700,
        total_model_evaluations=5000, correct_counts={"reference": 1, "candidate": 1, "neither": 0},
        batch_dependent=["candidate"],
        warnings=["the candidate model gives an input different outputs depending on the other inputs in its "
                  "batch; it is run one input at a time so every divergence replays exactly"],
    )
    for d, truth in zip(record["divergences"], ("reference", "candidate")):
        d["true_label"] = d[f"{truth}_label"]
        d["correct"] = truth
        d["triage"] = {"label": "precision-induced", "significant_bits": 21.5, "label_stability": 1.0}
    return record


@pytest.mark.slow  # one browser launch, about 2 s
def test_report_fits_a_1280_px_window_without_horizontal_scrolling(tmp_path: Path,
                                                                    campaign_record: dict) -> None:
    out = tmp_path / "fit"
    page = render_all(_verdict_record(campaign_record), out, images={1: _images()}, formats=("html",))["html"]
    probe = tmp_path / "measured.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
    dom = _run(["--window-size=1280,900", "--dump-dom", probe.as_uri()], tmp_path, "fit")
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'data-measured="(\d+),(\d+)"', dom.stdout)
    assert found, dom.stdout[:2000]
    scroll_width, window_width = map(int, found.groups())
    assert window_width == 1280
    assert scroll_width <= window_width, f"page is {scroll_width} px wide in a {window_width} px window"
