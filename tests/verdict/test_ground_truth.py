"""Item 3 of issue 14: with labels, every divergence says which model is right."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from diverfuzz.entry.check import check
from diverfuzz.fuzzer.campaign.summary import correct_side
from diverfuzz.reports.html_report import render_html
from diverfuzz.reports.markdown_report import render_markdown

TARGET = 0.65


def reference(x: torch.Tensor) -> torch.Tensor:
    zeros = torch.zeros(len(x))
    return torch.stack([zeros + 1.0, zeros], dim=1)


def candidate(x: torch.Tensor) -> torch.Tensor:
    """Says class 1 when the mean brightness is within 0.05 of TARGET (a planted bug)."""
    m = x.mean(dim=(1, 2, 3))
    return torch.stack([torch.ones(len(x)), 1.0 + (0.05 - (m - TARGET).abs()) / 0.05], dim=1)


def _seeds(n: int = 6) -> np.ndarray:
    rng = np.random.default_rng(1234)
    base = rng.uniform(0.3, 0.5, size=(n, 1, 1, 1))
    return np.clip(base + rng.normal(0, 0.05, size=(n, 1, 8, 8)), 0, 1).astype(np.float32)


def test_correct_side() -> None:
    assert correct_side(3, 3, 5) == "reference"
    assert correct_side(5, 3, 5) == "candidate"
    assert correct_side(7, 3, 5) == "neither"


def test_divergences_record_true_label_and_who_is_right(tmp_path: Path) -> None:
    x = _seeds()
    y = np.zeros(len(x), dtype=np.int64)  # the reference is right everywhere
    result = check(reference, candidate, x, labels=y, budget=150, validity="linf<=0.5", report_dir=tmp_path / "r")
    divergences = result.divergences
    assert divergences, "the planted pair must diverge for this test to mean anything"
    for d in divergences:
        assert d["true_label"] == 0 and d["correct"] == "reference"
    counts = result.report["summary"]["correct_counts"]
    assert counts == {"reference": len(divergences), "candidate": 0, "neither": 0}
    html = render_html(result.report)
    summary = html[html.index("<h2>Summary</h2>"):html.index("<h2>Divergences")]
    assert f"reference {len(divergences)} · candidate 0 · neither 0" in summary
    assert "true label <span class=\"truth\">0 (reference right)</span>" in html
    markdown = render_markdown(result.report)
    head = markdown[: markdown.index("## Divergences")]
    assert f"| Right on divergences | reference {len(divergences)} · candidate 0 · neither 0 |" in head
    assert "| 0 (reference right) |" in markdown


def test_without_labels_there_is_no_ground_truth(tmp_path: Path) -> None:
    result = check(reference, candidate, _seeds(3), budget=60, validity="linf<=0.5", report_dir=tmp_path / "r")
    assert result.report["summary"]["correct_counts"] is None
    assert all("true_label" not in d for d in result.divergences)
