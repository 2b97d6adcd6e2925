"""Layer attribution (diverfuzz.oracles.explain) and the counterparts it searches over."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.activations import layer_outputs, relative_errors
from diverfuzz.models.precision import build_counterpart
from diverfuzz.models.precision.int8 import int8_static
from diverfuzz.models.precision.restore import PartialCounterparts, fix_policy, layer_costs
from diverfuzz.oracles.explain import attribute, cover_fix, culprit_histogram, greedy_fix, margins, smallest_fix


def _synthetic_restorer(calls: list):
    """Three layers A, B, C and three inputs, all labelled 0 by the reference.

    Input 0 flips because of B alone; input 1 agrees only with A and C both
    restored; input 2 agrees only with everything restored.
    """

    def restore(keep: frozenset) -> np.ndarray:
        calls.append(keep)
        ok = [
            "B" in keep,
            {"A", "C"} <= keep,
            keep == {"A", "B", "C"},
        ]
        return np.array([[1.0, 0.0] if good else [0.0, 1.0] for good in ok])

    return restore


def test_attribute_finds_single_layers_and_the_smallest_pair():
    calls: list = []
    found = attribute(_synthetic_restorer(calls), ["A", "B", "C"], np.zeros(3, dtype=int))
    assert found[0].culprits == ["B"] and found[0].single == ["B"] and found[0].resolved
    assert found[1].culprits == ["A", "C"] and found[1].single == [] and found[1].resolved
    assert found[2].culprits == ["A", "B", "C"] and found[2].resolved
    assert culprit_histogram(found, ["A", "B", "C"]) == {"A": 2, "B": 2, "C": 2}


def test_fix_searches_reach_the_target_with_the_fewest_layers():
    labels = np.zeros(3, dtype=int)
    exact = smallest_fix(_synthetic_restorer([]), ["A", "B", "C"], labels, target=0.3)
    assert exact.layers == ["B"] and exact.removed == pytest.approx(1 / 3)
    # No pair makes two inputs agree: the exact search says so per size, then keeps all three.
    full = smallest_fix(_synthetic_restorer([]), ["A", "B", "C"], labels, target=0.6)
    assert full.layers == ["A", "B", "C"] and full.removed == 1.0
    assert [len(step["layers"]) for step in full.steps] == [1, 2, 3]
    assert [step["removed"] for step in full.steps] == pytest.approx([1 / 3, 1 / 3, 1.0])
    # Within a weight limit that excludes B, the best is A+C (one input of three), short of the target.
    weights = {"A": 1, "B": 10, "C": 1}
    for max_sets in (64, 1):  # exhaustive, then greedy
        limited = smallest_fix(_synthetic_restorer([]), ["A", "B", "C"], labels, weights=weights, target=0.6,
                               max_weight=2, max_sets=max_sets, groups=[("A", "C")])
        assert sorted(limited.layers) == ["A", "C"] and not limited.reached
        assert limited.removed == pytest.approx(1 / 3)
    # One-layer greedy steps stall on the pair A+C; the culprit group gets past it.
    greedy = greedy_fix(_synthetic_restorer([]), ["A", "B", "C"], labels, groups=[("A", "C")], target=1.0)
    assert greedy.removed == 1.0 and sorted(greedy.layers) == ["A", "B", "C"]


def test_cover_fix_covers_culprit_sets_then_checks_by_building():
    labels = np.zeros(3, dtype=int)
    calls: list = []
    restore = _synthetic_restorer(calls)
    found = attribute(restore, ["A", "B", "C"], labels)
    calls.clear()
    # B covers input 0; then A+C covers inputs 1 and 2 (their culprit sets): all three, measured 1.0.
    fix = cover_fix(found, restore, ["A", "B", "C"], labels, target=0.6, max_sets=1)
    assert fix.layers == ["A", "B", "C"] and fix.removed == 1.0 and fix.reached
    assert len(set(calls)) <= 4  # the cover needs no build; measuring and pruning need one per set


def test_margins_sign_says_whether_the_label_wins():
    m = margins(np.array([[2.0, 1.0], [0.5, 3.0]]), np.array([0, 0]))
    np.testing.assert_allclose(m, [1.0, -2.5])


def _flipped_by_second_layer() -> tuple[nn.Module, np.ndarray]:
    """Layer "0" is the identity, which int4 scales but does not reorder; layer "1"'s small weight
    0.05 rounds to 0 at int4, which turns 1.05 vs 1.03 into 1.00 vs 1.03 on the input (1, 1)."""
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(2))
        model[0].bias.zero_()
        model[1].weight.copy_(torch.tensor([[1.0, 0.05], [1.0, 0.0]]))
        model[1].bias.copy_(torch.tensor([0.0, 0.03]))
    return model.eval(), np.array([[1.0, 1.0]], dtype=np.float32)


def test_culprit_is_the_layer_whose_quantization_flips_the_answer():
    model, x = _flipped_by_second_layer()
    counterparts = PartialCounterparts("int4:weights", model, x)
    assert counterparts.layers == ["0", "1"]
    reference = model(torch.from_numpy(x)).detach().numpy()
    assert batched_label(counterparts.build(), x) != reference.argmax(axis=1)[0]  # the pair diverges

    def restore(keep):
        return counterparts.build(keep)(torch.from_numpy(x)).detach().numpy()

    (found,) = attribute(restore, counterparts.layers, reference.argmax(axis=1))
    assert found.culprits == ["1"] and found.single == ["1"]
    errors = relative_errors(layer_outputs(counterparts.build(), x, ["0", "1"]), layer_outputs(model, x, ["0", "1"]))
    assert set(errors) == {"0", "1"} and errors["1"][0] > 0.0


def batched_label(model, x):
    return int(model(torch.from_numpy(x)).argmax(dim=1)[0])


def test_fix_policy_file_builds_the_restored_counterpart(tmp_path):
    model, x = _flipped_by_second_layer()
    policy = tmp_path / "fix.json"
    policy.write_text(json.dumps(fix_policy("int4:weights", ["1"])))
    assert json.loads(policy.read_text()) == {"1": "float32", "*": "int4:weights"}
    fixed = build_counterpart(str(policy), model, x)
    assert batched_label(fixed, x) == batched_label(model, x)
    costs = layer_costs(model, x[0])
    assert (costs["0"].params, costs["1"].params, costs["1"].macs) == (6, 6, 4)


def test_int8_static_policy_equals_the_quantizer_told_to_skip_the_layer(tmp_path):
    # The policy {"3": "float32", "*": "int8-static"} is built by PartialCounterparts, which
    # calibrates once and reuses every observer that sees the same nodes (here the pooling and
    # flatten observers change when conv "3" is kept, so they are calibrated again): exactly
    # what the X86 quantizer gives when told to skip module "3".
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4, 3),
    ).eval()
    x = np.random.default_rng(0).uniform(size=(32, 1, 12, 12)).astype(np.float32)
    batch = torch.from_numpy(x)
    policy = tmp_path / "p.json"
    policy.write_text(json.dumps({"3": "float32", "*": "int8-static"}))
    built = build_counterpart(str(policy), model, x)
    fresh = int8_static(model, x, keep={"3"})
    assert torch.equal(built(batch), fresh(batch))
    # Weights of "0" and "7" are quantized (per channel), those of "3" stay float.
    assert fresh.code.count("dequantize_per_channel.default(") == 2


def test_policy_mixing_a_runtime_with_other_formats_is_one_line(tmp_path):
    policy = tmp_path / "p.json"
    policy.write_text(json.dumps({"0": "float:e4m3", "*": "int8-static"}))
    with pytest.raises(DiverfuzzError, match="one runtime") as info:
        build_counterpart(str(policy), nn.Sequential(nn.Linear(2, 2)), np.ones((2, 2), np.float32))
    assert "\n" not in str(info.value)


def test_counterparts_that_cannot_restore_layers_say_so_in_one_line():
    with pytest.raises(DiverfuzzError, match="cannot be restored one at a time") as info:
        PartialCounterparts("fp16", nn.Sequential(nn.Linear(2, 2)), np.ones((2, 2), np.float32))
    assert "\n" not in str(info.value)


def test_an_onnx_reference_file_restores_its_nodes_by_name(tmp_path):
    # Layer "0" (identity) and the input (1, 1) are exact in int8; layer "1"'s weight 0.05 is not
    # (per-tensor scale 1/127): excluding layer "1"'s node removes the counterpart's error.
    from diverfuzz.models.precision.onnx_runtime import export_onnx, layer_nodes, onnx_layers
    from diverfuzz.models.runtimes.onnx import OnnxModel

    model, x = _flipped_by_second_layer()
    path = tmp_path / "pair.onnx"
    export_onnx(model, x, path, "onnx-int8")
    reference = OnnxModel(path)
    nodes = list(onnx_layers(path))
    assert len(nodes) == 2 and PartialCounterparts("onnx-int8", reference, x).layers == nodes
    # A PyTorch reference's layer names map to the exported nodes (name scopes), as nodes_to_exclude needs.
    assert layer_nodes(path, ["1"]) == [nodes[1]] and layer_nodes(path, [nodes[0]]) == [nodes[0]]
    with pytest.raises(DiverfuzzError, match="no ONNX node"):
        layer_nodes(path, ["2"])
    policy = tmp_path / "fix.json"
    policy.write_text(json.dumps({nodes[1]: "float32", "*": "onnx-int8"}))
    fixed = build_counterpart(str(policy), reference, x)
    full = build_counterpart("onnx-int8", reference, x)
    exact = reference(torch.from_numpy(x))
    assert np.abs(fixed(torch.from_numpy(x)) - exact).max() < np.abs(full(torch.from_numpy(x)) - exact).max() / 10


def test_onnx_int8_layer_errors_of_a_pytorch_reference_are_read_from_its_qdq_file():
    # Layer "0" (identity) passes the input (1, 1) exactly through int8, and through the ReLU the
    # quantizer fuses into its Gemm node (whose output then is the ReLU's tensor); layer "2"
    # writes the logits, so its error must be the counterpart's logits' own relative error.
    first, x = _flipped_by_second_layer()
    model = nn.Sequential(first[0], nn.ReLU(), first[1]).eval()
    counterparts = PartialCounterparts("onnx-int8", model, x)
    errors = counterparts.onnx_layer_errors(x)
    assert list(errors) == ["0", "2"]
    reference = model(torch.from_numpy(x)).detach().numpy()
    logits = np.asarray(counterparts.build()(torch.from_numpy(x)))
    expected = np.linalg.norm(logits - reference, axis=1) / np.linalg.norm(reference, axis=1)
    assert errors["0"][0] == 0.0 and errors["2"][0] > 1e-3
    assert errors["2"] == pytest.approx(expected, rel=1e-4)
    assert PartialCounterparts("int4:weights", model, x).onnx_layer_errors(x) is None
    # explain's per-divergence records take them (on the mutant and on its seed; here the same input).
    from diverfuzz.fuzzer.explain import _layer_errors

    (record,) = _layer_errors(model, counterparts, x, x)
    assert record == {name: {"input": float(e[0]), "seed": float(e[0])} for name, e in errors.items()}
