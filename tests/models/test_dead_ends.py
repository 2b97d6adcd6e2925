"""Dead ends a new user steps into (issue 25, items 6, 7, 10, 11): each ends in one line, or works.

- a ``--kind`` that does not fit the data: one line, exit 2, and no folder
  left behind (a run that fails before its first seed blocks no rerun);
- model files exported with a fixed batch of one (the exporters' default)
  run one input at a time, calibration included, and the run says so;
- ``padding="same"`` convolutions quantize with ``int8-static`` (rewritten
  to explicitly padded ones, equal in float), and a quantizer failure names
  the operator;
- data without a channel axis, more seeds than eligible, a ``.yaml`` config
  and a single-output model each get one line naming the fix.
"""

from __future__ import annotations

import contextlib
import io
import logging
import textwrap
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from diverfuzz.common.errors import DiverfuzzError, ModelError
from diverfuzz.entry.cli import EXIT_OK, EXIT_USAGE, main
from diverfuzz.models.pair import ModelPair
from diverfuzz.models.precision import build_counterpart
from diverfuzz.models.precision import int8 as int8_module
from diverfuzz.models.runtimes import load_model_file


def _error_line(capsys) -> str:
    """The one stderr line of a refused run (no traceback)."""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("diverfuzz: error: ")
    return err[0]


@pytest.fixture(scope="module")
def calibration():
    return np.random.default_rng(1).random((24, 1, 8, 8), dtype=np.float32)


# --- item 6: a --kind that does not fit the data -------------------------------------------------


@pytest.mark.parametrize("kind, expected", [("signal", "takes (C, T) inputs"), ("spectral", "band_loss")])
def test_kind_that_does_not_fit_the_data_is_one_line_and_leaves_no_folder(
    tmp_path, tiny_run_args, capsys, kind, expected
):
    out = tmp_path / "out"
    assert main(tiny_run_args(out, "--kind", kind, seeds=2, budget=20)) == EXIT_USAGE
    line = _error_line(capsys)
    assert f"--kind={kind!r}" in line and expected in line and "image" in line
    assert not out.exists()  # the run never started: nothing to --force away
    assert main(tiny_run_args(out, seeds=2, budget=20)) == EXIT_OK


def test_a_run_that_fails_before_its_first_seed_blocks_no_rerun(tmp_path, tiny_run_args, tiny_files, capsys):
    """Seeds are chosen after the config is stored: a failure there must leave no campaign behind."""
    x = np.load(tiny_files["data"])["x"]
    wrong = tmp_path / "wrong_labels.npz"
    np.savez(wrong, x=x, y=np.full(len(x), 99))  # outside the models' 10 classes: no eligible seed
    out = tmp_path / "nested" / "out"
    args = tiny_run_args(out, seeds=2, budget=20)
    at = args.index("--data") + 1
    assert main([*args[:at], str(wrong), *args[at + 1 :]]) == EXIT_USAGE
    assert "no eligible seeds" in _error_line(capsys)
    assert not (tmp_path / "nested").exists()  # the folders this run created are gone too
    assert main(args) == EXIT_OK  # the corrected rerun, same --out, no --force


def test_a_failed_start_keeps_the_users_files_in_an_existing_folder(tmp_path, tiny_run_args, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "report.txt").write_text("my own notes")
    assert main(tiny_run_args(out, "--kind", "signal", seeds=2, budget=20)) == EXIT_USAGE
    _error_line(capsys)
    assert sorted(p.name for p in out.iterdir()) == ["report.txt"]


# --- item 7: model files with a fixed batch of one ----------------------------------------------


def _export_static(model: nn.Module, tmp_path) -> dict:
    """``model`` exported as the exporters do by default: a batch of exactly one input."""
    onnx_path, pt2_path = tmp_path / "m_static.onnx", tmp_path / "m_static.pt2"
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        torch.onnx.export(model, (torch.rand(1, 1, 8, 8),), str(onnx_path))
    torch.export.save(torch.export.export(model, (torch.rand(1, 1, 8, 8),)), str(pt2_path))
    return {"onnx": onnx_path, "pt2": pt2_path}


@pytest.fixture(scope="module")
def static_files(tmp_path_factory, make_cnn):
    return _export_static(make_cnn(), tmp_path_factory.mktemp("static"))


def test_a_pt2_with_a_fixed_batch_of_one_takes_any_batch(static_files, model_files, make_cnn, calibration):
    static = load_model_file(static_files["pt2"])
    assert static.one_at_a_time
    assert not load_model_file(model_files["pt2"]).one_at_a_time  # exported with a dynamic batch
    with torch.no_grad():
        expected = make_cnn()(torch.from_numpy(calibration))
        np.testing.assert_allclose(static(torch.from_numpy(calibration)).numpy(), expected.numpy(), atol=1e-5)


