"""Model files as --model/--candidate: round trips, bad files, softmax, quantized I/O, pickling."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from diverfuzz.common.errors import DiverfuzzError, ModelError
from diverfuzz.models.inference import batched_logits
from diverfuzz.models.loading import load_model
from diverfuzz.models.pair import ModelPair
from diverfuzz.models.runtimes import file_digest, resolve_device
from diverfuzz.models.runtimes.tflite_writer import write_linear_tflite


def _ref(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)).double().numpy()


@pytest.mark.parametrize("fmt", ["onnx", "pt2", "pt"])
def test_round_trip_matches_source_model(model_files, batch, fmt):
    loaded = load_model(str(model_files[fmt]))
    np.testing.assert_allclose(batched_logits(loaded, batch), _ref(model_files["model"], batch), atol=1e-5)
    assert loaded.fingerprint == file_digest(model_files[fmt])


def test_onnx_softmax_output_comes_back_as_log_probabilities(model_files, batch):
    loaded = load_model(str(model_files["onnx_softmax"]))
    out = batched_logits(loaded, batch)
    np.testing.assert_allclose(np.exp(out), _ref(model_files["softmax_model"], batch), atol=1e-6)
    assert (out.argmax(1) == _ref(model_files["model"], batch).argmax(1)).all()


def _linear(rng, classes=3, features=64):
    return rng.normal(size=(classes, features)).astype(np.float32), rng.normal(size=classes).astype(np.float32)


def test_tflite_round_trip_float_nhwc(tmp_path, batch):
    w, b = _linear(np.random.default_rng(1))
    path = write_linear_tflite(tmp_path / "m.tflite", w, b, (8, 8, 1))
    out = batched_logits(load_model(str(path)), batch)
    expected = batch.transpose(0, 2, 3, 1).reshape(len(batch), -1) @ w.T + b
    np.testing.assert_allclose(out, expected, atol=1e-4)


def test_tflite_transposes_channel_first_batches_to_nhwc(tmp_path):
    rng = np.random.default_rng(2)
    w, b = _linear(rng, features=4 * 4 * 3)
    path = write_linear_tflite(tmp_path / "rgb.tflite", w, b, (4, 4, 3))
    x = rng.random((3, 3, 4, 4), dtype=np.float32)
    expected = x.transpose(0, 2, 3, 1).reshape(3, -1) @ w.T + b
    np.testing.assert_allclose(batched_logits(load_model(str(path)), x), expected, atol=1e-4)


@pytest.mark.parametrize("io_dtype,zero", [("int8", -128), ("uint8", 0)])
def test_tflite_quantized_io_and_softmax(tmp_path, batch, io_dtype, zero):
    w, b = _linear(np.random.default_rng(3))
    w *= 0.2
    path = write_linear_tflite(
        tmp_path / f"q_{io_dtype}.tflite", w, b, (8, 8, 1), softmax=True, io_dtype=io_dtype,
        input_quant=(1 / 255, zero), output_quant=(1 / 256, zero),
    )
    out = batched_logits(load_model(str(path)), batch)
    assert np.isfinite(out).all()
    xq = np.round(batch * 255) / 255  # what the int8 input tensor can hold
    z = xq.transpose(0, 2, 3, 1).reshape(len(batch), -1) @ w.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    # the runtime returns log-probabilities; their softmax is the dequantized output
    got = np.exp(out) / np.exp(out).sum(1, keepdims=True)
    np.testing.assert_allclose(got, p, atol=3 / 256)
    assert (out.argmax(1) == p.argmax(1)).mean() >= 0.8


def test_tflite_fixed_batch_of_one_runs_row_by_row(tmp_path, batch):
    w, b = _linear(np.random.default_rng(4))
    model = load_model(str(write_linear_tflite(tmp_path / "m.tflite", w, b, (8, 8, 1))))
    one = batched_logits(model, batch, batch_size=1)
    np.testing.assert_allclose(batched_logits(model, batch), one, atol=1e-5)


def _assert_one_line(exc_info, *words):
    message = str(exc_info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


@pytest.mark.parametrize("fmt", ["onnx", "pt2", "pt", "tflite"])
def test_truncated_file_is_a_one_line_error(tmp_path, model_files, fmt):
    if fmt == "tflite":
        w, b = _linear(np.random.default_rng(5))
        source = write_linear_tflite(tmp_path / "ok.tflite", w, b, (8, 8, 1))
    else:
        source = model_files[fmt]
    data = source.read_bytes()
    bad = tmp_path / f"bad.{fmt}"
    bad.write_bytes(data[: len(data) // 3])
    with pytest.raises(DiverfuzzError) as info:
        load_model(str(bad), option="--candidate")
    _assert_one_line(info, "--candidate", "bad.")


def test_empty_and_missing_and_unknown_extension(tmp_path, model_files):
    (tmp_path / "e.onnx").write_bytes(b"")
    with pytest.raises(DiverfuzzError) as info:
        load_model(str(tmp_path / "e.onnx"))
    _assert_one_line(info, "empty")
    with pytest.raises(DiverfuzzError) as info:
        load_model(str(tmp_path / "missing.tflite"))
    _assert_one_line(info, "does not exist")
    renamed = tmp_path / "model.onx"
    renamed.write_bytes(model_files["onnx"].read_bytes())
    with pytest.raises(DiverfuzzError) as info:
        load_model(str(renamed))
    _assert_one_line(info, "FILE.py:FUNC")


def test_wrong_extension_for_the_content(tmp_path, model_files):
    swapped = tmp_path / "really_onnx.tflite"
    swapped.write_bytes(model_files["onnx"].read_bytes())
    with pytest.raises(DiverfuzzError) as info:
        load_model(str(swapped))
    _assert_one_line(info, "not a loadable LiteRT model")
    pickled = tmp_path / "state.pt"
    torch.save({"w": torch.zeros(2)}, pickled, _use_new_zipfile_serialization=False)
    with pytest.raises(DiverfuzzError) as info:
        load_model(str(pickled))
    _assert_one_line(info, "does not load")


@pytest.mark.parametrize("fmt", ["onnx", "pt2", "pt", "tflite"])
def test_wrong_input_shape_is_a_one_line_model_error(tmp_path, model_files, fmt):
    if fmt == "tflite":
        w, b = _linear(np.random.default_rng(6))
        path = write_linear_tflite(tmp_path / "m.tflite", w, b, (8, 8, 1))
    else:
        path = model_files[fmt]
    x = np.zeros((2, 3, 16, 16), dtype=np.float32)
    with pytest.raises(ModelError) as info:
        batched_logits(load_model(str(path)), x, name="candidate")
    _assert_one_line(info, "16")


@pytest.mark.parametrize("fmt", ["onnx", "pt2", "pt", "tflite"])
def test_file_models_pickle_as_their_path(tmp_path, model_files, batch, fmt):
    if fmt == "tflite":
        w, b = _linear(np.random.default_rng(7))
        path = write_linear_tflite(tmp_path / "m.tflite", w, b, (8, 8, 1))
    else:
        path = model_files[fmt]
    model = load_model(str(path))
    blob = pickle.dumps(model)
    assert len(blob) < 1000  # the path, not the weights
    again = pickle.loads(blob)
    assert again.fingerprint == model.fingerprint
    np.testing.assert_array_equal(batched_logits(again, batch), batched_logits(model, batch))


def test_pair_of_file_models_fingerprints_are_file_hashes(model_files, batch):
    pair = ModelPair(load_model(str(model_files["onnx"])), load_model(str(model_files["pt2"])))
    ref, cand = pair.logits(batch)
    np.testing.assert_allclose(ref, cand, atol=1e-5)
    assert pair.fingerprints() == {"reference": file_digest(model_files["onnx"]), "candidate": file_digest(model_files["pt2"])}


def test_exported_module_from_a_factory_works_as_reference_and_candidate(model_files, batch):
    """Issue 14 (b): ``torch.export.load(...).module()`` refuses eval(); the pair must still take it."""
    exported = torch.export.load(str(model_files["pt2"])).module()
    pair = ModelPair(exported, torch.export.load(str(model_files["pt2"])).module())
    ref, cand = pair.logits(batch)
    np.testing.assert_array_equal(ref, cand)
    fingerprints = pair.fingerprints()
    assert fingerprints["reference"] == fingerprints["candidate"]


def test_device_auto_is_cpu_without_cuda_and_cuda_is_refused():
    if torch.cuda.is_available():
        pytest.skip("CUDA present: the refusal is for machines without it")
    assert resolve_device("auto") == "cpu"
    with pytest.raises(DiverfuzzError, match="no CUDA"):
        resolve_device("cuda")
    with pytest.raises(DiverfuzzError, match="choose one of"):
        resolve_device("tpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)")
def test_pair_on_cuda_matches_cpu(model_files, batch):
    model = model_files["model"]
    cpu = ModelPair(model, model).logits(batch)[0]
    gpu = ModelPair(model, model, device="cuda").logits(batch)[0]
    np.testing.assert_allclose(gpu, cpu, atol=1e-4)
