"""The README's usage block and spec claims hold against the code."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.entry.cli import build_parser
from diverfuzz.models.precision.spec import parse_precision

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _subcommand_options(name: str) -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    return {opt for action in sub.choices[name]._actions for opt in action.option_strings if opt.startswith("--")}  # noqa: SLF001


@pytest.mark.parametrize("command", ["run", "sweep", "replay", "report", "evaluate-supervisors", "export", "estimate"])
def test_usage_block_lists_every_option(command):
    usage = README[README.index("```text"):]
    usage = usage[: usage.index("```", 3)]
    missing = sorted(o for o in _subcommand_options(command) - {"--help"} if o not in usage)
    assert not missing, f"README usage block lacks {command} options {missing}"


def test_weights_option_works_exactly_where_the_readme_says():
    for spec in ("float:e4m3", "float:e5m2:sr", "fixed:16.14:sr", "int:4"):
        assert parse_precision(f"{spec}:weights") is not None
        assert parse_precision(f"{spec}:activations") is not None
    for spec in ("int8-static", "int8-dynamic", "int4-weight", "fp16", "bf16", "binary-weight", "onnx-int8"):
        with pytest.raises(DiverfuzzError):
            parse_precision(f"{spec}:weights")
    assert "apply to the\nemulated `float:`, `fixed:` and `int:` formats only" in README


def test_readme_names_every_precision_example_it_lists():
    named = set(re.findall(r"`((?:int8|int4|onnx|fp16|bf16|float:|fixed:|int:|binary|ternary|mca:|approx:)[^`]*)`", README))
    for spec in sorted(named):
        if spec.endswith(":"):
            continue
        parse_precision(spec)  # raises on a spec the README names but the code refuses
