"""int8 counterparts through torchao: static PTQ (PT2E) and dynamic quantization."""

from __future__ import annotations

import copy
import os
import re
import shutil
from typing import Collection

import numpy as np
import torch

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.inference import calibrate
from diverfuzz.models.quiet import quiet
from diverfuzz.models.runtimes.base import OneAtATime, one_line
from diverfuzz.models.runtimes.torch_files import eval_mode


def _quiet_torchao():
    """Silence torchao's import-time chatter about CUDA-only kernels missing on CPU,
    and the deprecation warnings its imports raise (torch.jit), which say
    nothing about the user's model."""
    return quiet(("torchao", "torch.utils._pytree", "torch._export"), categories=(DeprecationWarning, FutureWarning))


def int8_static(model: torch.nn.Module, calibration: np.ndarray, *, keep: Collection[str] = ()) -> torch.nn.Module:
    """int8 static post-training quantization, calibrated on ``calibration``.

    The model is exported with a dynamic batch dimension
    (``torch.export``), annotated by torchao's ``X86InductorQuantizer``
    (per-channel symmetric int8 weights, per-tensor affine uint8/int8
    activations), observed on the calibration batch and converted to a
    quantize/dequantize graph that reproduces int8 inference numerics.

    Parameters
    ----------
    model : torch.nn.Module
    calibration : ndarray, float32, (N, *input_shape)
    keep : collection of str, optional
        Qualified names of modules the quantizer leaves in float32
        (``X86InductorQuantizer.set_module_name_qconfig(name, None)``);
        default none.

    Notes
    -----
    This is the PT2E flow that replaces the deprecated
    ``torch.ao.quantization`` FX flow; see torchao's "PyTorch 2 Export
    Post Training Quantization" tutorial.
    """
    exported, fixed = export_for_int8(model, calibration)
    return quantize_exported(exported, calibration, fixed=fixed, keep=keep)


def export_for_int8(model: torch.nn.Module, calibration: np.ndarray) -> tuple[torch.fx.GraphModule, bool]:
    """``model`` exported by ``torch.export`` as the PT2E quantizer takes it, and whether its batch is fixed at one."""
    fixed = isinstance(model, OneAtATime)  # a graph exported with a fixed batch of one
    if fixed:
        example, dynamic = torch.from_numpy(calibration[:1]), None
    else:
        example = torch.from_numpy(calibration[: max(2, min(len(calibration), 8))])
        if len(example) < 2:
            # torch.export specialises a batch of one; give it two rows.
            example = torch.cat([example, example])
        dynamic = ({0: torch.export.Dim("batch")},)
    reference = eval_mode(copy.deepcopy(model.inner if fixed else model))
    try:
        with _quiet_torchao():
            exported = torch.export.export(reference, (example,), dynamic_shapes=dynamic).module()
            if explicit_conv_padding(exported):
                # The quantizer matches aten.conv2d.default only: export the explicitly padded graph again.
                exported = torch.export.export(exported, (example,), dynamic_shapes=dynamic).module()
    except Exception as exc:
        raise DiverfuzzError(
            "--precision='int8-static': torch.export could not export the model"
            + ("" if fixed else " with a dynamic batch dimension") + f": {one_line(exc)}"
        ) from exc
    return exported, fixed


def _observers(prepared: torch.nn.Module) -> dict[str, tuple[torch.nn.Module, frozenset[str]]]:
    """The observers of a prepared graph by the node each observes, with every node that shares the instance."""
    with _quiet_torchao():
        from torchao.quantization.pt2e import ObserverBase
    found: dict[str, torch.nn.Module] = {}
    for node in prepared.graph.nodes:
        if node.op != "call_module" or not node.args or not hasattr(node.args[0], "name"):
            continue
        module = getattr(prepared, node.target)
        if isinstance(module, ObserverBase):
            found[node.args[0].name] = module
    shared: dict[int, set[str]] = {}
    for key, module in found.items():
        shared.setdefault(id(module), set()).add(key)
    return {key: (module, frozenset(shared[id(module)])) for key, module in found.items()}


