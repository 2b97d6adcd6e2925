"""``diverfuzz explain DIR`` and ``check(explain=True)``, end to end on a pair built so one layer is the culprit."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import torch

from diverfuzz.entry.check import check
from diverfuzz.entry.cli import main
from diverfuzz.fuzzer.campaign.replay import replay_stored
from diverfuzz.fuzzer.campaign.storage.corpus import Corpus
from diverfuzz.models.loading import load_model
from diverfuzz.models.pair import ModelPair
from diverfuzz.models.precision import build_counterpart

MODELS_PY = textwrap.dedent(
    '''
    import torch
    from torch import nn


    def mlp():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(7)
            return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    '''
)
#: Layer "1" computes at float32 exactly (e8m23 is float32 itself); only layer "3" is reduced,
#: to 2-bit weights, so every divergence is caused by layer "3" by construction.
POLICY = {"1": "float:e8m23", "3": "int2:weights"}


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    (root / "models.py").write_text(MODELS_PY)
    x = np.random.default_rng(0).uniform(size=(24, 1, 8, 8)).astype(np.float32)
    reference = load_model(f"{root / 'models.py'}:mlp", option="--model")
    labels = reference(torch.from_numpy(x)).argmax(dim=1).numpy()  # the reference is right on every seed
    np.savez(root / "data.npz", x=x, y=labels)
    (root / "policy.json").write_text(json.dumps(POLICY))
    out = root / "run"
    code = main([
        "run", "--model", f"{root / 'models.py'}:mlp", "--data", str(root / "data.npz"),
        "--precision", str(root / "policy.json"), "--seeds", "6", "--budget", "60", "--population", "10",
        "--out", str(out), "--quiet",
    ])
    assert code == 0
    with Corpus.in_folder(out) as corpus:
        assert corpus.stored(), "the constructed pair must diverge for the test to mean anything"
    return root, out


def test_explain_names_the_culprit_layer_and_a_fix_that_removes_every_divergence(campaign, capsys):
    root, out = campaign
    capsys.readouterr()
    assert main(["explain", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "culprit layers" in printed and "fix: keep 3 at float32" in printed
    record = json.loads((out / "explain.json").read_text())
    with Corpus.in_folder(out) as corpus:
        stored_ids = [i for i, _ in corpus.divergences()]
    assert [d["id"] for d in record["divergences"]] == stored_ids
    for d in record["divergences"]:
        assert d["culprits"] == ["3"]
        assert set(d["layer_errors"]) == {"1", "3"}
        assert d["layer_errors"]["1"] == {"input": 0.0, "seed": 0.0}  # float32 exactly
        assert d["layer_errors"]["3"]["input"] > 0.0
    fix = record["fix"]
    assert fix["layers"] == ["3"] and fix["removed"] == 1.0
    assert fix["weights_share"] == pytest.approx(170 / (64 * 16 + 16 + 170))
    assert fix["accuracy"]["reference"] == 1.0 and fix["accuracy"]["after"] == 1.0
    assert fix["accuracy"]["before"] < 1.0  # a seed disagrees before any transformation
    assert json.loads((out / "explain_fix.json").read_text()) == {"3": "float32", "1": "float:e8m23"}
    assert "Culprit layers" in (out / "report.html").read_text()


def test_fix_policy_removes_the_divergences_by_replay(campaign):
    root, out = campaign
    assert main(["explain", str(out)]) == 0
    x = np.load(root / "data.npz")["x"]
    reference = load_model(f"{root / 'models.py'}:mlp", option="--model")
    fixed = build_counterpart(str(out / "explain_fix.json"), reference, x)
    original = build_counterpart(str(root / "policy.json"), reference, x)
    with Corpus.in_folder(out) as corpus:
        stored = corpus.stored()
    before = replay_stored(ModelPair(reference, original), x, stored, "none")
    after = replay_stored(ModelPair(reference, fixed), x, stored, "none")
    assert all(o.labels_match for o in before)
    assert all(o.reference_label == o.candidate_label for o in after)


def test_explain_of_a_folder_without_a_campaign_is_one_line(tmp_path, capsys):
    assert main(["explain", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("diverfuzz: error: DIR=") and "\n" not in err


def test_explain_of_a_file_candidate_is_one_line(tiny_run_args, tmp_path, capsys):
    out = tmp_path / "files"
    assert main(tiny_run_args(out, seeds=1, budget=20)) == 0
    capsys.readouterr()
    assert main(["explain", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot rebuild with single layers restored" in err and "\n" not in err


def test_check_returns_the_explanation(campaign, tmp_path):
    root, _ = campaign
    x = np.load(root / "data.npz")["x"][:6]
    reference = load_model(f"{root / 'models.py'}:mlp", option="--model")
    result = check(reference, str(root / "policy.json"), x, budget=40, explain=True, report_dir=tmp_path / "r")
    assert result.explanation is not None and result.divergences
    assert len(result.explanation["divergences"]) == len(result.divergences)
    assert all(d["culprits"] == ["3"] for d in result.explanation["divergences"])
    assert (tmp_path / "r" / "explain.json").is_file()


def test_check_explain_needs_a_precision_spec(tmp_path):
    from diverfuzz.common.errors import DiverfuzzError

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    x = np.zeros((2, 1, 8, 8), np.float32)
    with pytest.raises(DiverfuzzError, match="explain=True needs candidate= a precision spec"):
        check(model, model, x, explain=True, report_dir=tmp_path / "r")


def test_explain_of_a_float_and_an_int8_onnx_file_reports_per_tensor_errors(campaign, tmp_path, capsys):
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    from diverfuzz.models.precision.onnx_runtime import _Reader, export_onnx

    root, _ = campaign
    data = np.load(root / "data.npz")
    reference = load_model(f"{root / 'models.py'}:mlp", option="--model")
    export_onnx(reference, data["x"], tmp_path / "float.onnx", "onnx-int8")
    name = onnx.load(str(tmp_path / "float.onnx")).graph.input[0].name
    quantize_static(str(tmp_path / "float.onnx"), str(tmp_path / "int8.onnx"), _Reader(name, data["x"]),
                    quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    out = tmp_path / "files"
    assert main(["run", "--model", str(tmp_path / "float.onnx"), "--candidate", str(tmp_path / "int8.onnx"),
                 "--data", str(root / "data.npz"), "--seeds", "8", "--budget", "80", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["explain", str(out)]) == 0
    err = capsys.readouterr().err.strip()
    assert "cannot rebuild with single layers restored" in err and "\n" not in err
    record = json.loads((out / "explain.json").read_text())
    assert record["fix"] is None and record["divergences"]
    assert all(set(d["layer_errors"]) == set(record["layers"]) and d["culprits"] == [] for d in record["divergences"])
    assert any(d["layer_errors"][t]["input"] > 0 for d in record["divergences"] for t in record["layers"])


MLPERF_IC = __import__("pathlib").Path(__file__).resolve().parents[2].parent / "shared" / "realpairs" / "mlperf-tiny-ic"


def _mlperf(name: str):
    path = MLPERF_IC / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (real pairs live in ../shared/realpairs beside the repository)")
    return path


def test_tflite_tensor_errors_pair_the_mlperf_files_by_name_and_dequantize_int8():
    from diverfuzz.models.runtimes.litert import tflite_tensor_errors

    float_file, int8_file = _mlperf("pretrainedResnet.tflite"), _mlperf("pretrainedResnet_quant.tflite")
    x = np.random.default_rng(0).uniform(0, 255, size=(2, 3, 32, 32)).astype(np.float32)
    errors = tflite_tensor_errors(float_file, int8_file, x)
    # The converter kept the names of the 15 activations before the softmax (whose int8 output is renamed).
    assert len(errors) == 15 and "model/flatten/Reshape" in errors
    values = np.stack(list(errors.values()))
    # Dequantized with each tensor's scale and zero point, int8 is within a few percent of float;
    # a missed zero point or scale would put it near or above 100%.
    assert values.shape == (15, 2) and 0.001 < values.min() and values.max() < 0.2
    assert all(v.max() == 0.0 for v in tflite_tensor_errors(int8_file, int8_file, x).values())
    # A different network (the large ResNet) shares no tensor name with the small one's int8 file.
    assert tflite_tensor_errors(_mlperf("pretrainedResnet_large_float.tflite"), int8_file, x[:1]) == {}


@pytest.mark.parametrize("candidate, shared", [("pretrainedResnet_quant.tflite", 15),
                                               ("pretrainedResnet_large_int8.tflite", 0)])
def test_explain_of_a_float_and_an_int8_tflite_file_says_it_cannot_rebuild(tmp_path, capsys, candidate, shared):
    # The small ResNet's float file and its int8 file share 15 tensor names; the large ResNet's
    # int8 file (another network) shares none with the small float file.
    float_file, int8_file = _mlperf("pretrainedResnet.tflite"), _mlperf(candidate)
    images = MLPERF_IC.parent / "cifar10-test"
    if not images.is_dir():
        pytest.skip(f"{images} is absent (real pairs live in ../shared/realpairs beside the repository)")
    out = tmp_path / "run"
    assert main(["run", "--model", str(float_file), "--candidate", str(int8_file), "--data", str(images),
                 "--input-range", "0,255", "--seeds", "6", "--budget", "40", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["explain", str(out)]) == 0
    err = capsys.readouterr().err.strip()
    assert "cannot rebuild with single layers restored" in err and "\n" not in err
    record = json.loads((out / "explain.json").read_text())
    assert record["fix"] is None and len(record["layers"]) == shared
    assert ("no tensor it computes shares a name" in err) == (shared == 0)
    assert record["divergences"], "the pair must diverge for the per-divergence records to be checked"
    assert all(set(d["layer_errors"]) == set(record["layers"]) and d["culprits"] == [] for d in record["divergences"])
    errors = [e for d in record["divergences"] for e in d["layer_errors"].values()]
    assert len(errors) == shared * len(record["divergences"])
    assert all(0 < e["input"] < 1 and 0 < e["seed"] < 1 for e in errors)
