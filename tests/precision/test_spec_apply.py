"""Spec strings, applying formats to a model copy, and per-layer policies."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.models.pair import fingerprint
from diverfuzz.models.precision import (
    apply_precision,
    build_counterpart,
    parse_precision,
    quantize_fixed,
    quantize_float,
    quantize_int,
)
from diverfuzz.models.precision.apply import assign_layers


def _net() -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 32), nn.ReLU(), nn.Linear(32, 10)
        ).eval()


@pytest.fixture(scope="module")
def data():
    return np.random.default_rng(0).random((64, 1, 8, 8), dtype=np.float32)


@pytest.mark.parametrize(
    ("spec", "fields"),
    [
        ("fp16", {"kind": "native", "name": "fp16"}),
        ("int8-static", {"kind": "native"}),
        ("int4-weight", {"kind": "native", "name": "int4-weight"}),
        ("float:e4m3", {"kind": "float", "exp_bits": 4, "man_bits": 3, "rounding": "nearest", "targets": "both"}),
        ("float:e5m2:sr", {"kind": "float", "rounding": "stochastic", "seed": 0}),
        ("float:e4m3fn", {"kind": "float", "exp_bits": 4, "man_bits": 3, "finite": True}),
        ("float:e4m3:ops", {"ops": True, "targets": "both"}),
        ("fixed:16.8:ops:activations", {"ops": True, "targets": "activations"}),
        ("float:e5m2:sr:seed=9:sat:nosub:weights", {"seed": 9, "saturate": True, "subnormals": False, "targets": "weights"}),
        ("fixed:16.14:sr", {"kind": "fixed", "word_bits": 16, "frac_bits": 14, "rounding": "stochastic"}),
        ("int4", {"kind": "int", "bits": 4, "symmetric": True, "per_channel": True}),
        ("int:3", {"kind": "int", "bits": 3}),
        ("int2:asym:per-tensor:activations", {"bits": 2, "symmetric": False, "per_channel": False, "targets": "activations"}),
        ("int4:weights:group=32", {"group_size": 32, "targets": "weights"}),
        ("binary-weight", {"kind": "binary", "targets": "weights"}),
        ("ternary-weight", {"kind": "ternary", "targets": "weights"}),
        ("mca:t=11", {"kind": "mca", "t": 11, "mode": "rr"}),
        ("mca:t=24:mode=full:seed=2", {"t": 24, "mode": "full", "seed": 2}),
        ("approx:mitchell", {"kind": "approx", "name": "mitchell", "man_bits": 0}),
        ("approx:truncated:mantissa=7", {"kind": "approx", "name": "truncated", "man_bits": 7}),
    ],
)
def test_specs_parse(spec, fields):
    parsed = parse_precision(spec)
    assert parsed.text == spec
    for key, value in fields.items():
        assert getattr(parsed, key) == value


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("float:e9m3", "--precision='float:e9m3': exponent bits must be 1..8 (got 9)"),
        ("float:e5m24", "mantissa bits must be 0..23 (got 24)"),
        ("float", "expected float:eXmY"),
        ("float:e5m0fn", "fn (finite, no inf) formats need exponent bits 1..7 and mantissa bits 1..23"),
        ("float:e4m3:fast", "unknown option 'fast'; float accepts sr, sat, nosub, weights, activations, ops, seed=N"),
        ("float:e4m3:seed=x", "seed must be an integer"),
        ("float:e4m3:weights:activations", "given twice or contradicts"),
        ("float:e4m3:weights:ops", "option 'ops' rounds activations and contradicts 'weights'"),
        ("fixed:32.4", "word bits must be 2..24 (got 32)"),
        ("fixed:16", "expected fixed:W.F"),
        ("int3", "integer widths are int2, int4, int8, or int:N for any N in 2..8 (got int3)"),
        ("int:9", "integer bits must be 2..8 (got '9')"),
        ("int:1:weights", "integer bits must be 2..8 (got '1')"),
        ("fp16:sr", "fp16 takes no options"),
        ("mca", "needs the virtual precision"),
        ("mca:t=99", "t must be an integer 1..52 (got '99')"),
        ("mca:t=8:mode=fast", "mode must be one of rr, pb, full"),
        ("approx:wallace", "approx:NAME[:mantissa=M] with NAME one of exact, truncated, mitchell"),
        ("approx:exact:mantissa=9", "mantissa must be an integer 1..8 (got '9')"),
        ("approx:exact:bits=4", "unknown option 'bits=4'; approx accepts mantissa=M"),
        ("int3-static", "is unknown; choose one of fp16"),
        ("", "is empty"),
        ("missing.json", "policy file not found"),
    ],
)
def test_bad_specs_fail_on_one_line(spec, message):
    with pytest.raises(DiverfuzzError) as info:
        parse_precision(spec)
    text = str(info.value)
    assert message in text
    assert "\n" not in text and text.startswith("--precision=")


def test_config_validates_specs(tmp_path):
    assert CampaignConfig(precision="float:e4m3:sr").precision == "float:e4m3:sr"
    with pytest.raises(DiverfuzzError, match=r"^--precision='float:e9m3': exponent bits must be 1..8 \(got 9\)$"):
        CampaignConfig(precision="float:e9m3")
    CampaignConfig(precision="nonsense", candidate="models.py:cand")  # unused when a candidate is given


def test_apply_rounds_weights_and_every_layer_output(data):
    net = _net()
    before = fingerprint(net)
    low = apply_precision(net, "float:e4m3")
    assert fingerprint(net) == before
    linear = low.model[3]
    assert torch.equal(linear.weight, quantize_float(net[3].weight.detach(), 4, 3))
    assert torch.equal(linear.bias, quantize_float(net[3].bias.detach(), 4, 3))
    seen = {}
    for name, module in low.model.named_children():
        module.register_forward_hook(lambda m, a, out, name=name: seen.__setitem__(name, (a[0], out)))
    out = low(torch.from_numpy(data))
    for name, (inp, output) in seen.items():
        assert torch.equal(inp, quantize_float(inp, 4, 3)), name
        assert torch.equal(output, quantize_float(output, 4, 3)), name
    # the reference computation on rounded weights and inputs, rounded after each layer
    x = quantize_float(torch.from_numpy(data), 4, 3)
    for layer in low.model:
        x = quantize_float(layer(x), 4, 3)
    assert torch.equal(out, x)


def test_weights_only_and_activations_only(data):
    net = _net()
    x = torch.from_numpy(data)
    w = apply_precision(net, "fixed:12.6:weights")
    assert torch.equal(w.model[0].weight, quantize_fixed(net[0].weight.detach(), 12, 6))
    with torch.no_grad():
        assert torch.allclose(w(x), w.model(x)) and not torch.equal(w(x), quantize_fixed(w(x), 12, 6))
    a = apply_precision(net, "fixed:12.6:activations")
    assert torch.equal(a.model[0].weight, net[0].weight)
    with torch.no_grad():
        y = a(x)
    assert torch.equal(y, quantize_fixed(y, 12, 6))


def test_int_weights_and_calibrated_activations(data):
    net = _net()
    low = apply_precision(net, "int4", data)
    for i in (0, 3, 5):
        assert torch.equal(low.model[i].weight, quantize_int(net[i].weight.detach(), 4, axis=0))
        assert torch.equal(low.model[i].bias, net[i].bias)
    with torch.no_grad():
        out = low(torch.from_numpy(data))
    assert len(torch.unique(out)) <= 16
    with pytest.raises(DiverfuzzError, match="calibration"):
        apply_precision(net, "int8")


def test_binary_and_ternary_leave_activations_alone(data):
    net = _net()
    b = apply_precision(net, "binary-weight")
    assert len(torch.unique(b.model[3].weight[0].abs())) == 1
    t = apply_precision(net, "ternary-weight")
    assert len(torch.unique(t.model[3].weight[0])) <= 3


def test_policy_file_by_layer_pattern(tmp_path, data):
    net = _net()
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"0": "float:e4m3", "[35]": "int4:weights"}))
    spec = parse_precision(str(path))
    assignment = {k: v.text for k, v in assign_layers(net, spec).items()}
    assert assignment == {"0": "float:e4m3", "3": "int4:weights", "5": "int4:weights"}
    low = build_counterpart(str(path), net, data)
    assert torch.equal(low.model[0].weight, quantize_float(net[0].weight.detach(), 4, 3))
    assert torch.equal(low.model[3].weight, quantize_int(net[3].weight.detach(), 4, axis=0))
    toml = tmp_path / "policy.toml"
    toml.write_text('"*" = "float:e5m2"\n')
    assert set(assign_layers(net, parse_precision(str(toml)))) == {"0", "1", "2", "3", "4", "5"}


def test_policy_errors(tmp_path):
    net = _net()
    for content, message in [
        ({"classifier.*": "int4"}, "pattern 'classifier.*' matches no layer; layers are 0, 1"),
        ({"0": "float:e9m3"}, "layer '0': --precision='float:e9m3': exponent bits must be 1..8"),
        ({"0": "fp16"}, "cannot be applied per layer"),
        ({"0": "int8-static"}, "applies a runtime per layer; build it with build_counterpart"),
        ({"0": "float:e4m3:ops"}, "the ops option applies to a whole model"),
        ([], "non-empty mapping"),
    ]:
        path = tmp_path / "p.json"
        path.write_text(json.dumps(content))
        with pytest.raises(DiverfuzzError, match="^--precision=") as info:
            apply_precision(net, str(path))
        assert message in str(info.value)
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(DiverfuzzError, match="cannot read the policy file"):
        parse_precision(str(tmp_path / "bad.json"))


def test_stochastic_counterparts_are_seeded_and_batch_independent(data):
    net = _net()
    x = torch.from_numpy(data)
    a = build_counterpart("float:e5m2:sr", net, data)
    b = build_counterpart("float:e5m2:sr", net, data)
    c = build_counterpart("float:e5m2:sr:seed=1", net, data)
    with torch.no_grad():
        ya, yb, yc = a(x), b(x), c(x)
        assert torch.equal(ya, yb) and torch.equal(ya, a(x))
        assert not torch.equal(ya, yc)
        assert torch.equal(a(x[5:9]), ya[5:9])
        assert torch.equal(build_counterpart("fixed:16.10:sr", net, data)(x[3:4]), build_counterpart("fixed:16.10:sr", net, data)(x)[3:4])


def test_every_example_spec_builds_a_working_counterpart(tmp_path, data):
    from diverfuzz.models.precision import EXAMPLES

    net = _net()
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"0": "float:e4m3", "[35]": "int4"}))
    x = torch.from_numpy(data[:8])
    with torch.no_grad():
        ref = net(x)
    for spec in EXAMPLES:
        if spec in ("int8-static", "int8-dynamic"):
            continue  # slow torch.export / torchao set-up: covered in tests/fuzzer/test_target_precision.py
        spec = str(policy) if spec.endswith(".json") else spec
        counterpart = build_counterpart(spec, net, data)
        with torch.no_grad():
            out = counterpart(x)
        assert out.shape == ref.shape and out.dtype == torch.float32, spec
        assert bool(torch.isfinite(out).all()), spec


class _Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1)
            self.a, self.b = nn.Linear(6, 6), nn.Linear(6, 3)

    def forward(self, x):
        h = torch.tanh(self.a(x)) * 0.37 + x  # functional ops no module hook sees
        return self.b(h)


def test_ops_option_rounds_functional_ops_too():
    net = _Residual()
    x = torch.rand(5, 6, generator=torch.Generator().manual_seed(0))
    hooks_only = apply_precision(net, "float:e4m3")
    every_op = apply_precision(net, "float:e4m3:ops")
    seen = []
    every_op.model.b.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    hooks_only.model.b.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    with torch.no_grad():
        every_op(x), hooks_only(x)
    q = lambda t: quantize_float(t, 4, 3)  # noqa: E731
    a = every_op.model.a
    with torch.no_grad():
        # every intermediate rounded: linear, tanh, the scaling and the residual sum
        want = q(q(q(torch.tanh(q(torch.nn.functional.linear(q(x), a.weight, a.bias)))) * 0.37) + x)
        assert torch.equal(seen[0], want)
        # with module hooks only, the functional part runs in float32 and is rounded once
        assert torch.equal(seen[1], q(torch.tanh(q(torch.nn.functional.linear(q(x), a.weight, a.bias))) * 0.37 + x))
    sr = apply_precision(net, "float:e4m3:ops:sr")
    with torch.no_grad():
        assert torch.equal(sr(x), apply_precision(net, "float:e4m3:ops:sr")(x))
        assert torch.equal(sr(x[1:3]), sr(x)[1:3])
