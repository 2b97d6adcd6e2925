"""Counterparts on real runtimes (onnx-int8, onnx-fp16, int8-static:compiled) and quantized candidates."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diverfuzz.common.errors import DiverfuzzError, ModelError
from diverfuzz.models.pair import ModelPair
from diverfuzz.models.precision import build_counterpart
from diverfuzz.models.precision import int8 as int8_module


@pytest.fixture(scope="module")
def calibration():
    return np.random.default_rng(1).random((64, 1, 8, 8), dtype=np.float32)


@pytest.mark.parametrize("spec", ["onnx-int8", "onnx-int8:per-channel"])
def test_onnx_int8_is_close_to_the_reference_and_reproducible(calibration, spec, make_cnn):
    model = make_cnn()
    first = build_counterpart(spec, model, calibration)
    ref, cand = ModelPair(model, first).logits(calibration)
    spread = ref.max() - ref.min()
    assert 0 < np.abs(ref - cand).max() < 0.05 * spread  # quantized, yet close
    assert (ref.argmax(1) == cand.argmax(1)).mean() >= 0.9
    again = build_counterpart(spec, model, calibration)
    assert ModelPair(model, again).fingerprints() == ModelPair(model, first).fingerprints()


def test_onnx_int8_per_channel_is_a_different_graph(calibration, make_cnn):
    model = make_cnn()
    a = build_counterpart("onnx-int8", model, calibration)
    b = build_counterpart("onnx-int8:per-channel", model, calibration)
    assert a.fingerprint != b.fingerprint


def test_onnx_fp16_matches_to_half_precision(calibration, make_cnn):
    model = make_cnn()
    ref, cand = ModelPair(model, build_counterpart("onnx-fp16", model, calibration)).logits(calibration)
    assert 0 < np.abs(ref - cand).max() < 1e-2


@pytest.mark.parametrize("spec", ["int8-static", "int8-static:compiled", "onnx-int8", "fp16"])
def test_data_that_does_not_fit_fails_like_fp16_without_torch_internals(capfd, spec, make_cnn):
    """Issue 14 (c): a shape mismatch is the reference's one-line error, before any exporter runs."""
    model = make_cnn()
    bad = np.random.default_rng(2).random((6, 1, 10, 10), dtype=np.float32)
    with pytest.raises(ModelError) as info:
        build_counterpart(spec, model, bad)
    message = str(info.value)
    assert message.startswith("the reference model raised RuntimeError")
    assert "input batch shape (2, 1, 10, 10)" in message and "\n" not in message
    out, err = capfd.readouterr()
    assert "FakeTensor" not in out + err and "fake" not in (out + err).lower()


def test_compiled_int8_is_skipped_with_a_clear_message_without_a_compiler(monkeypatch, calibration, make_cnn):
    monkeypatch.setattr(int8_module, "cxx_compiler", lambda: None)
    with pytest.raises(DiverfuzzError, match="needs a C\\+\\+ compiler"):
        build_counterpart("int8-static:compiled", make_cnn(), calibration)


@pytest.mark.slow
def test_compiled_int8_runs_int8_kernels_close_to_the_fake_quant_graph(calibration, make_cnn):
    if int8_module.cxx_compiler() is None:
        pytest.skip("no C++ compiler: torch.compile cannot build the int8 kernels")
    model = make_cnn()
    compiled = build_counterpart("int8-static:compiled", model, calibration)
    fake = build_counterpart("int8-static", model, calibration)
    pair = ModelPair(fake, compiled)
    a, b = pair.logits(calibration[:5])  # padded to 8 rows inside
    assert np.abs(a - b).max() < 0.05
    # a row's result does not depend on its batch
    single = ModelPair(compiled, compiled).logits(calibration[:1])[0]
    np.testing.assert_allclose(single[0], b[0], atol=1e-5)


