"""End-to-end tests of the ``diverfuzz`` command line (``diverfuzz.entry.cli.main``, in process)."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from diverfuzz.entry.cli import (
    EXIT_INTERRUPTED,
    EXIT_NOT_REPRODUCED,
    EXIT_OK,
    EXIT_USAGE,
    main,
)

REPO = Path(__file__).resolve().parents[2]

SUMMARY_KEYS = {
    "seeds",
    "seeds_disagreeing_initially",
    "seeds_with_divergence",
    "success_rate",
    "queries",
    "median_queries_to_first_divergence",
    "wall_seconds",
}


def check_divergences(report: dict, budget: int) -> None:
    for d in report["divergences"]:
        assert isinstance(d["seed_index"], int)
        assert isinstance(d["chain"], list) and d["chain"]
        for step in d["chain"]:
            assert set(step) == {"relation", "params"}
            assert isinstance(step["relation"], str) and isinstance(step["params"], dict)
        assert d["reference_label"] != d["candidate_label"]
        assert 1 <= d["queries"] <= budget


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("diverfuzz: error: ")
    return lines[0]


# -- the default workload -----------------------------------------------------


@pytest.mark.slow
def test_run_default_pair_writes_reports_that_replay(tmp_path, read_report):
    out = tmp_path / "out"
    seeds, budget = 5, 200  # budget 200 finds >= 1 divergence with --rng-seed 0 (60 finds none)
    assert main(["run", "--seeds", str(seeds), "--budget", str(budget), "--out", str(out), "--quiet"]) == EXIT_OK

    report = read_report(out)
    assert report["schema_version"] == 1
    assert report["config"]["seeds"] == seeds and report["config"]["budget"] == budget
    assert report["config"]["model"] is None and report["config"]["precision"] == "int8-static"
    summary = report["summary"]
    assert SUMMARY_KEYS <= set(summary)
    assert summary["seeds"] == seeds
    assert summary["queries"] <= seeds * budget
    assert summary["interrupted"] is False
    assert report["divergences"], "expected at least one divergence on the default pair"
    assert summary["seeds_with_divergence"] == len({d["seed_index"] for d in report["divergences"]})
    assert summary["success_rate"] == pytest.approx(summary["seeds_with_divergence"] / seeds)
    check_divergences(report, budget)

    html = (out / "report.html").read_text()
    assert "diverfuzz" in html

    assert main(["replay", str(out)]) == EXIT_OK


# -- the tiny custom pair -----------------------------------------------------


def test_run_tiny_pair_finds_divergences(tmp_path, tiny_run_args, read_report):
    out = tmp_path / "out"
    assert main(tiny_run_args(out, seeds=6, budget=80)) == EXIT_OK
    report = read_report(out)
    assert report["summary"]["seeds"] == 6
    assert report["summary"]["queries"] <= 6 * 80
    assert report["divergences"]
    check_divergences(report, 80)
    assert report["config"]["candidate"].endswith(":candidate")


def test_same_rng_seed_reproduces_divergences(tmp_path, tiny_run_args, read_report, divergence_key):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(tiny_run_args(a, "--rng-seed", "7", seeds=6)) == EXIT_OK
    assert main(tiny_run_args(b, "--rng-seed", "7", seeds=6)) == EXIT_OK
    first = [divergence_key(d) for d in read_report(a)["divergences"]]
    second = [divergence_key(d) for d in read_report(b)["divergences"]]
    assert first and first == second
    assert read_report(a)["summary"]["queries"] == read_report(b)["summary"]["queries"]


def test_other_rng_seed_changes_the_search(tmp_path, tiny_run_args, read_report, divergence_key):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(tiny_run_args(a, "--rng-seed", "1", seeds=6)) == EXIT_OK
    assert main(tiny_run_args(b, "--rng-seed", "2", seeds=6)) == EXIT_OK
    first = [divergence_key(d) for d in read_report(a)["divergences"]]
    second = [divergence_key(d) for d in read_report(b)["divergences"]]
    assert first != second


def test_random_strategy(tmp_path, tiny_run_args, read_report):
    out = tmp_path / "out"
    assert main(tiny_run_args(out, "--strategy", "random", seeds=6, budget=60)) == EXIT_OK
    report = read_report(out)
    assert report["config"]["strategy"] == "random"
    assert report["summary"]["seeds"] == 6
    assert report["divergences"]
    check_divergences(report, 60)
    assert main(["replay", str(out)]) == EXIT_OK


def test_examples_folder_pair_and_data(tmp_path, monkeypatch, read_report):
    """The factories and data writer in examples/ work as the docs say."""
    monkeypatch.syspath_prepend(str(REPO / "examples"))
    import make_npz

    data = make_npz.write_digits_test(tmp_path / "digits_test.npz")
    with np.load(data) as npz:
        assert npz["x"].shape == (540, 1, 8, 8) and npz["x"].dtype == np.float32
        assert npz["y"].shape == (540,)
    pair = REPO / "examples" / "custom_pair.py"
    out = tmp_path / "out"
    argv = [
        "run",
        "--model", f"{pair}:reference",
        "--candidate", f"{pair}:candidate",
        "--data", str(data),
        "--seeds", "3",
        "--budget", "100",
        "--out", str(out),
        "--quiet",
    ]
    assert main(argv) == EXIT_OK
    report = read_report(out)
    assert report["summary"]["seeds"] == 3
    fp = report["fingerprints"]
    assert fp["reference"] != fp["candidate"]  # the candidate really is pruned
    check_divergences(report, 100)


# -- bad input: exit 2 with one clear line on stderr -----------------------------


@pytest.fixture
def bad_npz(tmp_path):
    def write(x, name="bad.npz"):
        path = tmp_path / name
        np.savez(path, x=x)
        return str(path)

    return write


def test_missing_data_file(tmp_path, tiny_run_args, capsys):
    args = tiny_run_args(tmp_path / "out")
    args[args.index("--data") + 1] = str(tmp_path / "nope.npz")
    assert main(args) == EXIT_USAGE
    line = one_line_error(capsys)
    assert "--data=" in line and "nope.npz" in line and "does not exist" in line


@pytest.mark.parametrize(
    "x, expected",
    [
        (np.zeros((4, 64), np.float32), "expected (N, C, H, W)"),  # flattened images
        (np.zeros((4, 1, 8, 8, 1), np.float32), "expected (N, C, H, W)"),
        (np.where(np.eye(8)[None, None] > 0, np.nan, 0.5).repeat(3, 0).astype(np.float32), "NaN"),
        (np.full((3, 1, 8, 8), 255.0, np.float32), "expected [0, 1]"),
        (np.full((3, 1, 8, 8), -0.5, np.float32), "expected [0, 1]"),
    ],
    ids=["2d", "5d", "nan", "above-1", "below-0"],
)
def test_bad_data_arrays(tmp_path, tiny_run_args, bad_npz, capsys, x, expected):
    args = tiny_run_args(tmp_path / "out")
    args[args.index("--data") + 1] = bad_npz(x)
    assert main(args) == EXIT_USAGE
    line = one_line_error(capsys)
    assert "--data=" in line and expected in line


def test_missing_model_file(tmp_path, tiny_run_args, capsys):
    args = tiny_run_args(tmp_path / "out")
    args[args.index("--model") + 1] = f"{tmp_path / 'missing.py'}:reference"
    assert main(args) == EXIT_USAGE
    line = one_line_error(capsys)
    assert "--model=" in line and "does not exist" in line


def test_factory_that_raises(tmp_path, tiny_run_args, tiny_files, capsys):
    args = tiny_run_args(tmp_path / "out")
    args[args.index("--model") + 1] = f"{tiny_files['models']}:broken"
    assert main(args) == EXIT_USAGE
    line = one_line_error(capsys)
    assert "--model=" in line and "broken() raised RuntimeError" in line
    assert "weights file checkpoint.pt not found" in line


def test_factory_missing(tmp_path, tiny_run_args, tiny_files, capsys):
    args = tiny_run_args(tmp_path / "out")
    args[args.index("--candidate") + 1] = f"{tiny_files['models']}:no_such_factory"
    assert main(args) == EXIT_USAGE
    line = one_line_error(capsys)
    assert "--candidate=" in line and "no function 'no_such_factory'" in line


def test_model_spec_without_colon(tmp_path, tiny_run_args, tiny_files, capsys):
    args = tiny_run_args(tmp_path / "out")
    args[args.index("--model") + 1] = tiny_files["models"]
    assert main(args) == EXIT_USAGE
    assert "expected FILE.py:FUNC" in one_line_error(capsys)


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--precision", "int3"], "--precision='int3'"),
        (["--budget", "0"], "--budget=0 must be an integer >= 1"),
        (["--seeds", "0"], "--seeds=0 must be an integer >= 1"),
        (["--validity", "ssim>>3"], "--validity='ssim>>3'"),
    ],
    ids=["precision", "budget", "seeds", "validity"],
)
def test_bad_settings(tmp_path, capsys, argv, expected):
    out = tmp_path / "out"
    assert main(["run", *argv, "--out", str(out), "--quiet"]) == EXIT_USAGE
    assert expected in one_line_error(capsys)
    assert not out.exists()  # rejected before anything is written


def test_candidate_and_precision_exclude_each_other(tmp_path, tiny_run_args, capsys):
    args = tiny_run_args(tmp_path / "out", "--precision", "fp16")
    assert main(args) == EXIT_USAGE
    assert "--candidate and --precision exclude each other" in one_line_error(capsys)


def test_model_whose_forward_raises(tmp_path, tiny_run_args, tiny_files, capsys):
    args = tiny_run_args(tmp_path / "out")
    args[args.index("--candidate") + 1] = f"{tiny_files['models']}:exploding"
    assert main(args) == EXIT_USAGE
    line = one_line_error(capsys)
    assert f"the candidate ({tiny_files['models']}:exploding) model raised RuntimeError" in line
    assert "mat1 and mat2 shapes cannot be multiplied" in line


def test_out_already_holds_a_campaign(tmp_path, tiny_run_args, capsys):
    out = tmp_path / "out"
    assert main(tiny_run_args(out)) == EXIT_OK
    before = (out / "report.json").read_text()
    capsys.readouterr()
    assert main(tiny_run_args(out)) == EXIT_USAGE
    line = one_line_error(capsys)
    assert "already holds a campaign" in line and "--resume" in line
    assert (out / "report.json").read_text() == before


def test_failed_run_does_not_block_the_corrected_rerun(tmp_path, tiny_run_args, capsys):
    out = tmp_path / "out"
    args = tiny_run_args(out)
    good_model = args[args.index("--model") + 1]
    args[args.index("--model") + 1] = f"{tmp_path / 'typo.py'}:reference"
    assert main(args) == EXIT_USAGE
    capsys.readouterr()
    args[args.index("--model") + 1] = good_model
    assert main(args) == EXIT_OK, capsys.readouterr().err


def test_resume_with_other_budget_is_refused(tmp_path, tiny_run_args, capsys):
    out = tmp_path / "out"
    assert main(tiny_run_args(out, budget=40)) == EXIT_OK
    capsys.readouterr()
    assert main(tiny_run_args(out, "--resume", budget=50)) == EXIT_USAGE
    line = one_line_error(capsys)
    assert "--resume" in line and "'budget': (40, 50)" in line


def test_resume_with_more_seeds_is_allowed(tmp_path, tiny_run_args, read_report, divergence_key):
    out = tmp_path / "out"
    assert main(tiny_run_args(out, seeds=3)) == EXIT_OK
    first = read_report(out)
    assert main(tiny_run_args(out, "--resume", seeds=6)) == EXIT_OK
    second = read_report(out)
    assert second["summary"]["seeds"] == 6
    assert second["config"]["seeds"] == 6
    ids = {d["id"]: divergence_key(d) for d in second["divergences"]}
    for d in first["divergences"]:
        assert ids[d["id"]] == divergence_key(d)


# -- replay ---------------------------------------------------------------------


def test_replay_without_corpus(tmp_path, capsys):
    assert main(["replay", str(tmp_path)]) == EXIT_USAGE
    line = one_line_error(capsys)
    assert "DIR=" in line and "corpus.sqlite" in line


def test_replay_detects_tampered_labels(tmp_path, tiny_run_args, capsys, read_report):
    out = tmp_path / "out"
    assert main(tiny_run_args(out, seeds=6)) == EXIT_OK
    n = len(read_report(out)["divergences"])
    assert n >= 1
    assert main(["replay", str(out)]) == EXIT_OK
    assert f"{n}/{n} divergences reproduce" in capsys.readouterr().out

    with sqlite3.connect(out / "corpus.sqlite") as db:
        first_id = db.execute("SELECT MIN(id) FROM divergences").fetchone()[0]
        db.execute(
            "UPDATE divergences SET candidate_label = (candidate_label + 1) % 10 WHERE id = ?", (first_id,)
        )
    db.close()
    assert main(["replay", str(out)]) == EXIT_NOT_REPRODUCED
    stdout = capsys.readouterr().out
    assert f"not reproduced: divergence {first_id} " in stdout
    assert stdout.count("not reproduced") == 1
    assert f"{n - 1}/{n} divergences reproduce" in stdout


# -- Ctrl-C in a real process -------------------------------------------------------


@pytest.mark.slow
def test_sigint_saves_progress_and_resume_finishes(tmp_path, read_report, divergence_key, finished_seed_count):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "diverfuzz", "run", "--seeds", "100", "--budget", "500", "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while finished_seed_count(out) < 1:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no seed finished within 90 s"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == EXIT_INTERRUPTED, stderr
    assert "interrupted" in stderr and "--resume" in stderr
    report = read_report(out)
    assert report["summary"]["interrupted"] is True
    done = report["summary"]["seeds"]
    assert 1 <= done < 100

    # Resume with a small seed count: a different --seeds is allowed on resume.
    target = done + 1
    assert main(["run", "--seeds", str(target), "--budget", "500", "--out", str(out), "--resume", "--quiet"]) == EXIT_OK
    resumed = read_report(out)
    assert resumed["summary"]["interrupted"] is False
    assert resumed["summary"]["seeds"] == target
    ids = {d["id"]: divergence_key(d) for d in resumed["divergences"]}
    for d in report["divergences"]:
        assert ids[d["id"]] == divergence_key(d)


def test_report_command_rerenders_every_format(tmp_path, tiny_run_args, capsys):
    out = tmp_path / "out"
    assert main(tiny_run_args(out)) == EXIT_OK
    before = json.loads((out / "report.json").read_text())
    (out / "report.json").unlink()
    (out / "report.html").unlink()
    capsys.readouterr()
    assert main(["report", str(out), "--format", "json,html,md"]) == EXIT_OK
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / "report.json"), str(out / "report.html"), str(out / "report.md")]
    after = json.loads((out / "report.json").read_text())
    assert after["divergences"] == before["divergences"]
    assert after["summary"] == before["summary"]
    assert "data:image/png;base64," in (out / "report.html").read_text() or not after["divergences"]
    assert main(["report", str(out), "--format", "pdf"]) == EXIT_USAGE
    assert main(["report", str(tmp_path / "nothing")]) == EXIT_USAGE


def test_replay_single_ids(tmp_path, tiny_run_args, capsys):
    out = tmp_path / "out"
    assert main(tiny_run_args(out)) == EXIT_OK
    ids = [d["id"] for d in json.loads((out / "report.json").read_text())["divergences"]]
    assert ids, "the tiny pair must diverge for this test to mean anything"
    capsys.readouterr()
    assert main(["replay", str(out), "--id", str(ids[0])]) == EXIT_OK
    assert "1/1 divergences reproduce" in capsys.readouterr().out
    assert main(["replay", str(out), "--id", "99999"]) == EXIT_USAGE
    assert "--id=99999" in capsys.readouterr().err
