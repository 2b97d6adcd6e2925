"""One config schema: CLI options, config files and check() validate from the same declarations."""

from __future__ import annotations

import argparse
import io
import json

import numpy as np
import pytest

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.entry.cli import LogProgress, add_run_options, build_parser, main
from diverfuzz.fuzzer.campaign.config import (
    CampaignConfig,
    check_value,
    config_options,
    flag,
)
from diverfuzz.fuzzer.campaign.config_file import load_config_file


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_run_options(parser.add_argument)
    return parser


def test_every_config_field_is_a_run_option_and_a_config_file_key(tmp_path):
    options = {a.dest for a in _parser()._actions}  # noqa: SLF001
    names = [name for name, _, _ in config_options()]
    assert set(names) <= options
    defaults = CampaignConfig()
    cfg = tmp_path / "all.json"
    cfg.write_text(json.dumps({name: getattr(defaults, name) for name in names if getattr(defaults, name) is not None}))
    loaded = load_config_file(cfg)
    assert CampaignConfig(**loaded) == defaults


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("seeds", 0, "--seeds=0 must be an integer >= 1"),
        ("seeds", True, "--seeds=True must be an integer >= 1"),
        ("strategy", "annealing", "--strategy='annealing' is unknown; choose one of genetic"),
        ("relations", [], "--relations=[]: empty list"),
        ("normalize", "yes", "--normalize='yes' must be true or false"),
        ("budgett", 3, "unknown option 'budgett'"),
    ],
)
def test_one_validator_gives_the_same_message_everywhere(tmp_path, name, value, message):
    with pytest.raises(DiverfuzzError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_value(name, value)
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({name: value}))
    with pytest.raises(DiverfuzzError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config_file(cfg)
    if name != "budgett":
        with pytest.raises(DiverfuzzError, match=message.replace("[", r"\[").replace("]", r"\]")):
            CampaignConfig(**{name: value})


def test_check_validates_its_keywords_through_the_schema(tmp_path):
    from torch import nn

    from diverfuzz.entry.check import check

    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    seeds = np.random.default_rng(0).uniform(0, 1, (2, 1, 8, 8)).astype(np.float32)
    # Raised from Python, the schema's messages name check()'s arguments, not the CLI flags.
    with pytest.raises(DiverfuzzError, match="^budget=0 must be an integer >= 1"):
        check(model, model, seeds, budget=0, report_dir=tmp_path)
    with pytest.raises(DiverfuzzError, match="^strategy='nope' is unknown"):
        check(model, model, seeds, strategy="nope", report_dir=tmp_path)


def test_flag_spelling():
    assert flag("rng_seed") == "--rng-seed"


def test_version_flag(capsys):
    from diverfuzz import __version__

    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"diverfuzz {__version__}"


def test_rerunning_into_an_existing_out_says_how_and_force_replaces(tmp_path, tiny_run_args, capsys):
    out = tmp_path / "o"
    assert main(tiny_run_args(out, seeds=2, budget=20)) == 0
    capsys.readouterr()
    assert main(tiny_run_args(out, seeds=2, budget=20)) == 2
    err = capsys.readouterr().err
    assert "--resume" in err and "--force" in err
    first = json.loads((out / "report.json").read_text())
    assert main(tiny_run_args(out, "--force", "--rng-seed", "3", seeds=2, budget=20)) == 0
    again = json.loads((out / "report.json").read_text())
    assert again["config"]["rng_seed"] == 3 and first["config"]["rng_seed"] == 0
    assert main(tiny_run_args(out, "--force", "--resume", seeds=2, budget=20)) == 2
    assert "exclude each other" in capsys.readouterr().err


def test_log_progress_prints_a_line_per_interval_and_the_last_one():
    stream = io.StringIO()
    log = LogProgress(interval=3600.0, stream=stream)
    log(0, 3, 0, 0)
    log(1, 3, 1, 50)  # within the interval: silent
    log(3, 3, 2, 150)  # the last seed always prints
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[-1].startswith("seeds 3/3, 2 divergences, 150 queries (") and "queries/s" in lines[-1]


def test_out_of_range_seeds_suggest_the_fix_each_front_end_has(tmp_path):
    from torch import nn

    from diverfuzz.entry.check import check

    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    seeds = np.random.default_rng(0).uniform(0, 255, (4, 1, 8, 8)).astype(np.float32)
    with pytest.raises(DiverfuzzError, match=r"pass normalize=True to min-max scale them") as exc:
        check(model, model, seeds, budget=5, report_dir=tmp_path / "a")
    assert "--normalize" not in str(exc.value)
    result = check(model, model, seeds, budget=5, report_dir=tmp_path / "b", normalize=True)
    assert result.report["summary"]["seeds"] >= 0


def test_sweep_accepts_normalize():
    parser = build_parser()
    args = parser.parse_args(["sweep", "--normalize", "--quick"])
    assert args.normalize is True
