"""Every run recoverable (issue 25): check() folders replay their own models, SIGTERM and kills are
told apart from finished runs, output folders move, and ``--resume`` needs nothing repeated."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from diverfuzz.entry.check import check
from diverfuzz.entry.cli import (
    EXIT_NOT_REPRODUCED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    main,
)
from diverfuzz.fuzzer.campaign.driver import run_campaign
from diverfuzz.fuzzer.campaign.replay import replay

REPO = Path(__file__).resolve().parents[2]


def _linear(step: float | None = None) -> nn.Module:
    """The tiny pair's classifier (tests/conftest.py), its weights rounded to ``step`` when given."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    if step is not None:
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.round(p / step) * step)
    return model.eval()


def _save_pt(model: nn.Module, path: Path) -> str:
    torch.jit.script(model).save(str(path))
    return str(path)


def _save_pt2(model: nn.Module, path: Path) -> str:
    batch = torch.export.Dim("batch")
    program = torch.export.export(model, (torch.zeros(2, 1, 8, 8),), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(path))
    return str(path)


def _seeds(n: int = 12) -> np.ndarray:
    return np.random.default_rng(0).uniform(0.0, 1.0, size=(n, 1, 8, 8)).astype(np.float32)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err and "Traceback" not in err, err
    assert err.startswith("diverfuzz: error: "), err
    return err


# -- 1. a check() folder replays the models it was made with, or refuses in one line ----------------


def test_check_folder_with_model_files_replays_with_those_files(tmp_path, capsys):
    ref = _save_pt(_linear(), tmp_path / "ref.pt")
    cand = _save_pt(_linear(1 / 16), tmp_path / "cand.pt")
    result = check(ref, cand, _seeds(), budget=80, validity="linf<=0.3", report_dir=tmp_path / "r")
    n = len(result.divergences)
    assert n >= 1, "the rounded pair must diverge for this test to mean anything"
    assert result.report["config"]["model"] == ref and result.report["config"]["candidate"] == cand
    capsys.readouterr()
    assert main(["replay", str(tmp_path / "r")]) == EXIT_OK, capsys.readouterr()
    assert f"{n}/{n} divergences reproduce" in capsys.readouterr().out
    # Supervisors are scored on the same pair (the positives are its divergences).
    assert main(["evaluate-supervisors", str(tmp_path / "r")]) == EXIT_OK, capsys.readouterr().err
    assert json.loads((tmp_path / "r" / "supervisors.json").read_text())


