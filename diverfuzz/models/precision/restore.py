"""Counterparts with some layers restored to the reference's float32 (what ``diverfuzz explain`` searches over).

:class:`PartialCounterparts` builds, for one precision spec and one
reference, the counterpart in which a given set of layers is *kept* at
float32 while every other layer gets the spec's reduced precision, and
caches each build by its set of kept layers:

- ``int8-static``: torchao's X86 quantizer with
  ``set_module_name_qconfig(layer, None)`` for each kept layer; the model is
  exported once, and observers that see the same nodes are calibrated once
  (:func:`diverfuzz.models.precision.int8.quantize_exported`);
- ``int8-dynamic``, ``int8-weight``, ``int4-weight``: torchao's
  ``quantize_`` with a ``filter_fn`` that skips the kept layers;
- emulated formats and emulated per-layer policies: the spec's layer
  assignment (:func:`diverfuzz.models.precision.apply.assign_layers`) minus
  the kept layers;
- ``onnx-int8``: ONNX Runtime's ``quantize_static`` with the kept layers'
  nodes in ``nodes_to_exclude`` (:func:`diverfuzz.models.precision.onnx_runtime.onnx_int8`).

The layers are the reference's parameterised leaf modules
(:func:`diverfuzz.models.layers.leaf_layers`; for runtimes, only the types
they quantize, :data:`RUNTIME_TYPES`), named inside the preprocessing
wrapper, as per-layer policy files name them; for an ``.onnx`` reference
file, its Conv, ConvTranspose, Gemm and MatMul nodes by name
(:func:`diverfuzz.models.precision.onnx_runtime.onnx_layers`).
"""

from __future__ import annotations

import fnmatch
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Iterable

import numpy as np
import torch

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.inference import calibrate
from diverfuzz.models.layers import leaf_layers
from diverfuzz.models.precision.apply import apply_precision, assign_layers
from diverfuzz.models.precision.int8 import (
    export_for_int8,
    move_to_eval,
    int8_dynamic,
    prepare_int8,
    quantize_exported,
)
from diverfuzz.models.precision.onnx_runtime import layer_tensors, onnx_int8, onnx_layers, onnx_tensor_errors
from diverfuzz.models.precision.spec import PER_LAYER_RUNTIMES, PrecisionSpec, parse_precision, policy_runtime
from diverfuzz.models.precision.weight_only import int4_weight, int8_weight
from diverfuzz.models.preprocessed import Preprocessed
from diverfuzz.models.runtimes.base import OneAtATime
from diverfuzz.models.runtimes.onnx import OnnxModel

#: Emulated kinds whose layers can be restored one by one.
EMULATED = ("float", "fixed", "int", "binary", "ternary", "policy")
_TORCHAO = {"int8-dynamic": int8_dynamic, "int8-weight": int8_weight, "int4-weight": int4_weight}


#: The module types each runtime quantizes (others, such as batch norm folded into a convolution, have no
#: precision of their own to restore); emulated formats round every parameterised leaf.
RUNTIME_TYPES = {
    "int8-static": (torch.nn.modules.conv._ConvNd, torch.nn.Linear),
    "onnx-int8": (torch.nn.modules.conv._ConvNd, torch.nn.Linear),
    "onnx-int8:per-channel": (torch.nn.modules.conv._ConvNd, torch.nn.Linear),
    "int8-dynamic": (torch.nn.Linear,),
    "int8-weight": (torch.nn.Linear,),
    "int4-weight": (torch.nn.Linear,),
}


def model_layers(reference: torch.nn.Module, *, types: tuple[type, ...] | None = None) -> list[str]:
    """Names of the parameterised leaf layers (of ``types``, default any) inside a preprocessing wrapper."""
    inner = _inner(reference)
    inner = inner.inner if isinstance(inner, OneAtATime) else inner
    return [name for name, _ in leaf_layers(inner, types=types) if name]


def _inner(reference: torch.nn.Module) -> torch.nn.Module:
    return reference.model if isinstance(reference, Preprocessed) else reference


def _onnx_file(reference: object) -> Path | None:
    """The file of an ONNX reference (possibly behind its preprocessing), else None."""
    inner = _inner(reference) if isinstance(reference, torch.nn.Module) else reference
    return inner.path if isinstance(inner, OnnxModel) else None


@dataclass(frozen=True)
class LayerCost:
    """One layer's parameters and multiply-accumulates per input (0 for layers other than Conv/Linear)."""

    name: str
    params: int
    macs: int