def quantize_exported(
    exported: torch.fx.GraphModule,
    calibration: np.ndarray,
    *,
    fixed: bool = False,
    keep: Collection[str] = (),
    observed: torch.nn.Module | None = None,
) -> torch.nn.Module:
    """Annotate, calibrate and convert an exported graph (see :func:`int8_static`); ``exported`` is untouched.

    ``observed``: a graph already prepared and calibrated from the same
    export (:func:`prepare_int8`); the observers it shares with this one are
    copied, not calibrated again (:func:`_calibrate_reusing`). Returns the
    converted graph (:class:`OneAtATime` when ``fixed``).
    """
    with _quiet_torchao():
        from torchao.quantization.pt2e import (
            allow_exported_model_train_eval,
            move_exported_model_to_eval,
        )
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    step = "annotate"
    prepared = None
    try:
        with _quiet_torchao():
            prepared = prepare_int8(exported, keep)
            step = "calibrate"
            _calibrate_reusing(prepared, observed, calibration, fixed=fixed)
            step = "convert"
            converted = convert_pt2e(prepared)
            quantized = any("quantize" in str(node.target) for node in converted.graph.nodes)
            if getattr(exported, _TRAINING_FLAG, True) is False:
                # Dropout and batch norm were put in eval form before prepare (move_to_eval):
                # say so, and the call below returns at once instead of re-exporting its patterns.
                setattr(converted, _TRAINING_FLAG, False)
            move_exported_model_to_eval(converted)
            # Let ModelPair call .eval() on it like on any module.
            allow_exported_model_train_eval(converted)
    except DiverfuzzError:
        raise
    except Exception as exc:
        graph = prepared if prepared is not None else exported
        raise DiverfuzzError(
            f"--precision='int8-static': torchao's X86 quantizer could not {step} {failed_operator(exc, graph)}: "
            f"{one_line(exc)}"
        ) from exc
    if not quantized and not keep:
        raise DiverfuzzError(
            "--precision='int8-static' quantized nothing: the X86 quantizer found no convolution or linear "
            "layer to annotate in the exported graph, so the counterpart would equal the reference"
        )
    return OneAtATime(converted) if fixed else converted


#: The attribute torchao's ``move_exported_model_to_eval`` sets on a graph it has put in eval form.
_TRAINING_FLAG = "_exported_training"


def move_to_eval(graph: torch.fx.GraphModule) -> None:
    """torchao's ``move_exported_model_to_eval`` (dropout and batch norm in eval form; a no-op the second time)."""
    with _quiet_torchao():
        from torchao.quantization.pt2e import move_exported_model_to_eval

        move_exported_model_to_eval(graph)


def prepare_int8(exported: torch.fx.GraphModule, keep: Collection[str] = ()) -> torch.fx.GraphModule:
    """A copy of ``exported`` annotated by the X86 quantizer (modules in ``keep`` left float) with observers inserted."""
    with _quiet_torchao():
        import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq
        from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

        quantizer = xiq.X86InductorQuantizer()
        quantizer.set_global(xiq.get_default_x86_inductor_quantization_config())
        for name in sorted(keep):
            quantizer.set_module_name_qconfig(name, None)
        return prepare_pt2e(copy.deepcopy(exported), quantizer)


def _calibrate_reusing(prepared: torch.nn.Module, observed: torch.nn.Module | None, calibration: np.ndarray, *, fixed: bool) -> None:
    """Calibrate ``prepared``, copying every observer that ``observed`` already calibrated.

    An observer of ``observed`` is reused when it observes the same node(s)
    with the same type: calibration runs the float graph, so it would see
    the same values (a shared observer sees every node it is shared by, so
    the set of nodes must match too). The others observe the calibration
    batch as usual, with the reused ones switched off meanwhile.
    """
    batch_size = 1 if fixed else 256
    if observed is None:
        calibrate(prepared, calibration, batch_size=batch_size)
        return
    mine, theirs = _observers(prepared), _observers(observed)
    reused: dict[str, torch.nn.Module] = {}
    copies: dict[int, torch.nn.Module] = {}
    pending = False
    for node in prepared.graph.nodes:
        key = getattr(node.args[0], "name", None) if node.op == "call_module" and node.args else None
        if key not in mine:
            continue
        other = theirs.get(key)
        if other is None or type(other[0]) is not type(mine[key][0]) or other[1] != mine[key][1]:
            pending = True
            continue
        copies.setdefault(id(other[0]), copy.deepcopy(other[0]))
        reused[node.target] = copies[id(other[0])]
    if pending:
        for target in reused:
            setattr(prepared, target, torch.nn.Identity())
        calibrate(prepared, calibration, batch_size=batch_size)
    for target, module in reused.items():
        setattr(prepared, target, module)


