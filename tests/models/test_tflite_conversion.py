"""PyTorch stacks of layers converted to .tflite (torch_to_tflite), loaded through the .tflite loader.

Tolerance: float32 LiteRT kernels against float32 torch, atol 1e-4 on
log-probabilities / logits (measured differences are below 1e-6). Fully
int8 files are held to what int8 can keep: labels and a logit error small
against the logits' spread.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.examples.mnist import (
    LeNet1,
    LeNet5,
    load_mnist_data,
    trained_lenet5,
)
from diverfuzz.models.inference import batched_logits
from diverfuzz.models.loading import load_model
from diverfuzz.models.runtimes.torch_to_tflite import run_layers, torch_to_tflite

ATOL = 1e-4


@pytest.fixture(scope="module")
def mnist():
    return load_mnist_data()


def _seeded(model: nn.Module, seed: int = 0) -> nn.Module:
    """Weights ~ N(0, 1/fan_in), biases ~ N(0, 0.1^2) from ``seed``: logits of a few units, like a trained net's."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            scale = p[0].numel() ** -0.5 if p.dim() > 1 else 0.1
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen))
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    return model.eval()


def _log_probs(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.log_softmax(model(torch.from_numpy(x)).double(), 1).numpy()


@pytest.mark.parametrize("arch", [LeNet1, LeNet5])
def test_lenet_round_trip_on_real_mnist(tmp_path, mnist, arch):
    model = _seeded(arch())
    x = mnist.x_test[:64]
    path = torch_to_tflite(model, tmp_path / "lenet.tflite", (1, 28, 28), softmax=True)
    loaded = load_model(str(path))
    out = batched_logits(loaded, x)  # the loader turns the SOFTMAX output into log-probabilities
    expected = _log_probs(model, x)
    assert expected.min() > np.log(1e-30)  # every probability is a normal float32: the log-probabilities are exact
    np.testing.assert_allclose(out, expected, atol=ATOL)
    np.testing.assert_array_equal(out.argmax(1), expected.argmax(1))


@pytest.mark.slow
def test_trained_lenet5_round_trip_on_the_mnist_test_set(tmp_path, mnist):
    model = trained_lenet5(0, mnist)
    path = torch_to_tflite(model, tmp_path / "lenet5.tflite", (1, 28, 28))
    out = batched_logits(load_model(str(path)), mnist.x_test)
    with torch.no_grad():
        logits = model(torch.from_numpy(mnist.x_test)).double().numpy()
    np.testing.assert_allclose(out, logits, atol=ATOL)
    np.testing.assert_array_equal(out.argmax(1), logits.argmax(1))
    assert (out.argmax(1) == mnist.y_test).mean() > 0.93


def _every_layer() -> nn.Module:
    return _seeded(nn.Sequential(
        nn.Conv2d(3, 5, 3, stride=2, padding=1),  # PAD + VALID (stride 2)
        nn.BatchNorm2d(5),  # folded into the conv
        nn.Tanh(),  # a TANH operator, never fused
        nn.AvgPool2d(3, stride=1, padding=1),  # PAD + AVERAGE_POOL_2D (count_include_pad)
        nn.Conv2d(5, 4, 3, padding="same", dilation=1),  # SAME
        nn.ReLU6(),  # fused
        nn.MaxPool2d((2, 3)),
        nn.Flatten(),
        nn.Dropout(),
        nn.Linear(4 * 4 * 2, 6),
        nn.Sigmoid(),  # LOGISTIC
        nn.Linear(6, 3),
        nn.LogSoftmax(1),
    ), seed=1)


def test_every_supported_layer_round_trips(tmp_path):
    model = _every_layer()
    x = np.random.default_rng(0).random((4, 3, 16, 16), dtype=np.float32)
    out = batched_logits(load_model(str(torch_to_tflite(model, tmp_path / "all.tflite", (3, 16, 16)))), x)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).double().numpy()
    np.testing.assert_allclose(out, expected, atol=ATOL)


def test_layer_records_reference_matches_torch():
    """run_layers (the records' semantics, used for int8 calibration) computes what the torch model does."""
    from diverfuzz.models.runtimes.torch_to_tflite import _chain, _convert

    model = _every_layer()
    x = np.random.default_rng(2).random((3, 3, 16, 16), dtype=np.float32)
    outputs = run_layers(_convert(_chain(model), (3, 16, 16)), x.transpose(0, 2, 3, 1))
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).double().numpy()
    np.testing.assert_allclose(outputs[-1], expected, atol=1e-5)


def _tensor_types(path) -> set[int]:
    from ai_edge_litert import schema_py_generated as s

    graph = s.Model.GetRootAs(path.read_bytes(), 0).Subgraphs(0)
    return {graph.Tensors(i).Type() for i in range(graph.TensorsLength())}


