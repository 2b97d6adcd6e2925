"""Hardening through the command line: config files, --normalize, unwritable output,
SIGKILL at random moments, and random argument lists."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diverfuzz.entry.cli import EXIT_OK, EXIT_USAGE, main


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("diverfuzz: error: ")
    return err[0]


def test_config_file_supplies_options_and_flags_override(tmp_path, tiny_files, capsys):
    cfg = tmp_path / "campaign.toml"
    cfg.write_text(
        f'model = "{tiny_files["models"]}:reference"\n'
        f'candidate = "{tiny_files["models"]}:candidate"\n'
        f'data = "{tiny_files["data"]}"\n'
        "seeds = 3\nbudget = 30\npopulation = 10\nrng-seed = 5\nquiet = true\n"
        'relations = ["brightness", "contrast"]\n'
    )
    out = tmp_path / "out"
    assert main(["run", "--config", str(cfg), "--budget", "40", "--out", str(out)]) == EXIT_OK
    config = json.loads((out / "report.json").read_text())["config"]
    assert config["budget"] == 40  # the flag wins
    assert config["seeds"] == 3 and config["rng_seed"] == 5
    assert config["relations"] == ["brightness", "contrast"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("seeds = 'many'\n", "seeds='many' must be an integer"),
        ("budgett = 3\n", "unknown option 'budgett'"),
        ("seeds = [\n", "is not valid toml"),
        ("budget = 0\n", "--budget=0 must be an integer >= 1"),
    ],
)
def test_broken_config_files_give_one_clear_line(tmp_path, capsys, text, expected):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "o")]) == EXIT_USAGE
    assert expected in _err(capsys)


def test_missing_config_file(tmp_path, capsys):
    assert main(["run", "--config", str(tmp_path / "nope.toml")]) == EXIT_USAGE
    assert "file does not exist" in _err(capsys)


def test_out_of_range_data_offers_normalize_and_normalize_works(tmp_path, tiny_files, tiny_run_args, capsys):
    x = np.random.default_rng(0).uniform(0, 255, size=(20, 1, 8, 8)).astype(np.float32)  # synthetic 8-bit-like
    data = tmp_path / "raw.npz"
    np.savez(data, x=x)
    args = tiny_run_args(tmp_path / "o1")
    args[args.index("--data") + 1] = str(data)
    assert main(args) == EXIT_USAGE
    assert "pass --normalize" in _err(capsys)
    args = tiny_run_args(tmp_path / "o2", "--normalize")
    args[args.index("--data") + 1] = str(data)
    assert main(args) == EXIT_OK


def test_unwritable_out_fails_before_any_work(tmp_path, tiny_run_args, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(tiny_run_args(blocker / "out")) == EXIT_USAGE
    assert "is not writable" in _err(capsys)


def _divergence_set(out: Path) -> set:
    with sqlite3.connect(out / "corpus.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT seed_index, chain, reference_label, candidate_label, queries FROM divergences")
        found = [tuple(r) for r in rows]
    assert len(found) == len(set(found)), "a divergence was stored twice"
    return set(found)


def _started(out: Path) -> bool:
    """Whether ``out`` holds a campaign that ``--resume`` can continue (its config is stored)."""
    if not (out / "corpus.sqlite").exists():
        return False
    db = sqlite3.connect(out / "corpus.sqlite")
    try:
        return db.execute("SELECT COUNT(*) FROM meta WHERE key = 'config'").fetchone()[0] > 0
    except sqlite3.Error:  # killed while the tables were being created
        return False
    finally:
        db.close()


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_loses_nothing(tmp_path, tiny_run_args):
    reference_out = tmp_path / "reference"
    assert main(tiny_run_args(reference_out, seeds=12, budget=120)) == EXIT_OK
    expected = _divergence_set(reference_out)
    out = tmp_path / "killed"
    rng = np.random.default_rng(0)
    kills = 0
    for _ in range(8):
        # --resume once a campaign has started (a kill during start-up leaves none to resume)
        args = tiny_run_args(out, seeds=12, budget=120) + (["--resume"] if _started(out) else [])
        # No pipes: an unread, unclosed stderr pipe was a ResourceWarning (and could fill up).
        with subprocess.Popen(
            [sys.executable, "-m", "diverfuzz", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        ) as proc:
            time.sleep(float(rng.uniform(1.0, 4.0)))  # start-up (torch import) takes ~1-2 s
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=60)
        if (out / "corpus.sqlite").exists():
            _divergence_set(out)  # intact after every kill
    final = subprocess.run(
        [sys.executable, "-m", "diverfuzz", *tiny_run_args(out, seeds=12, budget=120),
         *(["--resume"] if _started(out) else [])],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert final.returncode == EXIT_OK, final.stderr
    assert kills >= 3
    assert _divergence_set(out) == expected


OPTIONS = st.sampled_from(
    [
        "--seeds", "--budget", "--strategy", "--mode", "--rng-seed", "--validity", "--population",
        "--precision", "--kind", "--relations", "--threads", "--backend", "--workers", "--example", "--defense",
    ]
)
VALUES = st.one_of(
    st.sampled_from(["0", "-1", "3", "1e9", "nan", "genetic", "first", "ssim>=", "int3", "image", "signal",
                     "brightness,nope", "process", "", "ray", "pixeldp", "float:e9m3", "x.py:f"]),
    st.text(max_size=8),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(OPTIONS, VALUES), max_size=4))
def test_random_argument_lists_never_leak_a_traceback(tiny_files, pairs):
    out = tempfile.mkdtemp(prefix="dfz-")
    argv = [
        "run", "--model", f"{tiny_files['models']}:reference", "--data", tiny_files["data"],
        "--candidate", f"{tiny_files['models']}:candidate", "--seeds", "2", "--budget", "10",
        "--quiet", "--out", out,
    ]
    for option, value in pairs:
        argv += [option, value]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: bad option syntax
        assert exc.code == 2
        return
    assert code in (EXIT_OK, EXIT_USAGE)


CONFIG_KEYS = st.sampled_from(
    ["seeds", "budget", "strategy", "rng-seed", "validity", "population", "precision", "kind", "relations",
     "threads", "backend", "workers", "mode", "normalize", "quiet", "bogus", "data", "model"]
)
CONFIG_VALUES = st.one_of(
    st.integers(-3, 50), st.booleans(), st.none(), st.floats(allow_nan=True), st.text(max_size=10),
    st.lists(st.text(max_size=6), max_size=3),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(CONFIG_KEYS, CONFIG_VALUES, max_size=5))
def test_random_config_files_never_leak_a_traceback(tiny_files, options):
    folder = Path(tempfile.mkdtemp(prefix="dfz-cfg-"))
    cfg = folder / "campaign.json"
    cfg.write_text(json.dumps(options))
    argv = [
        "run", "--config", str(cfg), "--model", f"{tiny_files['models']}:reference",
        "--candidate", f"{tiny_files['models']}:candidate", "--data", tiny_files["data"],
        "--seeds", "2", "--budget", "10", "--quiet", "--out", str(folder / "out"),
    ]
    assert main(argv) in (EXIT_OK, EXIT_USAGE)
