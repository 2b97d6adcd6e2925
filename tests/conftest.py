"""Shared fixtures: a tiny model pair and seed data, the planted pair, seeded networks.

The tiny pair is a linear classifier on 8x8 single-channel inputs and the
same classifier with its weights rounded to a coarse grid, so the two
models disagree near their decision boundaries and a campaign finds
divergences within a few dozen queries. Factories build the weights under
their own seeded torch RNG, so every call returns the same models.

The planted pair (``planted``) and the seeded MLP factory (``seeded_mlp``)
serve the search, shrink, strategy, verdict and counterpart tests. They are
fixtures, not an importable helper module: a top-level ``tests`` package
installed by a dependency (icecream) can shadow this folder, so no test
module imports ``tests.*`` (tests/test_test_isolation.py checks this).
"""

from __future__ import annotations

import json
import sqlite3
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

MODELS_PY = textwrap.dedent(
    '''
    import torch
    from torch import nn


    def _linear():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1234)
            return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))


    def reference():
        return _linear()


    def candidate():
        model = _linear()
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.round(p * 16) / 16)  # 4 fractional bits
        return model


    def broken():
        raise RuntimeError("weights file checkpoint.pt not found")


    class _Exploding(nn.Module):
        def forward(self, x):
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")


    def exploding():
        return _Exploding()
    '''
)


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory) -> dict[str, str]:
    """``models.py`` (factories) and ``data.npz`` (synthetic seeds) in a temp folder.

    The seed data is synthetic: uniform noise in [0, 1], shape (48, 1, 8, 8),
    no labels (so every input both models agree on is an eligible seed).
    """
    root = tmp_path_factory.mktemp("tiny")
    models = root / "models.py"
    models.write_text(MODELS_PY)
    x = np.random.default_rng(0).uniform(0.0, 1.0, size=(48, 1, 8, 8)).astype(np.float32)
    data = root / "data.npz"
    np.savez(data, x=x)
    return {"models": str(models), "data": str(data), "root": str(root)}


@pytest.fixture
def tiny_run_args(tiny_files):
    """Build ``diverfuzz run`` arguments for the tiny pair (override/extend with extra args)."""

    def build(out: Path | str, *extra: str, seeds: int = 4, budget: int = 80) -> list[str]:
        return [
            "run",
            "--model", f"{tiny_files['models']}:reference",
            "--candidate", f"{tiny_files['models']}:candidate",
            "--data", tiny_files["data"],
            "--seeds", str(seeds),
            "--budget", str(budget),
            "--population", "10",
            "--out", str(out),
            "--quiet",
            *extra,
        ]

    return build


def _read_report(out: Path | str) -> dict:
    return json.loads((Path(out) / "report.json").read_text())


def _divergence_key(d: dict) -> tuple:
    """What must match between two runs that should find the same divergences."""
    return (
        d["seed_index"],
        json.dumps(d["chain"], sort_keys=True),
        d["reference_label"],
        d["candidate_label"],
        d["queries"],
    )


def _finished_seed_count(out: Path | str) -> int:
    path = Path(out) / "corpus.sqlite"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0) as db:
            return db.execute("SELECT COUNT(*) FROM seeds").fetchone()[0]
    except sqlite3.Error:  # tables not created yet, or the file is mid-creation
        return 0


# Helpers are handed out as fixtures: with --import-mode=importlib test modules
# cannot import this conftest.


@pytest.fixture(scope="session")
def read_report():
    """``read_report(out)``: the parsed ``report.json`` of a campaign folder."""
    return _read_report


@pytest.fixture(scope="session")
def divergence_key():
    """``divergence_key(d)``: (seed_index, chain JSON, labels, queries) of a report divergence."""
    return _divergence_key


@pytest.fixture(scope="session")
def finished_seed_count():
    """``finished_seed_count(out)``: rows in the corpus ``seeds`` table (0 before it exists)."""
    return _finished_seed_count


@pytest.fixture(scope="session")
def make_tiny_config(tiny_files):
    """A factory of campaign configs on the tiny pair: ``make_tiny_config(seeds, rng_seed)(**overrides)``."""
    from diverfuzz.fuzzer.campaign.config import CampaignConfig

    def factory(seeds: int, rng_seed: int):
        def build(**overrides) -> CampaignConfig:
            settings = dict(
                model=f"{tiny_files['models']}:reference",
                candidate=f"{tiny_files['models']}:candidate",
                data=tiny_files["data"],
                seeds=seeds,
                budget=80,
                population=10,
                rng_seed=rng_seed,
            )
            settings.update(overrides)
            return CampaignConfig(**settings)

        return build

    return factory



# The planted pair. The candidate says class 1 only when an input's mean
# brightness lies within ``width`` of PLANTED_TARGET; the reference always says
# class 0. So a search must find a brightness-raising chain, and how hard that
# is is set by ``width``. (The function names are kept: a callable model's
# fingerprint is its qualified name.)

PLANTED_TARGET = 0.65


def reference(x: torch.Tensor) -> torch.Tensor:
    zeros = torch.zeros(len(x))
    return torch.stack([zeros + 1.0, zeros], dim=1)


def planted_candidate(width: float):
    """Says class 1 when the mean brightness is within ``width`` of PLANTED_TARGET."""

    def candidate(x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=tuple(range(1, x.ndim)))
        return torch.stack([torch.ones(len(x)), 1.0 + (width - (m - PLANTED_TARGET).abs()) / width], dim=1)

    return candidate


def planted_seeds(n: int = 10) -> np.ndarray:
    """``n`` seeds of 1x8x8 with mean brightness in [0.3, 0.5] (fixed RNG)."""
    rng = np.random.default_rng(1234)
    base = rng.uniform(0.3, 0.5, size=(n, 1, 1, 1))
    return np.clip(base + rng.normal(0, 0.05, size=(n, 1, 8, 8)), 0, 1).astype(np.float32)


@dataclass(frozen=True)
class Planted:
    """The planted pair: ``TARGET``, ``reference``, ``candidate(width)``, ``seeds(n=10)``."""

    TARGET: float
    reference: Callable[[torch.Tensor], torch.Tensor]
    candidate: Callable[[float], Callable[[torch.Tensor], torch.Tensor]]
    seeds: Callable[..., np.ndarray]


@pytest.fixture(scope="session")
def planted() -> Planted:
    """The planted pair shared by the search, shrink, strategy, repair and baseline tests."""
    return Planted(TARGET=PLANTED_TARGET, reference=reference, candidate=planted_candidate, seeds=planted_seeds)


def _seeded_mlp(outputs: int, scale: float, inputs: int = 64, hidden: int = 32) -> torch.nn.Module:
    """Flatten -> Linear(inputs, hidden) -> ReLU -> Linear(hidden, outputs), weights ``N(0, scale**2)`` from seed 0, in eval mode."""
    gen = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(inputs, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, outputs)
    )
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
    return net.eval()


@pytest.fixture(scope="session")
def seeded_mlp():
    """``seeded_mlp(outputs, scale, inputs=64, hidden=32)``: a small MLP with seeded weights, in eval mode."""
    return _seeded_mlp
