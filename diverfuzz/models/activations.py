"""Per-layer activations of a model and of its counterparts, by layer name.

:func:`layer_outputs` returns what each named layer writes, whatever the
model is made of:

- a ``torch.nn.Module`` holding the layers by name (the reference, an
  emulated counterpart, a torchao-quantized copy): forward hooks;
- a ``torch.export``/PT2E graph (``int8-static``): each node's
  ``nn_module_stack`` says which module it came from; a layer's output is
  the value of its last node, run node by node by ``torch.fx.Interpreter``;
- anything else (ONNX Runtime, LiteRT): no layer is visible, the result is
  empty.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from diverfuzz.models.precision.apply import EmulatedModel
from diverfuzz.models.preprocessed import Preprocessed
from diverfuzz.models.runtimes.base import OneAtATime


def _unwrap(model: object, x: torch.Tensor) -> tuple[object, torch.Tensor]:
    """The model that holds the layers, and its input (preprocessing applied; wrappers removed)."""
    while True:
        if isinstance(model, Preprocessed):
            with torch.no_grad():
                x = model.preprocess(x)
            model = model.model
        elif isinstance(model, OneAtATime):
            model = model.inner
        elif isinstance(model, EmulatedModel) and model.op_spec is None:
            model = model.model
        else:
            return model, x


def _module_of(node: torch.fx.Node) -> str | None:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return None
    return list(stack.values())[-1][0]


def layer_outputs(model: object, x: np.ndarray, layers: Sequence[str]) -> dict[str, np.ndarray]:
    """The output of each layer of ``layers`` that ``model`` exposes, for the batch ``x``.

    Parameters
    ----------
    model : torch.nn.Module or callable
        A reference or counterpart (possibly behind preprocessing).
    x : ndarray, float32, (N, *input_shape)
    layers : sequence of str
        Qualified module names (``features.0``), as in per-layer policies.

    Returns
    -------
    dict of str to ndarray, float32, (N, ...)
        Only the layers found (none for models run by another runtime).
    """
    inner, batch = _unwrap(model, torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    wanted = set(layers)
    found: dict[str, torch.Tensor] = {}
    if isinstance(inner, torch.fx.GraphModule) and any(_module_of(n) for n in inner.graph.nodes):
        last = {}
        for node in inner.graph.nodes:
            name = _module_of(node)
            if name in wanted and node.op == "call_function":
                last[name] = node
        targets = {node: name for name, node in last.items()}

        class _Recorder(torch.fx.Interpreter):
            def run_node(self, n):
                result = super().run_node(n)
                if n in targets and isinstance(result, torch.Tensor):
                    found[targets[n]] = result.detach().float()
                return result

        with torch.no_grad():
            _Recorder(inner).run(batch)
    elif isinstance(inner, torch.nn.Module):
        modules = dict(inner.named_modules())
        handles = []
        for name in wanted & set(modules):
            def hook(module, args, output, name=name):
                if isinstance(output, torch.Tensor):
                    found[name] = output.detach().float()

            handles.append(modules[name].register_forward_hook(hook))
        try:
            with torch.no_grad():
                inner(batch)
        finally:
            for h in handles:
                h.remove()
    return {name: found[name].cpu().numpy() for name in layers if name in found}


def relative_errors(candidate: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per layer and row, ``||c - r||_2 / ||r||_2`` (0 where both are 0; layers in both dicts with equal shapes)."""
    out = {}
    for name, r in reference.items():
        c = candidate.get(name)
        if c is None or c.shape != r.shape:
            continue
        diff = np.linalg.norm((c - r).reshape(len(r), -1), axis=1)
        scale = np.linalg.norm(r.reshape(len(r), -1), axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[name] = np.where(scale > 0, diff / scale, np.where(diff > 0, np.inf, 0.0))
    return out


__all__ = ["layer_outputs", "relative_errors"]