@pytest.mark.slow
def test_exported_module_as_reference_of_int8_static_and_onnx_int8(tmp_path, calibration, make_cnn, exporters):
    """Issue 14 (b): a torch.export module (eval() raises) quantizes like any module."""
    exporters["pt2"](make_cnn(), tmp_path / "m.pt2")
    exported = torch.export.load(str(tmp_path / "m.pt2")).module()
    from diverfuzz.models.preprocess import preprocess_from_text
    from diverfuzz.models.preprocessed import with_preprocess
    from diverfuzz.models.runtimes import load_model_file

    loaded = load_model_file(tmp_path / "m.pt2")
    wrapped = with_preprocess(load_model_file(tmp_path / "m.pt2"), preprocess_from_text(mean="0.5", std="0.5"))
    for reference in (exported, loaded, wrapped):
        for spec in ("int8-static", "onnx-int8"):
            ref, cand = ModelPair(reference, build_counterpart(spec, reference, calibration)).logits(calibration)
            assert (ref.argmax(1) == cand.argmax(1)).mean() >= 0.9
            assert np.abs(ref - cand).max() > 1e-4, (type(reference).__name__, spec)  # really quantized


def test_int8_static_that_quantizes_nothing_is_refused(calibration):
    class NoLayers(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :3] * 2.0

    with pytest.raises(DiverfuzzError, match="quantized nothing"):
        build_counterpart("int8-static", NoLayers(), calibration)


def _mlp(seeded_mlp):
    return seeded_mlp(outputs=3, scale=0.3)


def _ao_dynamic(model):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def _pt2e(model, calibration):
    return int8_module.int8_static(model, calibration)


def _torchao(model):
    import copy

    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    out = copy.deepcopy(model)
    quantize_(out, Int8WeightOnlyConfig())
    return out


@pytest.mark.parametrize("recipe", ["torch.ao dynamic", "PT2E converted", "torchao int8 weight-only"])
def test_already_quantized_pytorch_models_work_as_candidates(calibration, recipe, seeded_mlp):
    model = _mlp(seeded_mlp)
    candidate = {
        "torch.ao dynamic": lambda: _ao_dynamic(_mlp(seeded_mlp)),
        "PT2E converted": lambda: _pt2e(_mlp(seeded_mlp), calibration),
        "torchao int8 weight-only": lambda: _torchao(_mlp(seeded_mlp)),
    }[recipe]()
    pair = ModelPair(model, candidate)
    ref, cand = pair.logits(calibration)
    assert 0 < np.abs(ref - cand).max() < 0.5
    fingerprints = pair.fingerprints()
    assert fingerprints["candidate"] != fingerprints["reference"]
    again = {"torch.ao dynamic": lambda: _ao_dynamic(_mlp(seeded_mlp)),
             "PT2E converted": lambda: _pt2e(_mlp(seeded_mlp), calibration),
             "torchao int8 weight-only": lambda: _torchao(_mlp(seeded_mlp))}[recipe]()
    assert ModelPair(model, again).fingerprints() == fingerprints


@pytest.mark.parametrize("spec", ["int8-static", "onnx-int8", "fp16"])
def test_counterparts_of_a_preprocessed_reference_include_the_preprocessing(calibration, make_cnn, spec):
    from diverfuzz.models.preprocess import preprocess_from_text
    from diverfuzz.models.preprocessed import with_preprocess

    reference = with_preprocess(make_cnn(), preprocess_from_text(input_range="0,255", mean="128", std="64"))
    ref, cand = ModelPair(reference, build_counterpart(spec, reference, calibration)).logits(calibration)
    assert (ref.argmax(1) == cand.argmax(1)).mean() >= 0.9
    plain = ModelPair(make_cnn(), make_cnn()).logits(calibration)[0]
    assert not np.allclose(ref, plain)  # the preprocessing is really applied


@pytest.mark.parametrize("spec", ["onnx-int8", "onnx-fp16"])
def test_onnx_counterparts_of_an_onnx_reference_quantize_its_file(tmp_path, calibration, make_cnn, exporters, spec):
    from diverfuzz.models.runtimes import load_model_file

    exporters["onnx"](make_cnn(), tmp_path / "m.onnx")
    reference = load_model_file(tmp_path / "m.onnx")
    ref, cand = ModelPair(reference, build_counterpart(spec, reference, calibration)).logits(calibration)
    assert 0 < np.abs(ref - cand).max() < 0.05 * (ref.max() - ref.min())
    with pytest.raises(DiverfuzzError, match="torch.nn.Module"):
        build_counterpart("int8-static", reference, calibration)
