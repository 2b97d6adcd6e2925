"""Everyday use from the command line and from Python (issue 25, items 12-17).

Library noise stays off the screen, the command line wins in the pytest
plugin, tables keep their width in logs, divergences export to files,
``--calibration`` takes held-out inputs, and ``--help`` lists what the
parsers accept.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.entry.cli import EXIT_OK, EXIT_USAGE, main

#: A conv net whose max pooling follows a sigmoid: torchao's x86 quantizer
#: leaves the pooling unquantized and warns about it (about 1,000 characters).
POOLED_PY = textwrap.dedent(
    '''
    import torch
    from torch import nn


    def pooled():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return nn.Sequential(
                nn.Conv2d(1, 4, 3, padding=1), nn.Sigmoid(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10)
            ).eval()
    '''
)


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("diverfuzz: error: ")
    return lines[0]


# -- item 12: library warnings go to the log file, not the screen --------------------


def _cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m diverfuzz ...`` in a child process: what a user's terminal shows."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.pop("PYTHONWARNINGS", None)
    return subprocess.run(
        [sys.executable, "-m", "diverfuzz", *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
        check=False,
    )


@pytest.mark.slow
def test_torchao_warnings_go_to_the_log_file_not_the_screen(tmp_path, tiny_files):
    (tmp_path / "pooled.py").write_text(POOLED_PY)
    out = tmp_path / "out"
    run = _cli(
        "run", "--model", "pooled.py:pooled", "--precision", "int8-static", "--data", tiny_files["data"],
        "--seeds", "2", "--budget", "10", "--out", str(out), "--quiet", cwd=tmp_path,
    )
    assert run.returncode == EXIT_OK, run.stderr
    assert "maxpool2d" not in run.stderr and "Warning" not in run.stderr, run.stderr
    log = (out / "diverfuzz.log").read_text()
    assert "The input of maxpool2d is not quantized" in log

    replay = _cli("replay", str(out), cwd=tmp_path)
    assert "maxpool2d" not in replay.stderr + replay.stdout, replay.stderr
    verbose = _cli("replay", str(out), "--verbose", cwd=tmp_path)
    assert "The input of maxpool2d is not quantized" in verbose.stderr


# -- item 13: the command line wins in the pytest plugin; Python errors name arguments --


PLUGIN_TEST = textwrap.dedent(
    '''
    import numpy as np
    import torch


    def reference(x):
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([0.5 - m, m - 0.5], dim=1)


    SEEDS = np.clip(0.35 + np.random.default_rng(0).normal(0, 0.03, size=(3, 1, 8, 8)), 0, 1).astype(np.float32)


    def test_budget_from_code(diverfuzz):
        result = diverfuzz.check(reference, reference, SEEDS, budget=200, rng_seed=5, validity="linf<=0.5")
        config = result.report["config"]
        print("BUDGET", config["budget"], "RNG", config["rng_seed"])
        assert (config["budget"], config["rng_seed"]) == EXPECTED
    '''
)


def test_command_line_budget_overrides_the_check_argument(pytester: pytest.Pytester):
    pytester.makepyfile(test_cli_wins=PLUGIN_TEST.replace("EXPECTED", "(10, 5)"))
    result = pytester.runpytest_subprocess("--diverfuzz-budget", "10", "-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=1)
    # Without the option the test's own argument applies.
    pytester.makepyfile(test_cli_wins=PLUGIN_TEST.replace("EXPECTED", "(200, 5)"))
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    # A bad value from the command line is named as it was given there.
    bad = pytester.runpytest_subprocess("--diverfuzz-budget", "0", "-p", "no:cacheprovider")
    bad.assert_outcomes(failed=1)
    bad.stdout.fnmatch_lines(["*--diverfuzz-budget=0 must be an integer >= 1*"])


def test_the_plugin_documents_its_precedence():
    from diverfuzz.entry import pytest_plugin

    assert "command-line" in pytest_plugin.__doc__ and "marker" in pytest_plugin.__doc__
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    plugin = readme[readme.index("## In model CI: the pytest plugin"):]
    plugin = plugin[: plugin.index("\n## ", 5)]
    assert "--diverfuzz-budget 10" in plugin and "overrides" in plugin


@pytest.mark.parametrize(
    ("kwargs", "named", "flag"),
    [
        ({"budget": 0}, "budget=0", "--budget"),
        ({"rng_seed": -1}, "rng_seed=-1", "--rng-seed"),
        ({"min_margin": 1.5}, "min_margin=1.5", "--min-margin"),
        ({"strategy_params": "bisect"}, "strategy_params='bisect'", "--strategy-params"),
        ({"validity": "ssim>>1"}, "validity='ssim>>1'", "--validity"),
        ({"candidate": "int9-static"}, "candidate='int9-static'", "--precision"),
    ],
)
def test_check_errors_name_python_arguments(kwargs, named, flag, tmp_path):
    import torch

    from diverfuzz.entry.check import check

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3)).eval()
    seeds = np.full((2, 1, 8, 8), 0.5, dtype=np.float32)
    args = {"candidate": "fp16", **kwargs}
    candidate = args.pop("candidate")
    with pytest.raises(DiverfuzzError) as caught:
        check(model, candidate, seeds, report_dir=tmp_path / "r", **args)
    message = str(caught.value)
    assert named in message and flag not in message, message


# -- item 14: tables keep their width without a terminal -------------------------------


def test_tables_are_not_squeezed_without_a_terminal(tmp_path, tiny_run_args, tiny_files, capsys, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    out = tmp_path / "out"
    argv = tiny_run_args(out, seeds=2, budget=10)
    argv[argv.index("--candidate") + 1] = f"{tiny_files['models']}:reference"  # identical pair: a long warning row
    assert main(argv) == EXIT_OK
    stdout = capsys.readouterr().out
    assert "…" not in stdout
    warning = "the candidate may be the reference itself (was the precision spec applied?)"
    assert any(warning in line for line in stdout.splitlines()), stdout


def test_supervisor_table_keeps_its_column_names_in_a_log(capsys, monkeypatch):
    from diverfuzz.entry.tables import console, supervisors_table

    monkeypatch.delenv("COLUMNS", raising=False)
    at = {k: {"tpr": 0.5, "matched_rejection": 0.25} for k in ("S1", "S5", "S10")}
    scores = [
        SimpleNamespace(monitored=m, name=n, auroc_matched=0.7, auroc_nominal=0.8, average_precision=0.6, at=at)
        for m in ("reference", "candidate")
        for n in ("max softmax", "deep ensemble")
    ]
    console().print(supervisors_table(scores))
    stdout = capsys.readouterr().out
    assert "…" not in stdout
    header = next(line for line in stdout.splitlines() if "monitored" in line)
    for column in ("monitored", "supervisor", "AUROC matched", "AUROC nominal", "matched rejected S5"):
        assert column in header, stdout
    assert any("deep ensemble" in line for line in stdout.splitlines())


# -- item 15: diverfuzz export --------------------------------------------------------


def test_export_writes_pngs_and_one_npz(tmp_path, tiny_run_args, tiny_files, read_report, capsys):
    out = tmp_path / "out"
    assert main(tiny_run_args(out, seeds=4, budget=80)) == EXIT_OK
    divergences = read_report(out)["divergences"]
    assert divergences
    capsys.readouterr()
    assert main(["export", str(out)]) == EXIT_OK
    printed = capsys.readouterr().out
    folder = out / "export"
    pngs = sorted(p.name for p in folder.glob("*.png"))
    assert len(pngs) == 3 * len(divergences)
    for d in divergences:
        for part in ("seed", "mutant", "difference"):
            name = f"divergence-{d['id']:04d}-seed{d['seed_index']}-{part}.png"
            assert name in pngs
            with Image.open(folder / name) as im:
                assert im.size == (8, 8)
    with np.load(folder / "divergences.npz") as npz:
        assert npz["seed"].shape == npz["mutant"].shape == (len(divergences), 1, 8, 8)
        assert npz["difference"].shape == (len(divergences), 1, 8, 8)
        assert list(npz["id"]) == [d["id"] for d in divergences]
        assert list(npz["reference_label"]) == [d["reference_label"] for d in divergences]
        assert list(npz["candidate_label"]) == [d["candidate_label"] for d in divergences]
        chains = [json.loads(c) for c in npz["chain"]]
        assert chains == [d.get("minimal_chain") or d["chain"] for d in divergences]
        assert [json.loads(c) for c in npz["found_chain"]] == [d["chain"] for d in divergences]
        seed = np.load(tiny_files["data"])["x"][divergences[0]["seed_index"]]
        assert np.array_equal(npz["seed"][0], seed)
        assert np.array_equal(npz["difference"], npz["mutant"] - npz["seed"])
    assert str(folder / "divergences.npz") in printed
    assert f"{len(divergences)} divergences" in printed

    # Only the arrays, into another folder.
    assert main(["export", str(out), "--format", "npz", "--out", str(tmp_path / "npz-only")]) == EXIT_OK
    assert sorted(p.name for p in (tmp_path / "npz-only").iterdir()) == ["divergences.npz"]


def test_export_refuses_bad_formats_and_folders_in_one_line(tmp_path, capsys):
    assert main(["export", str(tmp_path), "--format", "gif"]) == EXIT_USAGE
    assert "--format='gif'" in one_line_error(capsys)
    assert main(["export", str(tmp_path)]) == EXIT_USAGE
    assert "holds no corpus.sqlite" in one_line_error(capsys)


# -- item 16: --calibration ----------------------------------------------------------------


def test_calibration_file_calibrates_the_counterpart_and_the_report_says_so(
    tmp_path, tiny_files, read_report, monkeypatch, capsys
):
    from diverfuzz.fuzzer.campaign import workload

    seen = []
    real = workload.build_counterpart

    def spy(spec, reference, calibration, **kwargs):
        seen.append(np.array(calibration))
        return real(spec, reference, calibration, **kwargs)

    monkeypatch.setattr(workload, "build_counterpart", spy)
    held_out = np.random.default_rng(7).uniform(0.0, 1.0, size=(20, 1, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "cal.npz", x=held_out)
    base = ["run", "--model", f"{tiny_files['models']}:reference", "--precision", "int8", "--data", tiny_files["data"],
            "--seeds", "2", "--budget", "10", "--quiet"]

    assert main([*base, "--calibration", str(tmp_path / "cal.npz"), "--out", str(tmp_path / "a")]) == EXIT_OK
    assert np.array_equal(seen[-1], held_out)
    report = read_report(tmp_path / "a")
    assert report["config"]["calibration"] == str(tmp_path / "cal.npz")
    assert report["workload"]["calibration"] == f"--calibration {tmp_path / 'cal.npz'}, 20 inputs"
    assert "cal.npz" in (tmp_path / "a" / "report.html").read_text()

    assert main([*base, "--out", str(tmp_path / "b")]) == EXIT_OK
    assert np.array_equal(seen[-1], np.load(tiny_files["data"])["x"])  # 48 inputs: all of --data
    assert "the seeds themselves" in read_report(tmp_path / "b")["workload"]["calibration"]

    np.savez(tmp_path / "wrong.npz", x=held_out[:, :, :4, :4])
    capsys.readouterr()
    assert main([*base, "--calibration", str(tmp_path / "wrong.npz"), "--out", str(tmp_path / "c")]) == EXIT_USAGE
    assert "--calibration=" in one_line_error(capsys)
    assert main([*base, "--calibration", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "d")]) == EXIT_USAGE
    line = one_line_error(capsys)
    assert "--calibration=" in line and "--data" not in line
    candidate = ["--candidate", f"{tiny_files['models']}:candidate", "--calibration", str(tmp_path / "cal.npz")]
    argv = [a for a in base if a not in ("--precision", "int8")] + candidate + ["--out", str(tmp_path / "e")]
    assert main(argv) == EXIT_USAGE
    assert "--calibration=" in one_line_error(capsys)


def test_check_reports_which_inputs_calibrated_the_counterpart(tmp_path):
    import torch

    from diverfuzz.entry.check import check

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3)).eval()
    seeds = np.random.default_rng(0).uniform(0, 1, size=(3, 1, 8, 8)).astype(np.float32)
    own = check(model, "int8", seeds, budget=5, validity="linf<=0.5", report_dir=tmp_path / "a")
    assert "the 3 seeds themselves" in own.report["workload"]["calibration"]
    held = check(model, "int8", seeds, budget=5, validity="linf<=0.5", report_dir=tmp_path / "b", calibration=seeds[:2])
    assert held.report["workload"]["calibration"] == "2 inputs given to check(calibration=)"


# -- item 17: --help lists what the parsers accept ------------------------------------


def _help(capsys, monkeypatch, *argv: str) -> str:
    monkeypatch.setenv("COLUMNS", "2000")  # no wrapping: argparse breaks lines at hyphens
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def _option_help(text: str, option: str) -> str:
    """The help of ``option``: its line and the continuation lines argparse indents under it."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(option))
    block = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith(" " * 8):
            break
        block.append(line)
    return " ".join(" ".join(block).split())


