"""Tiny models exported to every file format the runtimes load."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings

import numpy as np
import pytest
import torch
from torch import nn


def tiny_cnn(seed: int = 0, softmax: bool = False) -> nn.Module:
    """A 1x8x8 -> 3 classes conv net with seeded weights."""
    gen = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    if softmax:
        model.append(nn.Softmax(dim=1))
    return model.eval()


def export_onnx(model: nn.Module, path, shape=(2, 1, 8, 8), external_data: bool = False) -> None:
    """``torch.onnx.export`` (the torch.export-based exporter), dynamic batch, quietly."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        torch.onnx.export(
            model, (torch.rand(shape),), str(path), dynamic_shapes=({0: torch.export.Dim("batch")},), external_data=external_data
        )


def export_pt2(model: nn.Module, path, shape=(2, 1, 8, 8)) -> None:
    ep = torch.export.export(model, (torch.rand(shape),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(ep, str(path))


@pytest.fixture(scope="session")
def model_files(tmp_path_factory):
    """``{"model": tiny_cnn(), "onnx": path, "onnx_softmax": path, "pt2": path, "pt": path}``."""
    root = tmp_path_factory.mktemp("model_files")
    model = tiny_cnn()
    files = {"model": model, "softmax_model": tiny_cnn(softmax=True), "onnx": root / "m.onnx", "onnx_softmax": root / "s.onnx", "pt2": root / "m.pt2", "pt": root / "m.pt"}
    export_onnx(model, files["onnx"])
    export_onnx(files["softmax_model"], files["onnx_softmax"])
    export_pt2(model, files["pt2"])
    torch.jit.script(model).save(str(files["pt"]))
    return files


@pytest.fixture
def batch():
    return np.random.default_rng(0).random((5, 1, 8, 8), dtype=np.float32)


@pytest.fixture(scope="session")
def make_cnn():
    """:func:`tiny_cnn` (tests import no conftest module)."""
    return tiny_cnn


@pytest.fixture(scope="session")
def exporters():
    return {"onnx": export_onnx, "pt2": export_pt2}