@pytest.mark.parametrize(
    "source, spec",
    [("onnx", "onnx-int8"), ("onnx", "onnx-fp16"), ("pt2", "onnx-int8"), ("pt2", "int8-static"), ("pt2", "fp16")],
)
def test_counterparts_of_a_fixed_batch_file_are_built_and_run_one_input_at_a_time(
    static_files, calibration, source, spec
):
    reference = load_model_file(static_files[source])
    counterpart = build_counterpart(spec, reference, calibration)  # calibrated on 24 inputs, one at a time
    ref, cand = ModelPair(reference, counterpart).logits(calibration)
    assert ref.shape == cand.shape == (len(calibration), 3)
    assert (ref.argmax(1) == cand.argmax(1)).mean() >= 0.8
    if "int8" in spec:
        assert np.abs(ref - cand).max() > 1e-4  # really quantized


@pytest.mark.slow
def test_compiled_int8_of_a_fixed_batch_pt2(static_files, calibration):
    if int8_module.cxx_compiler() is None:
        pytest.skip("no C++ compiler: torch.compile cannot build the int8 kernels")
    reference = load_model_file(static_files["pt2"])
    compiled = build_counterpart("int8-static:compiled", reference, calibration)
    fake = build_counterpart("int8-static", reference, calibration)
    a, b = ModelPair(fake, compiled).logits(calibration[:5])
    assert np.abs(a - b).max() < 0.05


@pytest.mark.parametrize("source, spec", [("onnx", "onnx-int8"), ("pt2", "int8-static")])
def test_fixed_batch_files_run_in_a_campaign_with_one_line_saying_so(
    tmp_path, static_files, tiny_files, source, spec, read_report
):
    out = tmp_path / "out"
    code = main(["run", "--model", str(static_files[source]), "--precision", spec, "--data", tiny_files["data"],
                 "--seeds", "2", "--budget", "20", "--population", "10", "--out", str(out), "--quiet"])
    assert code == EXIT_OK
    said = [w for w in read_report(out)["summary"]["warnings"] if "fixed batch of one" in w]
    assert len(said) == 1 and "run one input at a time" in said[0]


# --- item 10: padding="same" convolutions under int8-static -------------------------------------


