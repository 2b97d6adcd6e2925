"""Tests for diverfuzz.reports.json_report: strict JSON round trip and schema checks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diverfuzz.reports import ReportError, read_json, to_jsonable, write_json


def _strict_loads(text: str):
    def reject(token: str):
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=reject)


def test_round_trip_writes_strict_json(tmp_path: Path, sample_report: dict) -> None:
    path = write_json(sample_report, tmp_path / "out" / "report.json")
    assert path == tmp_path / "out" / "report.json"
    text = path.read_text(encoding="utf-8")
    assert "Infinity" not in text and "NaN" not in text
    strict = _strict_loads(text)
    assert strict["divergences"][0]["validity"]["psnr"] is None

    loaded = read_json(path)
    expected = json.loads(json.dumps(sample_report, allow_nan=True))
    expected["divergences"][0]["validity"]["psnr"] = None
    assert loaded == expected
    # input untouched
    assert math.isinf(sample_report["divergences"][0]["validity"]["psnr"])


def test_write_is_indented_and_keeps_key_order(tmp_path: Path, sample_report: dict) -> None:
    text = write_json(sample_report, tmp_path / "r.json").read_text(encoding="utf-8")
    assert text.startswith('{\n  "schema_version": 1,\n  "tool"')
    assert list(read_json(tmp_path / "r.json")) == list(sample_report)


def test_write_leaves_no_temporary_files(tmp_path: Path, sample_report: dict) -> None:
    write_json(sample_report, tmp_path / "r.json")
    write_json(sample_report, tmp_path / "r.json")  # overwrite
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_failed_write_keeps_previous_file(tmp_path: Path, sample_report: dict) -> None:
    path = write_json(sample_report, tmp_path / "r.json")
    before = path.read_text(encoding="utf-8")
    bad = dict(sample_report, config={"obj": object()})
    with pytest.raises(ReportError, match=r"report\['config'\]\['obj'\]"):
        write_json(bad, path)
    assert path.read_text(encoding="utf-8") == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_to_jsonable_converts_numpy_and_non_finite() -> None:
    report = {
        "schema_version": np.int64(1),
        "a": np.float32(0.5),
        "b": np.array([[1.0, np.nan], [np.inf, -np.inf]]),
        "c": (np.bool_(True), np.int32(4)),
        "d": {np.int64(3): float("nan")},
        "e": Path("x/y"),
    }
    out = to_jsonable(report)
    assert out == {
        "schema_version": 1,
        "a": 0.5,
        "b": [[1.0, None], [None, None]],
        "c": [True, 4],
        "d": {"3": None},
        "e": str(Path("x/y")),
    }
    assert type(out["schema_version"]) is int and type(out["c"][0]) is bool
    json.dumps(out, allow_nan=False)


def test_to_jsonable_is_a_deep_copy(sample_report: dict) -> None:
    out = to_jsonable(sample_report)
    out["config"]["model"] = "changed"
    out["divergences"][0]["chain"].clear()
    assert sample_report["config"]["model"] == "default (digits CNN)"
    assert len(sample_report["divergences"][0]["chain"]) == 2


_json_leaf = st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=True, allow_infinity=True)
_json_tree = st.recursive(
    _json_leaf,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None, database=None)
@given(st.dictionaries(st.text(), _json_tree, max_size=5))
def test_to_jsonable_output_is_always_strict_json(data: dict) -> None:
    out = to_jsonable(data)
    assert _strict_loads(json.dumps(out, allow_nan=False)) == out


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"tool": {"name": "diverfuzz"}}', "missing 'schema_version'"),
        ('{"schema_version": 2}', "unsupported schema_version=2"),
        ('{"schema_version": "1"}', "unsupported schema_version='1'"),
        ('{"schema_version": true}', "unsupported schema_version=True"),
        ("[1, 2, 3]", "expected a JSON object"),
        ("this is not json", "not a valid JSON report"),
        ('{"schema_version": 1, "x": NaN}', "not a valid JSON report"),
        ("", "not a valid JSON report"),
    ],
)
def test_read_json_rejects_bad_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ReportError, match=message) as info:
        read_json(path)
    assert isinstance(info.value, ValueError)
    assert "bad.json" in str(info.value)


def test_read_json_rejects_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(ReportError, match="not a UTF-8 text file"):
        read_json(path)


def test_read_json_missing_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "nope.json")


def test_write_json_rejects_unsupported_version(tmp_path: Path, sample_report: dict) -> None:
    sample_report["schema_version"] = 99
    with pytest.raises(ReportError, match="schema_version=99"):
        write_json(sample_report, tmp_path / "r.json")
    assert not (tmp_path / "r.json").exists()


def test_written_report_is_readable_by_others(tmp_path):
    import os
    import stat

    from diverfuzz.reports import write_json

    umask = os.umask(0o022)
    try:
        path = write_json({"schema_version": 1, "summary": {}, "divergences": []}, tmp_path / "r.json")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