def test_full_int8_lenet5_runs_int8_kernels_and_keeps_labels(tmp_path, mnist):
    from ai_edge_litert import schema_py_generated as s

    model = _seeded(LeNet5())
    path = torch_to_tflite(model, tmp_path / "int8.tflite", (1, 28, 28), quantize="int8", calibration=mnist.x_train[:256])
    # every tensor is int8, but biases (int32) and the reshape's shape (int32): no float kernel runs
    assert _tensor_types(path) == {s.TensorType.INT8, s.TensorType.INT32}
    model_fb = s.Model.GetRootAs(path.read_bytes(), 0)
    versions = {model_fb.OperatorCodes(i).BuiltinCode(): model_fb.OperatorCodes(i).Version()
                for i in range(model_fb.OperatorCodesLength())}
    op = s.BuiltinOperator  # the int8 kernels' versions, as LiteRT's converter records them
    assert versions == {op.CONV_2D: 3, op.MAX_POOL_2D: 2, op.RESHAPE: 1, op.FULLY_CONNECTED: 4}
    loaded = load_model(str(path))
    scale, zero = loaded.input["quantization"]
    assert np.dtype(loaded.input["dtype"]) == np.int8 and zero == -128 and scale == pytest.approx(1 / 255)
    x = mnist.x_test[:200]
    out = batched_logits(loaded, x)
    with torch.no_grad():
        logits = model(torch.from_numpy(x)).double().numpy()
    spread = logits.max() - logits.min()
    assert np.abs(out - logits).max() < 0.03 * spread  # measured 0.014 of 0.98
    assert (out.argmax(1) == logits.argmax(1)).mean() >= 0.95


def test_int8_needs_calibration_inputs(tmp_path):
    with pytest.raises(DiverfuzzError, match="calibration"):
        torch_to_tflite(_seeded(LeNet1()), tmp_path / "q.tflite", (1, 28, 28), quantize="int8")


class _Functional(nn.Module):
    """A forward written with functions: F.relu, torch.flatten, x.view."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=2, dilation=2)
        self.pool = nn.MaxPool2d(2)
        self.fc1, self.fc2 = nn.Linear(3 * 4 * 4, 8), nn.Linear(8, 4)

    def forward(self, x):
        x = self.pool(F.relu(self.conv(x)))
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x.view(-1, 8))


def test_functional_forward_round_trips(tmp_path):
    model = _seeded(_Functional())
    x = np.random.default_rng(1).random((3, 2, 8, 8), dtype=np.float32)
    out = batched_logits(load_model(str(torch_to_tflite(model, tmp_path / "f.tflite", (2, 8, 8)))), x)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).double().numpy()
    np.testing.assert_allclose(out, expected, atol=ATOL)


@pytest.mark.parametrize("io_dtype,zero", [("int8", -128), ("uint8", 0)])
def test_quantized_io_of_a_converted_cnn(tmp_path, mnist, io_dtype, zero):
    model = _seeded(LeNet1())
    x = mnist.x_test[:32]  # multiples of 1/255: the input tensor holds them exactly
    path = torch_to_tflite(
        model, tmp_path / "q.tflite", (1, 28, 28), softmax=True, io_dtype=io_dtype,
        input_quant=(1 / 255, zero), output_quant=(1 / 256, zero),
    )
    loaded = load_model(str(path))
    assert np.dtype(loaded.input["dtype"]) == np.dtype(io_dtype)
    out = batched_logits(loaded, x)
    assert np.isfinite(out).all()
    p = np.exp(_log_probs(model, x))
    # the output tensor's step is 1/256: rounding costs 1/512, a zero comes back floored at 1/512
    np.testing.assert_allclose(np.exp(out), p, atol=1 / 256)
    clear = np.sort(p, 1)[:, -1] - np.sort(p, 1)[:, -2] > 2 / 256
    assert clear.sum() >= 16
    np.testing.assert_array_equal(out.argmax(1)[clear], p.argmax(1)[clear])


class _Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x):
        return x + self.conv(x)


@pytest.mark.parametrize("model,shape,words", [
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.GELU()), (1, 8, 8), ["layer 1 (GELU)", "supported:"]),
    (nn.Sequential(nn.Conv2d(2, 2, 3, groups=2)), (2, 8, 8), ["groups=1"]),
    (nn.Sequential(nn.MaxPool2d(2, padding=1)), (1, 8, 8), ["padded max pool"]),
    (nn.Sequential(nn.Linear(8, 2)), (1, 8, 8), ["Linear on an image"]),
    (nn.Sequential(nn.BatchNorm2d(1)), (1, 8, 8), ["BatchNorm2d"]),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten()), (1, 8, 8), ["flattened image"]),
    (_Residual(), (1, 8, 8), ["not part of a chain"]),
])
def test_unsupported_layer_is_a_one_line_error(tmp_path, model, shape, words):
    with pytest.raises(DiverfuzzError) as info:
        torch_to_tflite(model.eval(), tmp_path / "x.tflite", shape)
    message = str(info.value)
    assert "\n" not in message and "cannot convert" in message
    for word in words:
        assert word in message
    assert not (tmp_path / "x.tflite").exists()


def test_truncated_converted_cnn_is_a_one_line_error(tmp_path):
    path = torch_to_tflite(_seeded(LeNet5()), tmp_path / "lenet5.tflite", (1, 28, 28))
    data = path.read_bytes()
    bad = tmp_path / "cut.tflite"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(DiverfuzzError) as info:
        load_model(str(bad), option="--candidate")
    assert "\n" not in str(info.value) and "--candidate" in str(info.value)