#: Convolutions whose padding is a string (``padding="same"`` or ``"valid"``), and their explicitly padded form.
_STRING_PADDED_CONV = {
    torch.ops.aten.conv1d.padding: (torch.ops.aten.conv1d.default, 1),
    torch.ops.aten.conv2d.padding: (torch.ops.aten.conv2d.default, 2),
    torch.ops.aten.conv3d.padding: (torch.ops.aten.conv3d.default, 3),
}


def _per_dim(value, dims: int) -> list[int]:
    values = [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)]
    return values * dims if len(values) == 1 else values


def _weight_shape(gm: torch.fx.GraphModule, node) -> tuple[int, ...]:
    if node.op == "get_attr":
        target = gm
        for part in str(node.target).split("."):
            target = getattr(target, part)
        return tuple(target.shape)
    return tuple(node.meta["val"].shape)


def explicit_conv_padding(gm: torch.fx.GraphModule) -> list[str]:
    """Rewrite ``aten.convNd.padding`` nodes (``padding="same"``/``"valid"``) of an exported
    graph to ``aten.convNd.default`` with integer padding; returns the rewritten nodes' names.

    torch.export records a convolution with ``padding="same"`` as
    ``aten.conv2d.padding``, which the PT2E quantizers do not match. The
    rewrite computes exactly what torch does: ``dilation * (k - 1)`` zeros
    per spatial dimension, half (rounded down) before and the rest after;
    an uneven split (an even kernel) becomes ``constant_pad_nd`` followed by
    a convolution without padding.
    """
    rewritten = []
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target not in _STRING_PADDED_CONV:
            continue
        target, dims = _STRING_PADDED_CONV[node.target]
        names = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
        values = {"bias": None, "stride": 1, "padding": "valid", "dilation": 1, "groups": 1}
        values.update(zip(names, node.args))
        values.update(node.kwargs)
        stride, dilation = _per_dim(values["stride"], dims), _per_dim(values["dilation"], dims)
        kernel = _weight_shape(gm, values["weight"])[2:]
        if values["padding"] == "same":
            total = [d * (k - 1) for d, k in zip(dilation, kernel)]
        elif values["padding"] == "valid":
            total = [0] * dims
        else:
            raise DiverfuzzError(f"{node.name}: padding={values['padding']!r} of {node.target} is neither 'same' nor 'valid'")
        before = [t // 2 for t in total]
        after = [t - b for t, b in zip(total, before)]
        source = values["input"]
        with gm.graph.inserting_before(node):
            if before != after:
                pad = []  # constant_pad_nd lists the last dimension first
                for b, a in zip(reversed(before), reversed(after)):
                    pad += [b, a]
                source = gm.graph.call_function(torch.ops.aten.constant_pad_nd.default, (source, pad, 0.0))
                before = [0] * dims
            conv = gm.graph.call_function(
                target, (source, values["weight"], values["bias"], stride, before, dilation, values["groups"])
            )
        conv.meta = dict(node.meta)
        node.replace_all_uses_with(conv)
        gm.graph.erase_node(node)
        rewritten.append(node.name)
    if rewritten:
        gm.graph.lint()
        gm.recompile()
    return rewritten


def failed_operator(exc: BaseException, graph: torch.nn.Module | None) -> str:
    """The operator a quantizer failure is about: the graph node the message names (``conv2d``)
    and its operator (``aten.conv2d.padding``); else every operator of the graph."""
    nodes = [n for n in getattr(getattr(graph, "graph", None), "nodes", ()) if n.op == "call_function"]
    text = str(exc)
    named = [n for n in nodes if re.search(rf"(?<![\w.]){re.escape(n.name)}(?![\w])", text)]
    if named:
        return ", ".join(f"operator {_op_name(n.target)} (node {n.name!r})" for n in named[:3])
    operators = sorted({_op_name(n.target) for n in nodes})
    if not operators:
        return "the graph"
    return f"one of the graph's operators ({', '.join(operators[:12])}{', ...' if len(operators) > 12 else ''})"


def _op_name(target) -> str:
    """``aten.conv2d.padding`` for ``torch.ops.aten.conv2d.padding``; the name of a Python function."""
    name = str(target)
    return name if "." in name and not name.startswith("<") else getattr(target, "__name__", name)


def cxx_compiler() -> str | None:
    """The C++ compiler ``torch.compile`` would use (``$CXX``, ``c++``, ``g++`` or ``clang++``), or None."""
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class CompiledInt8(torch.nn.Module):
    """A converted PT2E int8 graph lowered by ``torch.compile`` (inductor) to x86 int8 kernels.

    Inductor's quantization passes replace each quantize/dequantize pattern
    around a convolution or linear layer by oneDNN int8 kernels
    (``qconv``/``qlinear`` with prepacked weights, ``freezing`` on). Shapes
    are compiled statically, so batches are zero-padded to the next power of
    two (at least 8) and the padding rows dropped: with static activation
    scales each row's result does not depend on the others, and at most 8
    sizes (8 .. 1024) are ever compiled.

    Notes
    -----
    torchao, "PyTorch 2 Export Quantization with X86 Backend through Inductor".
    """

    def __init__(self, converted: torch.nn.Module, pad: bool = True) -> None:
        super().__init__()
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        self.converted, self.pad = converted, pad  # pad False: a graph with a fixed batch of one
        self.compiled = torch.compile(converted, dynamic=False)

    def train(self, mode: bool = True) -> "CompiledInt8":
        self.training = mode
        return self  # the converted graph is already in eval mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = len(x)
        size = max(8, 1 << (n - 1).bit_length()) if self.pad else n
        if size != n:
            x = torch.cat([x, x.new_zeros((size - n, *x.shape[1:]))])
        with torch.no_grad(), _quiet_torchao():
            return self.compiled(x)[:n]


def int8_static_compiled(model: torch.nn.Module, calibration: np.ndarray) -> torch.nn.Module:
    """``int8-static`` lowered with ``torch.compile`` so that x86 int8 kernels run (:class:`CompiledInt8`).

    Needs a C++ compiler (inductor compiles the generated kernels); without
    one this raises a one-line :class:`DiverfuzzError`.
    """
    if cxx_compiler() is None:
        raise DiverfuzzError(
            "--precision='int8-static:compiled' needs a C++ compiler (g++ or clang++; torch.compile builds "
            "the int8 kernels with it): install one, or use int8-static (the fake-quant graph) or onnx-int8"
        )
    quantized = int8_static(model, calibration)
    if isinstance(quantized, OneAtATime):  # compiled for its one batch size, fed one input at a time
        counterpart = OneAtATime(CompiledInt8(quantized.inner, pad=False))
    else:
        counterpart = CompiledInt8(quantized)
    try:
        counterpart(torch.from_numpy(np.ascontiguousarray(calibration[:2], dtype=np.float32)))
    except Exception as exc:
        raise DiverfuzzError(f"--precision='int8-static:compiled': torch.compile failed: {one_line(exc)}") from exc
    return counterpart


def linear_filter(keep: Collection[str] = ()):
    """torchao's default ``filter_fn`` (``nn.Linear`` layers) without the layers named in ``keep``."""
    kept = frozenset(keep)
    return lambda module, fqn: isinstance(module, torch.nn.Linear) and fqn not in kept


def int8_dynamic(model: torch.nn.Module, calibration: np.ndarray, *, keep: Collection[str] = ()) -> torch.nn.Module:
    """int8 weights with activations quantized per batch at run time (torchao).

    Only ``nn.Linear`` layers are quantized, as torchao's
    ``Int8DynamicActivationInt8WeightConfig`` does; convolutions stay float32.
    ``calibration`` is unused (dynamic quantization needs none); the layers
    named in ``keep`` stay float32 too.
    """
    with _quiet_torchao():
        from torchao.quantization import (
            Int8DynamicActivationInt8WeightConfig,
            quantize_,
        )

    counterpart = copy.deepcopy(model).eval()
    try:
        with _quiet_torchao():
            quantize_(counterpart, Int8DynamicActivationInt8WeightConfig(), filter_fn=linear_filter(keep))
    except Exception as exc:
        raise DiverfuzzError(
            f"--precision='int8-dynamic' could not quantize the model: {type(exc).__name__}: {exc}"
        ) from exc
    return counterpart