def test_run_help_lists_every_precision_defense_and_metric(capsys, monkeypatch):
    from diverfuzz.defenses import DEFENSES
    from diverfuzz.models.precision import PRECISIONS
    from diverfuzz.models.precision.spec import (
        FORMS,
        NAMED_OPTIONS,
        ONNX,
        parse_precision,
    )
    from diverfuzz.relations.validity import METRICS, OPS

    text = _help(capsys, monkeypatch, "run")
    precision = _option_help(text, "--precision")
    for name in (*PRECISIONS, *ONNX, *(f"{k}:{v}" for k, v in NAMED_OPTIONS.items())):
        assert name in precision, name
    for form in FORMS:
        assert form in precision
        if "[" not in form and "N" not in form and "|" not in form:
            parse_precision(form)  # every concrete spec the help names parses
    from diverfuzz.fuzzer.campaign.config import DEFENSE_NAMES

    assert DEFENSE_NAMES == DEFENSES  # the config's table is the defenses' own
    defense = _option_help(text, "--defense")
    for name in DEFENSES:
        assert name in defense.split("}", 1)[1], name  # in the description, not only in {choices}
    validity = _option_help(text, "--validity")
    for name in (*METRICS, *OPS, "natural"):
        assert name in validity, name


@pytest.mark.parametrize("command", ["replay", "report", "evaluate-supervisors", "export"])
def test_folder_commands_describe_dir(command, capsys, monkeypatch):
    text = _help(capsys, monkeypatch, command)
    positionals = text[text.index("positional arguments:"):]
    line = next(line for line in positionals.splitlines()[1:] if line.strip().startswith("DIR"))
    assert "--out" in line and "campaign" in line, text


def test_help_keeps_specs_whole_on_a_narrow_screen(capsys, monkeypatch):
    with pytest.raises(SystemExit):
        monkeypatch.setenv("COLUMNS", "80")
        main(["run", "--help"])
    text = capsys.readouterr().out
    for spec in ("int8-static:compiled", "onnx-int8:per-channel"):
        assert spec in text, text  # not broken at its hyphen