def test_check_folder_with_a_spec_counterpart_replays_it(tmp_path, capsys):
    ref = _save_pt2(_linear(), tmp_path / "ref.pt2")
    calibration = np.random.default_rng(5).uniform(0.0, 1.0, size=(20, 1, 8, 8)).astype(np.float32)
    result = check(ref, "float:e4m3", _seeds(), budget=80, validity="linf<=0.3", calibration=calibration,
                   report_dir=tmp_path / "r")
    n = len(result.divergences)
    assert n >= 1
    capsys.readouterr()
    assert main(["replay", str(tmp_path / "r")]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"{n}/{n} divergences reproduce" in out and "changed" not in out


def test_check_folder_with_in_memory_models_refuses_replay_and_supervisors_in_one_line(tmp_path, capsys):
    # An in-memory reference with a spec counterpart: the stored config used to say
    # `model: null`, so replay rebuilt the bundled digits CNN and judged the wrong pair.
    result = check(_linear(), "float:e4m3", _seeds(), budget=80, validity="linf<=0.3", report_dir=tmp_path / "r")
    assert result.divergences
    assert result.report["config"]["model"] == "Sequential given to check()"
    for command in ("replay", "evaluate-supervisors"):
        capsys.readouterr()
        assert main([command, str(tmp_path / "r")]) == EXIT_USAGE, command
        line = _one_line_error(capsys)
        assert "Sequential given to check()" in line and "in-memory" in line
        assert "replay_stored(" in line and "model files" in line
    # The report needs the seeds only, which check() stored with it.
    assert main(["report", str(tmp_path / "r"), "--format", "html"]) == EXIT_OK


def test_check_folder_with_an_in_memory_candidate_names_it(tmp_path, capsys):
    ref = _save_pt(_linear(), tmp_path / "ref.pt")
    check(ref, _linear(1 / 16), _seeds(), budget=80, validity="linf<=0.3", report_dir=tmp_path / "r")
    capsys.readouterr()
    assert main(["replay", str(tmp_path / "r")]) == EXIT_USAGE
    line = _one_line_error(capsys)
    assert "the candidate (Sequential given to check())" in line and "expected FILE.py:FUNC" not in line
    # A folder written before the origin was stored is recognised by its config.
    with sqlite3.connect(tmp_path / "r" / "corpus.sqlite") as db:
        db.execute("DELETE FROM meta WHERE key = 'origin'")
    db.close()
    assert main(["replay", str(tmp_path / "r")]) == EXIT_USAGE
    assert "in-memory" in _one_line_error(capsys)


# -- 5. SIGTERM is Ctrl-C; a killed run never reads as finished ---------------------------------------


def _seeds_done(out: Path) -> int:
    path = out / "corpus.sqlite"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0) as db:
            return db.execute("SELECT COUNT(*) FROM seeds").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_sigterm_writes_the_reports_and_exits_143(tmp_path, tiny_run_args, read_report):
    out = tmp_path / "out"
    # Many seeds, each searched to its whole budget: the run is far from done when SIGTERM comes.
    args = tiny_run_args(out, "--mode", "many", seeds=40, budget=1500)
    proc = subprocess.Popen([sys.executable, "-m", "diverfuzz", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while _seeds_done(out) < 1:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no seed finished within 120 s"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == EXIT_TERMINATED, stderr
    assert "SIGTERM" in stderr and "--resume" in stderr
    report = read_report(out)
    assert report["summary"]["interrupted"] is True
    assert 1 <= report["summary"]["seeds"] < 40
    assert report["summary"]["wall_seconds"] > 0
    assert (out / "report.html").is_file()


class _Killed(BaseException):
    """Stands for SIGKILL: nothing in diverfuzz catches it, so no report is written."""


def test_a_killed_run_reads_as_unfinished(tmp_path, make_tiny_config, capsys):
    config = make_tiny_config(6, 0)()
    out = tmp_path / "out"

    def kill_after_two(done, total, found, queries):
        if done >= 2:
            raise _Killed

    with pytest.raises(_Killed):
        run_campaign(config, out, progress=kill_after_two)
    assert not (out / "report.json").exists()
    capsys.readouterr()
    assert main(["report", str(out), "--format", "json"]) == EXIT_OK
    summary = json.loads((out / "report.json").read_text())["summary"]
    assert summary["interrupted"] is True and summary["seeds"] == 2
    assert summary["wall_seconds"] > 0
    assert "has not finished" in capsys.readouterr().err


# -- 8. output folders move with their files; a changed model is named -------------------------------


def test_output_folder_replays_from_the_parent_folder_and_after_a_move(tmp_path, tiny_files, monkeypatch, capsys):
    project = tmp_path / "byom"
    project.mkdir()
    shutil.copy(tiny_files["models"], project / "models.py")
    shutil.copy(tiny_files["data"], project / "test.npz")
    monkeypatch.chdir(project)
    argv = ["run", "--model", "models.py:reference", "--candidate", "models.py:candidate", "--data", "test.npz",
            "--seeds", "4", "--budget", "80", "--out", "out", "--quiet"]
    assert main(argv) == EXIT_OK
    n = len(json.loads((project / "out" / "report.json").read_text())["divergences"])
    assert n >= 1
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["replay", "byom/out"]) == EXIT_OK, capsys.readouterr().err
    assert f"{n}/{n} divergences reproduce" in capsys.readouterr().out

    shutil.move(project, tmp_path / "moved")
    assert main(["replay", "moved/out"]) == EXIT_OK
    captured = capsys.readouterr()
    assert f"{n}/{n} divergences reproduce" in captured.out
    (note,) = [line for line in captured.err.splitlines() if line.startswith("paths:")]
    assert "relative to 'moved/out'" in note and "--data=" in note and "--model=" in note
    assert main(["report", "moved/out", "--format", "html"]) == EXIT_OK


def test_a_file_at_neither_stored_place_is_named(tmp_path, tiny_files, capsys):
    data = tmp_path / "test.npz"
    shutil.copy(tiny_files["data"], data)
    out = tmp_path / "out"
    argv = ["run", "--model", f"{tiny_files['models']}:reference", "--candidate", f"{tiny_files['models']}:candidate",
            "--data", str(data), "--seeds", "3", "--budget", "40", "--out", str(out), "--quiet"]
    assert main(argv) == EXIT_OK
    data.unlink()
    capsys.readouterr()
    assert main(["replay", str(out)]) == EXIT_USAGE
    line = _one_line_error(capsys)
    assert "--data" in line and str(data) in line and "relative to" in line


def test_a_changed_model_file_is_named_on_replay(tmp_path, capsys):
    ref = _save_pt(_linear(), tmp_path / "ref.pt")
    cand = _save_pt(_linear(1 / 16), tmp_path / "cand.pt")
    data = tmp_path / "x.npz"
    np.savez(data, x=_seeds(24))
    out = tmp_path / "out"
    argv = ["run", "--model", ref, "--candidate", cand, "--data", str(data), "--seeds", "6", "--budget", "80",
            "--validity", "linf<=0.3", "--out", str(out), "--quiet"]
    assert main(argv) == EXIT_OK
    assert json.loads((out / "report.json").read_text())["divergences"]
    _save_pt(_linear(), Path(cand))  # the candidate file now holds the reference: nothing diverges
    capsys.readouterr()
    assert main(["replay", str(out)]) == EXIT_NOT_REPRODUCED
    stdout = capsys.readouterr().out
    (changed,) = [line for line in stdout.splitlines() if line.startswith("changed:")]
    assert "the candidate model" in changed and cand in changed and "fingerprint" in changed
    assert stdout.strip().splitlines()[-1].endswith("the models changed since the campaign ran (see 'changed:' above)")


def test_replay_in_python_says_which_model_changed(tmp_path, make_tiny_config, tiny_files):
    models = tmp_path / "models.py"
    shutil.copy(tiny_files["models"], models)
    config = make_tiny_config(4, 0)(model=f"{models}:reference", candidate=f"{models}:candidate")
    run_campaign(config, tmp_path / "out")
    assert replay(tmp_path / "out").changed == []
    models.write_text(models.read_text().replace("p * 16) / 16", "p * 8) / 8"))
    changed = replay(tmp_path / "out").changed
    assert len(changed) == 1 and changed[0].startswith(f"the candidate model ({models}:candidate)")


# -- 9. --resume continues with the stored config, and refuses a folder without a campaign -------------


def test_resume_alone_continues_with_the_stored_config(tmp_path, tiny_run_args, read_report, divergence_key, capsys):
    out = tmp_path / "out"
    assert main(tiny_run_args(out, "--rng-seed", "3", seeds=3)) == EXIT_OK
    first = read_report(out)
    assert main(["run", "--out", str(out), "--resume", "--seeds", "5", "--quiet"]) == EXIT_OK, capsys.readouterr().err
    second = read_report(out)
    assert second["summary"]["seeds"] == 5 and second["config"]["rng_seed"] == 3
    assert second["config"]["model"] == first["config"]["model"]
    ids = {d["id"]: divergence_key(d) for d in second["divergences"]}
    for d in first["divergences"]:
        assert ids[d["id"]] == divergence_key(d)
    assert main(["run", "--out", str(out), "--resume", "--quiet"]) == EXIT_OK
    assert read_report(out)["summary"]["seeds"] == 5
    # A flag that differs from the stored one is still refused.
    capsys.readouterr()
    assert main(["run", "--out", str(out), "--resume", "--budget", "50", "--quiet"]) == EXIT_USAGE
    assert "'budget': (80, 50)" in _one_line_error(capsys)


def test_resume_on_a_folder_without_a_campaign_is_an_error(tmp_path, tiny_run_args, capsys):
    typo = tmp_path / "tpyo"
    assert main(tiny_run_args(typo, "--resume")) == EXIT_USAGE
    line = _one_line_error(capsys)
    assert "--resume" in line and "holds no campaign" in line and str(typo) in line
    assert not typo.exists()
    assert main(["run", "--out", str(typo), "--resume", "--quiet"]) == EXIT_USAGE
    assert "holds no campaign" in _one_line_error(capsys)


def test_resume_with_relative_flags_from_the_same_folder_is_accepted(tmp_path, tiny_files, monkeypatch, read_report):
    monkeypatch.chdir(tmp_path)
    shutil.copy(tiny_files["data"], tmp_path / "test.npz")
    argv = ["run", "--model", f"{tiny_files['models']}:reference", "--candidate", f"{tiny_files['models']}:candidate",
            "--data", "test.npz", "--budget", "40", "--out", "out", "--quiet"]
    assert main([*argv, "--seeds", "2"]) == EXIT_OK
    assert read_report("out")["config"]["data"] == os.path.join(str(tmp_path), "test.npz")
    assert main([*argv, "--seeds", "3", "--resume"]) == EXIT_OK
    assert read_report("out")["summary"]["seeds"] == 3
