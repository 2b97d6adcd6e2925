"""Enumerating a model's layers: the one place leaves are listed.

``leaf_modules`` lists leaf modules (no children) in registration order;
``leaf_layers`` keeps those that own parameters (Linear, Conv, norms, ...).
``execution_order`` lists leaves in the order a forward pass runs them, found
with forward hooks, which is what "the first layer" means when a model
registers its modules in a different order than it calls them.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from diverfuzz.common.errors import DiverfuzzError


def leaf_modules(model: nn.Module, *, types: tuple[type, ...] | None = None) -> list[tuple[str, nn.Module]]:
    """Leaf modules of ``model`` (modules without children), in registration order.

    Parameters
    ----------
    model : nn.Module
    types : tuple of type, optional
        Keep only leaves that are instances of one of these.

    Returns
    -------
    list of (qualified name, module)
    """
    return [
        (name, m)
        for name, m in model.named_modules()
        if not any(True for _ in m.children()) and (types is None or isinstance(m, types))
    ]


def leaf_layers(model: nn.Module, *, types: tuple[type, ...] | None = None) -> list[tuple[str, nn.Module]]:
    """Leaf modules that own parameters (weights), in registration order.

    Parameters
    ----------
    model : nn.Module
    types : tuple of type, optional
        Keep only layers that are instances of one of these.

    Returns
    -------
    list of (qualified name, module)
    """
    return [(n, m) for n, m in leaf_modules(model, types=types) if any(True for _ in m.parameters(recurse=False))]


def execution_order(
    model: nn.Module, input_shape: Sequence[int], *, types: tuple[type, ...] | None = None
) -> list[tuple[str, nn.Module]]:
    """Leaf layers in the order one forward pass calls them (first call counts).

    Parameters
    ----------
    model : nn.Module
        Run once in eval mode on a zero batch of one input, without gradients;
        its training flag is restored.
    input_shape : sequence of int
        One input's shape, no batch axis, e.g. ``(1, 8, 8)``.
    types : tuple of type, optional
        Keep only layers that are instances of one of these.

    Returns
    -------
    list of (qualified name, module)
        Leaf layers the forward pass reaches; layers it never calls are left out.

    Raises
    ------
    DiverfuzzError
        When the model raises on a zero input of ``input_shape``.
    """
    layers = leaf_layers(model, types=types)
    order: list[tuple[str, nn.Module]] = []
    seen: set[int] = set()

    def hook_for(name: str):
        def hook(module: nn.Module, args: tuple) -> None:
            if id(module) not in seen:
                seen.add(id(module))
                order.append((name, module))

        return hook

    handles = [m.register_forward_pre_hook(hook_for(n)) for n, m in layers]
    training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros((1, *input_shape)))
    except Exception as exc:  # a user model may raise anything
        raise DiverfuzzError(
            f"model={type(model).__name__} raised {type(exc).__name__} on a zero input of shape "
            f"{tuple(input_shape)} while its layers were being ordered: {exc}"
        ) from exc
    finally:
        for h in handles:
            h.remove()
        model.train(training)
    return order


__all__ = ["execution_order", "leaf_layers", "leaf_modules"]