def layer_costs(reference: torch.nn.Module, example: np.ndarray) -> dict[str, LayerCost]:
    """Parameters and MACs of every layer of :func:`model_layers`, measured on one ``example`` input.

    Parameters
    ----------
    reference : torch.nn.Module
        The float32 reference (possibly behind its preprocessing).
    example : ndarray, float32, (*input_shape)
        One input, without the batch axis, run once to measure output sizes.

    Returns
    -------
    dict of str to LayerCost
        Per parameterised leaf layer: its parameters, and its MACs per input
        (``nn.Linear``: in x out; ``nn.Conv*d``: output elements x
        in-channels/groups x kernel size; other layers 0).
    """
    if (path := _onnx_file(reference)) is not None:
        return {name: LayerCost(name, size, 0) for name, size in onnx_layers(path).items()}
    inner = _inner(reference)
    inner = inner.inner if isinstance(inner, OneAtATime) else inner
    layers = dict(leaf_layers(inner))
    macs: dict[str, int] = {}

    def hook_for(name: str):
        def hook(module, args, output):
            if isinstance(module, torch.nn.Linear):
                macs[name] = int(output.numel() // max(1, output.shape[0])) * module.in_features
            elif isinstance(module, torch.nn.modules.conv._ConvNd):
                per_out = module.in_channels // module.groups * int(np.prod(module.kernel_size))
                macs[name] = int(output.numel() // max(1, output.shape[0])) * per_out

        return hook

    handles = [m.register_forward_hook(hook_for(n)) for n, m in layers.items() if n]
    try:
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(example[None], dtype=np.float32))
            if isinstance(reference, Preprocessed):
                x = reference.preprocess(x)
            inner(x)
    finally:
        for h in handles:
            h.remove()
    return {
        n: LayerCost(n, sum(p.numel() for p in m.parameters(recurse=False)), macs.get(n, 0))
        for n, m in layers.items() if n
    }


class PartialCounterparts:
    """The counterparts of ``spec`` with chosen layers kept at float32, built once per set.

    Parameters
    ----------
    spec : str
        ``int8-static``, ``int8-dynamic``, ``int8-weight``, ``int4-weight``,
        ``onnx-int8[:per-channel]``, an emulated format (``float:e4m3``,
        ``int4``, ...) or a per-layer policy file.
    reference : torch.nn.Module
        The float32 reference (possibly behind its preprocessing).
    calibration : ndarray, float32, (N, *input_shape)
        The campaign's calibration batch (as :func:`build_counterpart` gets it).
    device : {"cpu", "cuda"}, optional
        Where ONNX Runtime counterparts run (default ``"cpu"``).
    threads : int, optional
        ONNX Runtime intra-op threads (default 1).

    Raises
    ------
    DiverfuzzError
        One line, for a spec whose layers cannot be restored one by one
        (``fp16``, ``mca:...``, ``approx:...``, ``int8-static:compiled``,
        ``onnx-fp16``, emulated formats with ``ops``).
    """

    def __init__(
        self, spec: str, reference: torch.nn.Module, calibration: np.ndarray, *, device: str = "cpu", threads: int = 1
    ) -> None:
        self.spec = parse_precision(spec)
        self.onnx_file = _onnx_file(reference)
        if not isinstance(reference, torch.nn.Module) and self.onnx_file is None:
            raise DiverfuzzError(f"--precision={spec!r}: explaining needs a torch.nn.Module or .onnx reference")
        self.reference = reference
        if isinstance(reference, torch.nn.Module):
            reference.eval()
        self.layers = list(onnx_layers(self.onnx_file)) if self.onnx_file is not None else model_layers(reference)
        self.device, self.threads = device, threads
        self.calibration = np.ascontiguousarray(calibration, dtype=np.float32)
        seen = self.calibration
        if isinstance(reference, Preprocessed):
            with torch.no_grad():
                seen = reference.preprocess(torch.from_numpy(np.ascontiguousarray(seen))).numpy()
        self._seen = seen  # what the model inside the preprocessing is calibrated on
        self.runtime, self.base_keep = self._runtime(spec)
        if self.onnx_file is not None and not self.runtime.startswith("onnx-int8"):
            raise DiverfuzzError(
                f"--precision={spec!r}: an .onnx reference takes onnx-int8 (its nodes restored one at a time), "
                "not this spec"
            )
        if self.runtime in RUNTIME_TYPES and self.onnx_file is None:
            #: The layers that can be restored, in registration order.
            self.layers = model_layers(reference, types=RUNTIME_TYPES[self.runtime])
            self.base_keep = self.base_keep & frozenset(self.layers)
        self._cache: dict[frozenset[str], torch.nn.Module] = {}
        self._exported = self._observed = None
        self._fixed = False
        self._files: Path | None = None  # onnx-int8: the folder of the counterpart's files, removed with self

    def onnx_layer_errors(self, x: np.ndarray) -> dict[str, np.ndarray] | None:
        """For ``onnx-int8``: per layer and input, the relative L2 error of the counterpart's activation.

        The counterpart (:meth:`build` with no layer kept) is an ONNX Runtime
        session, whose layers no hook sees; its QDQ file and the float file it
        was quantized from (the reference's export, or the ``.onnx``
        reference) are compared tensor by tensor by
        :func:`diverfuzz.models.precision.onnx_runtime.onnx_tensor_errors`
        (ONNX Runtime's ``qdq_loss_debug``), and each layer's error is that of
        the tensor its node writes in the QDQ file
        (:func:`diverfuzz.models.precision.onnx_runtime.layer_tensors`: the
        exporter's name scopes, or the node's own name; after a ``Relu`` the
        quantizer fused into the node, the ``Relu``'s output): its dequantized
        value, or its value as computed where it is not quantized. The float
        export computes what the reference computes (to float32 rounding).

        Parameters
        ----------
        x : ndarray, float32, (N, *input_shape)
            Inputs as the reference takes them (before its preprocessing).

        Returns
        -------
        dict of str to ndarray, float64, (N,), or None
            Per layer of :attr:`layers` found (in model order); None for other
            runtimes (their activations are read by
            :func:`diverfuzz.models.activations.layer_outputs`).
        """
        if not self.runtime.startswith("onnx-int8"):
            return None
        self.build()
        if self._files is None:  # every layer kept: the counterpart is the reference
            return {}
        folder = self._files
        source = self.onnx_file if self.onnx_file is not None else folder / "reference.onnx"
        x = np.ascontiguousarray(x, dtype=np.float32)
        if isinstance(self.reference, Preprocessed):
            with torch.no_grad():
                x = self.reference.preprocess(torch.from_numpy(x)).numpy()
        errors = onnx_tensor_errors(source, folder / "int8.onnx", x, unquantized=True)
        tensors = layer_tensors(source, self.layers, folder / "int8.onnx")
        return {name: errors[tensor] for name, tensor in tensors.items() if tensor in errors}

    def _runtime(self, text: str) -> tuple[str, frozenset[str]]:
        """The runtime or emulated kind to restore layers of, and the layers the spec already keeps."""
        spec = self.spec
        runtime = policy_runtime(spec)
        if runtime is not None:
            return runtime.text, frozenset(self.layers) - runtime_layers(spec, self.reference)
        if spec.text in PER_LAYER_RUNTIMES:
            return spec.text, frozenset()
        if spec.kind in EMULATED and not spec.ops:
            return "emulated", frozenset()
        raise DiverfuzzError(
            f"--precision={text!r}: its layers cannot be restored one at a time; explain works for "
            f"{', '.join(PER_LAYER_RUNTIMES)}, emulated formats (float:..., fixed:..., intN, binary-weight, "
            "ternary-weight, without :ops) and per-layer policies"
        )

    def build_policy(self, path: str) -> torch.nn.Module:
        """The counterpart of the policy file ``path`` (as :func:`fix_policy` writes it), from the cached builds.

        The policy must reduce its layers with this object's spec; the layers
        it keeps at float32 are read from the file, so the result is what
        ``--precision path`` builds, without calibrating again.
        """
        spec = parse_precision(path)
        if spec.kind != "policy":
            raise DiverfuzzError(f"--precision={path!r} is not a per-layer policy file")
        return self.build(frozenset(self.layers) - runtime_layers(spec, self.reference))

    def build(self, keep: Iterable[str] = ()) -> torch.nn.Module:
        """The counterpart with the layers ``keep`` (names from :attr:`layers`) left at float32; cached."""
        key = frozenset(keep) | self.base_keep
        unknown = sorted(key - set(self.layers))
        if unknown:
            raise DiverfuzzError(
                f"layer={unknown[0]!r} is not a layer of the reference; layers are {', '.join(self.layers)}"
            )
        if key not in self._cache:
            self._cache[key] = self._build(key)
        return self._cache[key]

    def _build(self, keep: frozenset[str]) -> torch.nn.Module:
        if keep == frozenset(self.layers):
            return self.reference  # nothing left to reduce
        inner = _inner(self.reference)
        if self.runtime == "int8-static":
            if self._exported is None:
                self._exported, self._fixed = export_for_int8(inner, self._seen)
                # Once here rather than after every convert: it re-exports its patterns (about 1 s) and
                # is idempotent, and the flag it sets travels with every copy of the graph.
                move_to_eval(self._exported)
                self._observed = prepare_int8(self._exported)
                calibrate(self._observed, self._seen, batch_size=1 if self._fixed else 256)
            model = quantize_exported(self._exported, self._seen, fixed=self._fixed, keep=keep, observed=self._observed)
        elif self.runtime in _TORCHAO:
            model = _TORCHAO[self.runtime](inner, self._seen, keep=keep)
        elif self.runtime.startswith("onnx-int8"):
            per_channel = self.runtime.endswith("per-channel")
            folder = None
            if keep == self.base_keep:  # the counterpart itself: its files stay for onnx_layer_errors
                folder = self._files = Path(tempfile.mkdtemp(prefix="diverfuzz-explain-onnx-"))
                weakref.finalize(self, shutil.rmtree, folder, ignore_errors=True)
            model = onnx_int8(
                inner, self._seen, per_channel=per_channel, keep=keep, device=self.device, threads=self.threads,
                folder=folder,
            )
        else:
            model = apply_precision(inner, _without(self.spec, inner, keep), self._seen)
        if isinstance(model, torch.nn.Module):
            model.eval()
        return Preprocessed(model, self.reference.preprocess) if isinstance(self.reference, Preprocessed) else model


def runtime_layers(spec: PrecisionSpec, reference: torch.nn.Module) -> frozenset[str]:
    """The layers of :func:`model_layers` that a policy reduces (those it does not keep at float32).

    For a policy with a runtime (``{"fc": "float32", "*": "int8-static"}``):
    the layers whose first matching pattern names the runtime; for an
    emulated policy: the layers it assigns a format.
    """
    runtime = policy_runtime(spec)
    if (path := _onnx_file(reference)) is not None:  # patterns name the nodes of an ONNX reference
        assigned = set()
        for name in onnx_layers(path):
            first = next((s for pattern, s in spec.layers if fnmatch.fnmatchcase(name, pattern)), None)
            if first is not None and first.kind != "keep":
                assigned.add(name)
        return frozenset(assigned)
    inner = _inner(reference)
    inner = inner.inner if isinstance(inner, OneAtATime) else inner
    stand_in = PrecisionSpec("float:e8m23", "float", exp_bits=8, man_bits=23)
    emulated = PrecisionSpec(spec.text, "policy", layers=tuple(
        (pattern, stand_in if runtime is not None and s.text == runtime.text else s) for pattern, s in spec.layers
    ))
    assigned = assign_layers(inner, emulated)
    return frozenset(set(assigned) & set(model_layers(reference)))


def build_with_policy_runtime(
    spec: PrecisionSpec, reference: torch.nn.Module, calibration: np.ndarray, *, device: str = "cpu", threads: int = 1
) -> torch.nn.Module:
    """The counterpart of a policy that applies a runtime to some layers and keeps the others at float32."""
    return PartialCounterparts(spec.text, reference, calibration, device=device, threads=threads).build()


def _without(spec: PrecisionSpec, model: torch.nn.Module, keep: Collection[str]) -> PrecisionSpec:
    """``spec`` as an explicit per-layer policy, the layers ``keep`` left out (they stay float32)."""
    assignment = assign_layers(model, spec)
    layers = tuple((name, inner) for name, inner in assignment.items() if name not in keep)
    return PrecisionSpec(spec.text, "policy", layers=layers)


def fix_policy(spec: str, keep: Collection[str]) -> dict[str, str]:
    """The per-layer policy (``--precision FILE.json``) that keeps ``keep`` at float32 and applies ``spec`` elsewhere.

    A policy ``spec`` (a file) keeps its own patterns after the kept layers;
    any other spec becomes the ``"*"`` pattern. Patterns are tried in order,
    the first match wins (:func:`diverfuzz.models.precision.apply.assign_layers`).
    """
    parsed = parse_precision(spec)
    policy = {name: "float32" for name in keep}
    if parsed.kind == "policy":
        for pattern, inner in parsed.layers:
            policy.setdefault(pattern, inner.text)
    else:
        policy["*"] = parsed.text
    return policy


__all__ = [
    "LayerCost",
    "PartialCounterparts",
    "build_with_policy_runtime",
    "fix_policy",
    "layer_costs",
    "model_layers",
    "runtime_layers",
]
