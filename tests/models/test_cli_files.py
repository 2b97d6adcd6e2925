"""End to end: model files and data as users hold them, through the CLI (run, replay, bad files, exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from diverfuzz.entry.cli import EXIT_OK, EXIT_USAGE, main
from diverfuzz.models.runtimes import file_digest, load_model_file
from diverfuzz.models.runtimes.tflite_writer import write_linear_tflite


@pytest.fixture(scope="module")
def files(tmp_path_factory, make_cnn, exporters):
    """Reference and candidate (weights rounded to 1/8) in every format, and 8x8 digits as .npz."""
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("cli_files")
    ref, cand = make_cnn(), make_cnn()
    with torch.no_grad():
        for p in cand.parameters():
            p.copy_(torch.round(p * 8) / 8)
    for name, model in (("ref", ref), ("cand", cand)):
        exporters["onnx"](model, root / f"{name}.onnx")
        exporters["pt2"](model, root / f"{name}.pt2")
        torch.jit.script(model).save(str(root / f"{name}.pt"))
    rng = np.random.default_rng(0)
    w, b = (rng.normal(size=(3, 64)) * 0.3).astype(np.float32), rng.normal(size=3).astype(np.float32)
    write_linear_tflite(root / "ref.tflite", w, b, (8, 8, 1))
    write_linear_tflite(
        root / "cand.tflite", w, b, (8, 8, 1), softmax=True, io_dtype="int8",
        input_quant=(1 / 255, -128), output_quant=(1 / 256, -128),
    )
    x = (load_digits().images[:60] / 16.0).astype(np.float32)[:, None]
    np.savez(root / "x.npz", x=x)
    return root


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "tflite", "pt2", "pt"])
def test_campaign_with_file_models_runs_and_replays(tmp_path, files, fmt, capsys):
    out = tmp_path / "out"
    argv = ["run", "--model", str(files / f"ref.{fmt}"), "--candidate", str(files / f"cand.{fmt}"),
            "--data", str(files / "x.npz"), "--seeds", "4", "--budget", "60", "--out", str(out), "--quiet"]
    assert main(argv) == EXIT_OK
    report = json.loads((out / "report.json").read_text())
    assert report["fingerprints"] == {"reference": file_digest(files / f"ref.{fmt}"), "candidate": file_digest(files / f"cand.{fmt}")}
    assert main(["replay", str(out)]) == EXIT_OK


@pytest.mark.slow
def test_process_workers_load_file_models_from_their_paths(tmp_path, files):
    """Workers get the config (paths), load the files themselves, and find what the local run finds."""
    reports = {}
    for backend, extra in (("local", []), ("process", ["--workers", "2"])):
        out = tmp_path / backend
        argv = ["run", "--model", str(files / "ref.onnx"), "--candidate", str(files / "cand.tflite"), "--data",
                str(files / "x.npz"), "--seeds", "3", "--budget", "40", "--backend", backend, *extra,
                "--out", str(out), "--quiet"]
        assert main(argv) == EXIT_OK
        reports[backend] = json.loads((out / "report.json").read_text())
    assert reports["process"]["fingerprints"]["candidate"] == file_digest(files / "cand.tflite")
    chains = {b: [(d["seed_index"], d["chain"]) for d in r["divergences"]] for b, r in reports.items()}
    assert chains["process"] == chains["local"]


@pytest.mark.parametrize("fmt", ["onnx", "tflite", "pt2", "pt"])
def test_bad_model_files_exit_2_with_one_line(tmp_path, files, fmt, capsys):
    data = (files / f"cand.{fmt}").read_bytes()
    truncated = tmp_path / f"cut.{fmt}"
    truncated.write_bytes(data[: len(data) // 2])
    base = ["run", "--model", str(files / f"ref.{fmt}"), "--data", str(files / "x.npz"), "--seeds", "1",
            "--budget", "5", "--out", str(tmp_path / "o"), "--quiet"]
    assert main([*base, "--candidate", str(truncated)]) == EXIT_USAGE
    assert "cut." in _one_line_error(capsys)
    wrong = tmp_path / "model.onnx.bak"
    wrong.write_bytes(data)
    assert main([*base, "--candidate", str(wrong)]) == EXIT_USAGE
    assert "FILE.py:FUNC" in _one_line_error(capsys)
    big = tmp_path / "big.npz"
    np.savez(big, x=np.zeros((3, 1, 16, 16), np.float32))
    argv = ["run", "--model", str(files / f"ref.{fmt}"), "--candidate", str(files / f"cand.{fmt}"), "--data", str(big),
            "--seeds", "1", "--budget", "5", "--out", str(tmp_path / "o2"), "--quiet"]
    assert main(argv) == EXIT_USAGE
    assert "16" in _one_line_error(capsys)


def test_precision_from_an_onnx_reference_is_refused_clearly(tmp_path, files, capsys):
    argv = ["run", "--model", str(files / "ref.onnx"), "--precision", "int8-static", "--data", str(files / "x.npz"),
            "--seeds", "1", "--budget", "5", "--out", str(tmp_path / "o"), "--quiet"]
    assert main(argv) == EXIT_USAGE
    assert "--candidate" in _one_line_error(capsys)


def test_onnx_reference_with_onnx_int8_precision_runs(tmp_path, files):
    argv = ["run", "--model", str(files / "ref.onnx"), "--precision", "onnx-int8", "--data", str(files / "x.npz"),
            "--seeds", "2", "--budget", "20", "--out", str(tmp_path / "o"), "--quiet"]
    assert main(argv) == EXIT_OK
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["fingerprints"]["reference"] == file_digest(files / "ref.onnx")
    assert report["fingerprints"]["candidate"] != report["fingerprints"]["reference"]


def test_preprocessing_options_are_recorded_and_validated(tmp_path, files, capsys):
    argv = ["run", "--model", str(files / "ref.pt2"), "--precision", "fp16", "--data", str(files / "x.npz"),
            "--mean", "0.5", "--std", "0.25", "--input-range", "0,1", "--seeds", "1", "--budget", "10",
            "--out", str(tmp_path / "o"), "--quiet"]
    assert main(argv) == EXIT_OK
    config = json.loads((tmp_path / "o" / "report.json").read_text())["config"]
    assert (config["mean"], config["std"], config["layout"]) == ("0.5", "0.25", "nchw")
    assert main(["replay", str(tmp_path / "o")]) == EXIT_OK
    bad = [a if a != "0.25" else "0" for a in argv]
    assert main(bad) == EXIT_USAGE
    assert "--std" in _one_line_error(capsys)


def test_onnx_external_weights_are_part_of_the_fingerprint(tmp_path, make_cnn, exporters):
    exporters["onnx"](make_cnn(), tmp_path / "m.onnx", external_data=True)
    data = tmp_path / "m.onnx.data"
    assert data.is_file()
    before = load_model_file(tmp_path / "m.onnx").fingerprint
    assert before != file_digest(tmp_path / "m.onnx")
    raw = bytearray(data.read_bytes())
    raw[-1] ^= 1
    data.write_bytes(bytes(raw))
    assert load_model_file(tmp_path / "m.onnx").fingerprint != before


@pytest.mark.slow
def test_resume_with_file_models_checks_the_file_hash(tmp_path, files, capsys):
    out = tmp_path / "out"
    ref, cand = tmp_path / "ref.onnx", tmp_path / "cand.onnx"
    ref.write_bytes((files / "ref.onnx").read_bytes())
    cand.write_bytes((files / "cand.onnx").read_bytes())
    base = ["run", "--model", str(ref), "--candidate", str(cand), "--data", str(files / "x.npz"), "--budget", "30",
            "--out", str(out), "--quiet"]
    assert main([*base, "--seeds", "2"]) == EXIT_OK
    assert main([*base, "--seeds", "4", "--resume"]) == EXIT_OK
    assert json.loads((out / "report.json").read_text())["summary"]["seeds"] == 4
    cand.write_bytes((files / "ref.onnx").read_bytes())  # another model under the same name
    assert main([*base, "--seeds", "5", "--resume"]) == EXIT_USAGE
    assert "fingerprint" in _one_line_error(capsys)
