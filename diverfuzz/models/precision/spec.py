"""The ``--precision`` spec language: one string for every counterpart.

=============================  ===============================================
spec                           counterpart
=============================  ===============================================
``fp16``, ``bf16``             the model cast to float16 / bfloat16
``int8-static``                torchao PT2E int8 static PTQ (calibrated), run as a
                               fake-quant float32 graph; ``int8-static:compiled``
                               lowers it with ``torch.compile`` to x86 int8 kernels
``onnx-int8[:per-channel]``    ONNX export + ONNX Runtime ``quantize_static`` (QDQ,
                               min/max calibration), run by ONNX Runtime
``onnx-fp16``                  ONNX export with float16 tensors, run by ONNX Runtime
``int8-dynamic``               torchao int8 dynamic activations + int8 weights
``int8-weight``                torchao int8 weight-only (``Int8WeightOnlyConfig``)
``int4-weight``                torchao int4 weight-only, per group of 32
                               (``IntxWeightOnlyConfig``), Linear layers
``float:eXmY[:opts]``          emulated IEEE-style minifloat, X in 1..8, Y in 0..23;
                               ``float:eXmYfn`` without infinities (OCP FP8
                               ``e4m3fn``: max 448, saturating)
``fixed:W.F[:opts]``           emulated saturating fixed point, W in 2..24 bits
                               of which F fractional
``intN[:opts]``, ``int:N``     emulated integer fake-quant, N in 2, 4, 8 (``int:N``
                               for any N in 2..8): weights
                               per-channel symmetric, activations per-tensor
                               asymmetric calibrated on the calibration batch
``binary-weight``              weights ``alpha * sign(w)`` per output channel
``ternary-weight``             weights in ``{-alpha, 0, alpha}`` (TWN)
``mca:t=T[:opts]``             Monte Carlo Arithmetic at virtual precision T
``approx:NAME``                Linear/Conv2d through an int8 multiplier table
                               (``exact``, ``truncated``, ``mitchell``);
                               ``approx:NAME:mantissa=M``: float products
                               from an M-bit significand table (M in 1..8)
``PATH.json`` / ``PATH.toml``  per-layer policy: ``{"pattern": "spec", ...}``; a spec is an
                               emulated format, ``float32`` (keep the layer), or one
                               runtime of :data:`PER_LAYER_RUNTIMES` applied to the
                               layers it matches (``{"fc": "float32", "*": "int8-static"}``)
=============================  ===============================================

Options (after ``:``, any order): ``sr`` stochastic rounding; ``sat``
saturate instead of overflowing to inf; ``nosub`` flush subnormals;
``weights`` or ``activations`` to round only those (default both);
``ops`` also round the result of every arithmetic torch call inside the
model (functional activations, residual additions), not only leaf modules
(``float``/``fixed``, not in policies);
``asym`` asymmetric weights, ``per-tensor`` one weight scale per tensor,
``group=G`` one per G inputs (``intN``); ``seed=S`` the seed of stochastic
rounding (default 0); ``mode=rr|pb|full`` (``mca``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from diverfuzz.common.errors import DiverfuzzError

NATIVE = ("fp16", "bf16", "int8-static", "int8-dynamic", "int8-weight", "int4-weight")
#: Counterparts exported to ONNX and run by ONNX Runtime.
ONNX = ("onnx-int8", "onnx-fp16")
#: The one option a native or ONNX counterpart may take (``int8-static:compiled``), by name.
NAMED_OPTIONS = {"int8-static": "compiled", "onnx-int8": "per-channel"}
WEIGHT_ONLY = ("binary-weight", "ternary-weight")
#: Runtimes a policy file may apply to some layers only (the others stay float32), e.g.
#: ``{"features.0": "float32", "*": "int8-static"}``: what ``diverfuzz explain`` writes as its fix.
PER_LAYER_RUNTIMES = ("int8-static", "int8-dynamic", "int8-weight", "int4-weight", "onnx-int8", "onnx-int8:per-channel")
#: Policy values that keep a layer at the reference's float32.
KEEP = ("float32", "fp32")
MULTIPLIERS = ("exact", "truncated", "mitchell")
MCA_MODES = ("rr", "pb", "full")
TARGETS = ("both", "weights", "activations")
EXAMPLES = (
    "fp16", "bf16", "float:e4m3", "float:e4m3fn", "float:e5m2:sr", "fixed:16.14:sr", "int8-static", "int8-dynamic",
    "int4-weight", "int8-weight", "onnx-int8", "onnx-int8:per-channel", "onnx-fp16", "int8", "int4:weights", "binary-weight", "ternary-weight", "mca:t=11",
    "approx:mitchell", "policy.json",
)
#: Every form a spec can take, built from the tables the parser reads: what
#: ``--help`` lists and what an unknown spec's error names.
FORMS = (
    *(form for name in (*NATIVE, *ONNX) for form in (name, *([f"{name}:{NAMED_OPTIONS[name]}"] if name in NAMED_OPTIONS else []))),
    *WEIGHT_ONLY,
    "float:eXmY[:opts]",
    "fixed:W.F[:opts]",
    "intN[:opts]",
    "int:N[:opts]",
    "mca:t=T[:opts]",
    "approx:" + "|".join(MULTIPLIERS) + "[:mantissa=M]",
)
_ACCEPTED = ", ".join(FORMS) + ", or a .json/.toml per-layer policy file"


@dataclass(frozen=True)
class PrecisionSpec:
    """A parsed ``--precision`` spec: plain data, round-trips through :attr:`text`.

    ``kind`` is one of ``native``, ``onnx``, ``float``, ``fixed``, ``int``, ``binary``,
    ``ternary``, ``mca``, ``approx``, ``policy`` or ``keep`` (a policy's ``float32``); the other fields apply to
    the kinds named in their comments and keep their defaults otherwise.
    """

    text: str
    kind: str
    name: str = ""  # native: the runtime name; approx: the multiplier
    exp_bits: int = 0  # float
    man_bits: int = 0  # float; approx: significand table bits (0: the int8 table)
    word_bits: int = 0  # fixed
    frac_bits: int = 0  # fixed
    bits: int = 0  # int
    rounding: str = "nearest"  # float, fixed, mca
    saturate: bool = False  # float
    subnormals: bool = True  # float
    finite: bool = False  # float: OCP "fn" encoding without infinities (e4m3fn)
    symmetric: bool = True  # int weights
    per_channel: bool = True  # int weights
    group_size: int | None = None  # int weights
    targets: str = "both"  # float, fixed, int
    ops: bool = False  # float, fixed: also round every arithmetic op's result (TorchFunctionMode)
    compiled: bool = False  # native int8-static: lowered with torch.compile to int8 kernels
    seed: int = 0  # anything stochastic
    t: int = 0  # mca: virtual precision in bits
    mode: str = "rr"  # mca
    layers: tuple[tuple[str, "PrecisionSpec"], ...] = field(default=())  # policy: (pattern, spec) in order

    @property
    def stochastic(self) -> bool:
        return self.rounding == "stochastic" or self.kind == "mca" or any(s.stochastic for _, s in self.layers)


def _fail(spec: str, message: str) -> DiverfuzzError:
    return DiverfuzzError(f"--precision={spec!r}: {message}")


def _int_option(spec: str, key: str, value: str, low: int, high: int) -> int:
    if not re.fullmatch(r"\d+", value) or not low <= int(value) <= high:
        raise _fail(spec, f"{key} must be an integer {low}..{high} (got {value!r})")
    return int(value)


def parse_precision(spec: str) -> PrecisionSpec:
    """Parse a ``--precision`` spec (see the module docstring for the grammar).

    Parameters
    ----------
    spec : str
        E.g. ``"fp16"``, ``"float:e4m3"``, ``"float:e5m2:sr:seed=3"``,
        ``"fixed:16.14:sr"``, ``"int4:weights"``, ``"mca:t=11"``,
        ``"approx:mitchell"``, ``"policy.json"``.

    Returns
    -------
    PrecisionSpec

    Raises
    ------
    DiverfuzzError
        One line: ``--precision='SPEC': what is wrong (and what is accepted)``.

    Examples
    --------
    >>> s = parse_precision("float:e5m2:sr:seed=3")
    >>> (s.kind, s.exp_bits, s.man_bits, s.rounding, s.seed)
    ('float', 5, 2, 'stochastic', 3)
    """
    if not isinstance(spec, str) or not spec.strip():
        raise DiverfuzzError(f"--precision={spec!r} is empty; choose one of {_ACCEPTED}")
    spec = spec.strip()
    if spec.lower().endswith((".json", ".toml")):
        return _parse_policy(spec)
    head, *options = spec.split(":")
    named_option = bool(options) and head in NAMED_OPTIONS and options == [NAMED_OPTIONS[head]]
    if head in NATIVE and named_option:  # int8-static:compiled
        return PrecisionSpec(spec, "native", name=head, compiled=True)
    if head in ONNX:
        if not options or named_option:  # onnx-int8:per-channel
            return PrecisionSpec(spec, "onnx", name=head, per_channel=named_option)
        accepted = NAMED_OPTIONS.get(head, "no options")
        raise _fail(spec, f"{head} takes {accepted} (got {':'.join(options)!r})")
    if head in NATIVE or head in WEIGHT_ONLY:
        if options:
            takes = f"only the option {NAMED_OPTIONS[head]!r}" if head in NAMED_OPTIONS else "no options"
            raise _fail(spec, f"{head} takes {takes} (got {':'.join(options)!r})")
        if head in NATIVE:
            return PrecisionSpec(spec, "native", name=head)
        return PrecisionSpec(spec, head.split("-")[0], targets="weights")
    if head == "float":
        return _parse_float(spec, options)
    if head == "fixed":
        return _parse_fixed(spec, options)
    if re.fullmatch(r"int(\d+)", head) or head == "int":
        return _parse_int(spec, head, options)
    if head == "mca":
        base = _options(spec, PrecisionSpec(spec, "mca", rounding="stochastic"), options, ("t", "mode", "seed"))
        if base.t == 0:
            raise _fail(spec, "needs the virtual precision, e.g. mca:t=11 (t in 1..52)")
        return base
    if head == "approx":
        return _parse_approx(spec, options)
    raise DiverfuzzError(f"--precision={spec!r} is unknown; choose one of {_ACCEPTED}")


def _parse_float(spec: str, options: list[str]) -> PrecisionSpec:
    """``float:eXmY[fn][:opts]``: the format, then :func:`_options`."""
    if not options or not (m := re.fullmatch(r"e(\d+)m(\d+)(fn)?", options[0])):
        got = options[0] if options else "nothing"
        raise _fail(spec, f"expected float:eXmY or float:eXmYfn, e.g. float:e4m3 (got {got!r})")
    exp_bits, man_bits = int(m.group(1)), int(m.group(2))
    if not 1 <= exp_bits <= 8:
        raise _fail(spec, f"exponent bits must be 1..8 (got {exp_bits})")
    if not 0 <= man_bits <= 23:
        raise _fail(spec, f"mantissa bits must be 0..23 (got {man_bits})")
    finite = m.group(3) is not None
    if finite and (man_bits == 0 or exp_bits == 8):
        raise _fail(spec, "fn (finite, no inf) formats need exponent bits 1..7 and mantissa bits 1..23")
    base = PrecisionSpec(spec, "float", exp_bits=exp_bits, man_bits=man_bits, finite=finite)
    return _options(spec, base, options[1:], ("sr", "sat", "nosub", "weights", "activations", "ops", "seed"))


def _parse_fixed(spec: str, options: list[str]) -> PrecisionSpec:
    """``fixed:W.F[:opts]``: word and fraction bits, then :func:`_options`."""
    if not options or not (m := re.fullmatch(r"(\d+)\.(\d+)", options[0])):
        got = options[0] if options else "nothing"
        raise _fail(spec, f"expected fixed:W.F (word and fraction bits), e.g. fixed:16.14 (got {got!r})")
    word, frac = int(m.group(1)), int(m.group(2))
    if not 2 <= word <= 24:
        raise _fail(spec, f"word bits must be 2..24 (got {word})")
    if frac > 126:
        raise _fail(spec, f"fraction bits must be 0..126 (got {frac})")
    base = PrecisionSpec(spec, "fixed", word_bits=word, frac_bits=frac)
    return _options(spec, base, options[1:], ("sr", "weights", "activations", "ops", "seed"))


def _parse_int(spec: str, head: str, options: list[str]) -> PrecisionSpec:
    """``intN[:opts]`` (N in 2, 4, 8) or ``int:N[:opts]`` (N in 2..8), then :func:`_options`."""
    if m := re.fullmatch(r"int(\d+)", head):
        bits = int(m.group(1))
        if bits not in (2, 4, 8):
            raise _fail(spec, f"integer widths are int2, int4, int8, or int:N for any N in 2..8 (got {head})")
    else:
        if not options or not re.fullmatch(r"\d+", options[0]) or not 2 <= int(options[0]) <= 8:
            got = options[0] if options else "nothing"
            raise _fail(spec, f"integer bits must be 2..8 (got {got!r})")
        bits, options = int(options[0]), options[1:]
    base = PrecisionSpec(spec, "int", bits=bits)
    return _options(spec, base, options, ("asym", "per-tensor", "group", "weights", "activations"))


def _parse_approx(spec: str, options: list[str]) -> PrecisionSpec:
    """``approx:NAME[:mantissa=M]``."""
    if not options or options[0] not in MULTIPLIERS:
        raise _fail(spec, f"expected approx:NAME[:mantissa=M] with NAME one of {', '.join(MULTIPLIERS)}")
    base = PrecisionSpec(spec, "approx", name=options[0])
    for option in options[1:]:
        key, _, value = option.partition("=")
        if key != "mantissa" or base.man_bits:
            raise _fail(spec, f"unknown option {option!r}; approx accepts mantissa=M (M in 1..8)")
        base = replace(base, man_bits=_int_option(spec, "mantissa", value, 1, 8))
    return base


def _options(spec: str, base: PrecisionSpec, options: list[str], allowed: tuple[str, ...]) -> PrecisionSpec:
    changes: dict = {}
    for option in options:
        key, _, value = option.partition("=")
        if key not in allowed or bool(value) != (key in ("seed", "t", "mode", "group")):
            shown = ", ".join(a + "=N" if a in ("seed", "t", "group") else a + "=MODE" if a == "mode" else a for a in allowed)
            raise _fail(spec, f"unknown option {option!r}; {base.kind} accepts {shown}")
        if key in changes or (key in ("weights", "activations") and "targets" in changes):
            raise _fail(spec, f"option {key!r} given twice or contradicts another")
        if key == "sr":
            changes["rounding"] = "stochastic"
        elif key == "sat":
            changes["saturate"] = True
        elif key == "nosub":
            changes["subnormals"] = False
        elif key in ("weights", "activations"):
            changes["targets"] = key
        elif key == "ops":
            changes["ops"] = True
        elif key == "asym":
            changes["symmetric"] = False
        elif key == "per-tensor":
            changes["per_channel"] = False
        elif key == "group":
            changes["group_size"] = _int_option(spec, key, value, 1, 2**20)
        elif key == "seed":
            changes["seed"] = _int_option(spec, key, value, 0, 2**63 - 1)
        elif key == "t":
            changes["t"] = _int_option(spec, key, value, 1, 52)
        elif key == "mode":
            if value not in MCA_MODES:
                raise _fail(spec, f"mode must be one of {', '.join(MCA_MODES)} (got {value!r})")
            changes["mode"] = value
    if changes.get("ops") and changes.get("targets") == "weights":
        raise _fail(spec, "option 'ops' rounds activations and contradicts 'weights'")
    return replace(base, **changes)


def _parse_policy(spec: str) -> PrecisionSpec:
    path = Path(spec)
    if not path.is_file():
        raise _fail(spec, "policy file not found; give an existing .json or .toml file mapping layer patterns to specs")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text())
        else:
            try:
                import tomllib
            except ImportError as exc:  # Python 3.10
                raise _fail(spec, "TOML policies need Python 3.11+; write the policy as .json") from exc
            data = tomllib.loads(path.read_text())
    except (ValueError, OSError) as exc:
        raise _fail(spec, f"cannot read the policy file: {exc}".replace("\n", " ")) from exc
    if isinstance(data, dict) and set(data) == {"layers"}:
        data = data["layers"]
    if not isinstance(data, dict) or not data:
        raise _fail(spec, 'a policy must be a non-empty mapping of layer patterns to specs, e.g. {"features.0": "float:e4m3"}')
    layers = []
    for pattern, inner in data.items():
        if not isinstance(inner, str):
            raise _fail(spec, f"layer {pattern!r}: the spec must be a string (got {type(inner).__name__})")
        parsed = _parse_layer_spec(spec, str(pattern), inner)
        per_layer = parsed.kind in ("keep", "float", "fixed", "int", "binary", "ternary") or parsed.text in PER_LAYER_RUNTIMES
        if not per_layer:
            raise _fail(
                spec,
                f"layer {pattern!r}: {inner!r} cannot be applied per layer; use float32 (keep), float:..., fixed:..., "
                f"intN, binary-weight, ternary-weight or one of {', '.join(PER_LAYER_RUNTIMES)}",
            )
        layers.append((str(pattern), parsed))
    runtimes = sorted({s.text for _, s in layers if s.text in PER_LAYER_RUNTIMES})
    emulated = [f"{p}: {s.text}" for p, s in layers if s.kind != "keep" and s.text not in PER_LAYER_RUNTIMES]
    if len(runtimes) > 1 or (runtimes and emulated):
        mixed = runtimes[1] if len(runtimes) > 1 else emulated[0]
        raise _fail(
            spec,
            f"a policy may name one runtime ({runtimes[0]}) and float32 for the layers it keeps, not also {mixed!r}; "
            "split it into separate policies",
        )
    return PrecisionSpec(spec, "policy", layers=tuple(layers))


def _parse_layer_spec(spec: str, pattern: str, inner: str) -> PrecisionSpec:
    """One value of a policy: ``float32``/``fp32`` (keep the layer at float32) or any spec."""
    if inner.strip().lower() in KEEP:
        return PrecisionSpec(inner.strip(), "keep")
    try:
        return parse_precision(inner)
    except DiverfuzzError as exc:
        raise _fail(spec, f"layer {pattern!r}: {exc}") from exc


def policy_runtime(spec: PrecisionSpec) -> PrecisionSpec | None:
    """The runtime a policy applies per layer (``int8-static``, ...), or None for an emulated policy.

    Such a policy quantizes, with that runtime, the parameterised layers whose
    first matching pattern names it; every other layer stays float32.
    """
    return next((s for _, s in spec.layers if s.text in PER_LAYER_RUNTIMES), None) if spec.kind == "policy" else None


__all__ = [
    "EXAMPLES", "FORMS", "KEEP", "NAMED_OPTIONS", "NATIVE", "ONNX", "PER_LAYER_RUNTIMES", "PrecisionSpec",
    "parse_precision", "policy_runtime",
]
