"""Fixtures for the reports tests: a sample campaign record and images."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from diverfuzz.reports import DivergenceImages

_SAMPLE: dict[str, Any] = {
    "schema_version": 1,
    "tool": {"name": "diverfuzz", "version": "0.1.0"},
    "config": {
        "model": "default (digits CNN)",
        "candidate": "int8-static",
        "strategy": "genetic",
        "budget": 500,
        "seeds": 100,
        "rng_seed": 0,
        "validity": "ssim>=0.6",
        "data": "sklearn load_digits test split",
        "note": "<script>alert(1)</script>",
        "output": "runs/a|b/report",
    },
    "versions": {"python": "3.11.7", "torch": "2.3.0", "numpy": "1.26.4"},
    "summary": {
        "seeds": 100,
        "seeds_disagreeing_initially": 3,
        "seeds_with_divergence": 42,
        "success_rate": 0.42,
        "queries": 12345,
        "median_queries_to_first_divergence": 87.5,
        "wall_seconds": 61.25,
        "interrupted": False,
    },
    "divergences": [
        {
            "id": 0,
            "seed_index": 17,
            "chain": [
                {"relation": "rotation", "params": {"angle": 12.5}},
                {"relation": "gaussian_blur", "params": {"sigma": 0.8}},
            ],
            "reference_label": 3,
            "candidate_label": 5,
            "reference_probs": [0.01, 0.02, 0.03, 0.81, 0.03, 0.1, 0.0, 0.0, 0.0, 0.0],
            "candidate_probs": [0.01, 0.02, 0.03, 0.3, 0.03, 0.61, 0.0, 0.0, 0.0, 0.0],
            "fitness": 0.5123,
            "validity": {"ssim": 0.91, "psnr": float("inf"), "l0": 12.0,
                         "l2": 0.83, "linf": 0.25},
            "queries": 87,
            "found_at": "2024-05-01T12:00:00+00:00",
        },
        {
            "id": 1,
            "seed_index": 23,
            "chain": [{"relation": "<b>bold|rel</b>", "params": {"k": "x|y"}}],
            "reference_label": 7,
            "candidate_label": 1,
            "reference_probs": [0.0] * 7 + [0.9, 0.1, 0.0],
            "candidate_probs": [0.0, 0.55] + [0.0] * 5 + [0.45, 0.0, 0.0],
            "fitness": 0.1,
            "validity": {"ssim": 0.75, "psnr": 31.2, "l0": 3.0, "l2": 0.1, "linf": 0.05},
            "queries": 240,
            "found_at": "2024-05-01T12:01:00+00:00",
        },
    ],
}


@pytest.fixture
def sample_report() -> dict[str, Any]:
    """A fresh copy of a two-divergence report with ``psnr = inf``."""
    return copy.deepcopy(_SAMPLE)


@pytest.fixture
def empty_report(sample_report: dict[str, Any]) -> dict[str, Any]:
    """The sample report with no divergences."""
    sample_report["divergences"] = []
    sample_report["summary"]["seeds_with_divergence"] = 0
    sample_report["summary"]["success_rate"] = 0.0
    sample_report["summary"]["median_queries_to_first_divergence"] = None
    return sample_report


@pytest.fixture
def digit_images() -> DivergenceImages:
    """An 8x8 single-channel seed and a perturbed mutant."""
    rng = np.random.default_rng(0)
    seed = rng.random((1, 8, 8), dtype=np.float32)
    mutant = np.clip(seed + rng.normal(0, 0.1, size=seed.shape), 0, 1).astype(np.float32)
    return DivergenceImages(seed=seed, mutant=mutant)


_DATA = Path(__file__).resolve().parent / "data"

#: Strings that try to break out of every format the reports write.
HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "]]>",
    "&amp;",
    "ctl\x00\x07\x08\x0b\x1b\x7f\x85end",
    "pipe|cell\\",
    "`tick``s`",
]


@pytest.fixture
def campaign_record() -> dict[str, Any]:
    """A real record from ``diverfuzz run --seeds 8 --budget 200`` (2 divergences kept).

    It has the optional fields a shrinking campaign adds (``minimal_chain``,
    ``minimal_distance``, ``shrink_queries``, ``cluster_size``, ``mode``).
    """
    with open(_DATA / "campaign_record.json", encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture
def hostile_report(campaign_record: dict[str, Any]) -> dict[str, Any]:
    """The real record with hostile strings in every user-provided field."""
    h = HOSTILE
    joined = " ".join(h)
    report = campaign_record
    report["config"].update(model=joined, candidate=h[1], precision=h[0],
                            data=h[4], relations=list(h))
    report["config"][h[0]] = h[2]
    report["workload"] = {"model": joined, "candidate": h[1] + h[5], "data": h[3],
                          h[1]: h[4]}
    report["fingerprints"] = {"reference": h[0], h[1]: h[5]}
    report["versions"][h[0]] = h[1]
    report["tool"]["version"] = h[1]
    for i, div in enumerate(report["divergences"]):
        div["reference_label"] = h[i % len(h)] + h[5]
        div["candidate_label"] = h[(i + 1) % len(h)] + h[4]
        div["found_at"] = h[2] + h[4]
        for key in ("chain", "minimal_chain"):
            for j, step in enumerate(div[key]):
                step["relation"] = h[(i + j) % len(h)] + h[5]
                step["params"][h[1]] = joined
        div["validity"][h[0]] = 0.5
    return report


@pytest.fixture
def hostile_strings() -> list[str]:
    """The hostile strings :func:`hostile_report` plants (a fresh list)."""
    return list(HOSTILE)