class SamePadded(nn.Module):
    """Keras-style convolutions: odd, even and dilated kernels with ``padding="same"``, and one ``"valid"``."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(3)
        self.convs = nn.ModuleList([
            nn.Conv2d(1, 4, 3, padding="same"),
            nn.Conv2d(4, 4, 4, padding="same"),  # even: one more zero after than before
            nn.Conv2d(4, 4, (2, 3), padding="same", dilation=(1, 2)),
            nn.Conv2d(4, 4, 3, padding="valid"),
        ])
        self.head = nn.Linear(4 * 6 * 6, 5)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.4)

    def forward(self, x):
        for conv in self.convs:
            x = torch.relu(conv(x))
        return self.head(x.flatten(1))


class SamePadded1d(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 3, 4, padding="same")
        self.head = nn.Linear(3 * 16, 2)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).flatten(1))


@pytest.mark.parametrize("model, shape", [(SamePadded, (6, 1, 8, 8)), (SamePadded1d, (6, 2, 16))])
def test_string_padding_is_rewritten_to_explicit_padding_equal_in_float(model, shape):
    torch.manual_seed(0)
    module = model().eval()
    x = torch.rand(shape)
    graph = torch.export.export(module, (x,), dynamic_shapes=({0: torch.export.Dim("batch")},)).module()
    assert any(".padding" in str(n.target) for n in graph.graph.nodes)
    rewritten = int8_module.explicit_conv_padding(graph)
    assert rewritten
    assert not any(str(n.target).endswith(".padding") for n in graph.graph.nodes)
    with torch.no_grad():
        np.testing.assert_allclose(graph(x).numpy(), module(x).numpy(), atol=1e-6, rtol=0)
        np.testing.assert_allclose(graph(x[:1]).numpy(), module(x[:1]).numpy(), atol=1e-6, rtol=0)


def test_int8_static_quantizes_same_padded_convolutions(calibration):
    model = SamePadded().eval()
    counterpart = build_counterpart("int8-static", model, calibration)
    ref, cand = ModelPair(model, counterpart).logits(calibration)
    assert np.abs(ref - cand).max() > 1e-4  # quantized
    assert (ref.argmax(1) == cand.argmax(1)).mean() >= 0.8
    convs = [n for n in counterpart.graph.nodes if "conv" in str(n.target)]
    assert convs and not any(str(n.target).endswith(".padding") for n in convs)


def test_a_quantizer_failure_names_the_operator_not_the_export(monkeypatch, calibration):
    monkeypatch.setattr(int8_module, "explicit_conv_padding", lambda graph: [], raising=False)  # what the quantizer saw before
    with pytest.raises(DiverfuzzError) as info:
        build_counterpart("int8-static", SamePadded().eval(), calibration)
    message = str(info.value)
    assert "aten.conv2d.padding" in message and "\n" not in message
    assert "dynamic batch dimension" not in message  # the model exports fine


def test_an_export_failure_says_it_is_the_export(calibration):
    class DataDependent(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(64, 3)

        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow: torch.export cannot trace it
                return self.fc(x.flatten(1))
            return -self.fc(x.flatten(1))

    with pytest.raises(DiverfuzzError, match="torch.export could not export the model"):
        build_counterpart("int8-static", DataDependent().eval(), calibration)


# --- item 11: data without a channel axis, too many seeds, a .yaml config, one output -----------

MODELS_PY = textwrap.dedent(
    '''
    import torch
    from torch import nn


    def conv():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 10))


    def single():
        torch.manual_seed(0)
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 1))
    '''
)


@pytest.fixture
def user_models(tmp_path):
    path = tmp_path / "user_models.py"
    path.write_text(MODELS_PY)
    return str(path)


def _run(out, model, data, *extra):
    return ["run", "--model", model, "--data", data, "--seeds", "2", "--budget", "20", "--population", "10",
            "--out", str(out), "--quiet", *extra]


@pytest.mark.parametrize("counterpart", [["--precision", "fp16"], ["--candidate", "{models}:conv"]])
def test_data_without_a_channel_axis_names_the_fix(tmp_path, user_models, capsys, counterpart):
    data = tmp_path / "grey.npz"
    np.savez(data, x=np.random.default_rng(0).random((20, 8, 8), dtype=np.float32))
    extra = [arg.format(models=user_models) for arg in counterpart]
    assert main(_run(tmp_path / "out", f"{user_models}:conv", str(data), *extra)) == EXIT_USAGE
    line = _error_line(capsys)
    assert "no channel axis" in line and "x[:, None]" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_a_model_file_given_data_without_a_channel_axis_names_the_fix(model_files, tmp_path, fmt):
    if fmt == "tflite":
        from diverfuzz.models.runtimes.tflite_writer import write_linear_tflite

        rng = np.random.default_rng(0)
        path = write_linear_tflite(tmp_path / "m.tflite", rng.normal(size=(3, 64)).astype(np.float32),
                                   np.zeros(3, np.float32), (8, 8, 1))
    else:
        path = model_files["onnx"]
    with pytest.raises(ModelError, match=r"no channel axis: add one, x\[:, None\]"):
        load_model_file(path)(torch.rand(3, 8, 8))


def test_more_seeds_than_eligible_inputs_is_said(tmp_path, tiny_run_args, read_report):
    out = tmp_path / "out"
    assert main(tiny_run_args(out, seeds=100000, budget=10)) == EXIT_OK
    summary = read_report(out)["summary"]
    said = [w for w in summary["warnings"] if "100000 seeds were asked for" in w]
    assert len(said) == 1 and f"only {summary['seeds']} of the 48 inputs are eligible" in said[0]


def test_enough_eligible_seeds_say_nothing(tmp_path, tiny_run_args, read_report):
    out = tmp_path / "out"
    assert main(tiny_run_args(out, seeds=2, budget=10)) == EXIT_OK
    assert not any("seeds were asked for" in w for w in read_report(out)["summary"]["warnings"])


@pytest.mark.parametrize("name", ["campaign.yaml", "campaign.yml", "campaign.ini", "campaign"])
def test_a_config_file_of_another_type_is_refused(tmp_path, capsys, name):
    cfg = tmp_path / name
    cfg.write_text("seeds: 3\nbudget: 30\n")
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "o")]) == EXIT_USAGE
    line = _error_line(capsys)
    assert "unknown config file type" in line and ".toml or .json" in line
    assert not (tmp_path / "o").exists()


def test_a_single_output_model_is_refused_before_fuzzing(tmp_path, user_models, tiny_files, capsys):
    out = tmp_path / "out"
    assert main(_run(out, f"{user_models}:single", tiny_files["data"], "--precision", "fp16")) == EXIT_USAGE
    line = _error_line(capsys)
    assert "single output" in line and "one logit per class" in line
    assert not out.exists()
