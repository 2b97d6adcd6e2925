"""Deterministic training and safetensors caching shared by the bundled examples."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from diverfuzz.common.atomic import atomic_write


@dataclass(frozen=True)
class ExampleData:
    """A train/test split, float32 inputs in ``[0, 1]`` (channel first) and int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def cache_dir() -> Path:
    """Where trained weights are cached (``$DIVERFUZZ_CACHE`` or the user cache dir)."""
    override = os.environ.get("DIVERFUZZ_CACHE")
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("diverfuzz"))


def train_classifier(
    build: Callable[[], nn.Module],
    data: ExampleData,
    *,
    seed: int,
    epochs: int,
    lr: float = 2e-3,
    batch_size: int = 64,
    temperature: float = 1.0,
    targets: np.ndarray | None = None,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> nn.Module:
    """Train ``build()`` with Adam, deterministically from ``seed``: THE training loop.

    Parameters
    ----------
    build : callable
        Zero-argument factory of the network; called under a forked torch RNG
        seeded with ``seed`` (the caller's global RNG state is untouched).
    data : ExampleData
        Only ``x_train`` and (unless ``targets`` is given) ``y_train`` are used.
    seed : int
        Seeds initialisation and the batch order (a seeded ``torch.Generator``).
    epochs : int
        Passes over the training set (>= 1).
    lr : float, optional
        Adam learning rate (default 2e-3).
    batch_size : int, optional
        Default 64.
    temperature : float, optional
        The loss sees ``model(x) / temperature`` (default 1: the logits as
        they are). Defensive distillation trains at ``T`` of 20 to 100.
    targets : ndarray, optional
        Training targets in place of ``data.y_train``: e.g. a teacher's soft
        labels ``(N, classes)`` float32 for distillation.
    loss : callable, optional
        ``loss(logits, targets) -> scalar``; default cross-entropy, which also
        accepts soft (probability) targets.

    Returns
    -------
    nn.Module
        In eval mode.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build()
    generator = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(data.x_train)
    y = torch.from_numpy(data.y_train if targets is None else np.ascontiguousarray(targets))
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss() if loss is None else loss
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            optimiser.zero_grad()
            logits = model(x[idx])
            if temperature != 1.0:
                logits = logits / temperature
            loss_fn(logits, y[idx]).backward()
            optimiser.step()
    return model.eval()


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of ``model`` on ``(x, y)``."""
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(dim=1).numpy()
    return float((pred == y).mean())


def cached_model(key: str, build: Callable[[], nn.Module], train: Callable[[], nn.Module]) -> nn.Module:
    """Load ``key``'s weights from the cache, or ``train()`` and cache them.

    Weights are stored with safetensors (no pickle). A corrupt or stale cache
    file is retrained and replaced; the write is atomic.
    """
    from safetensors.torch import load_file, save_file

    path = cache_dir() / f"{key}.safetensors"
    if path.exists():
        model = build()
        try:
            model.load_state_dict(load_file(str(path)))
            return model.eval()
        except Exception:  # corrupt or stale cache: retrain below
            pass
    model = train()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(state, str(tmp)))
    return model.eval()
