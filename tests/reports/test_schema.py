"""Tests for diverfuzz/reports/report.schema.json and diverfuzz.reports.schema.validate_report."""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import pytest

from diverfuzz import reports
from diverfuzz.reports import ReportError, load_schema, validate_report


@pytest.fixture(params=["jsonschema", "builtin"])
def validator_kind(request, monkeypatch):
    """Run a test with jsonschema, then with the built-in fallback."""
    if request.param == "jsonschema":
        pytest.importorskip("jsonschema")
    else:
        real_import = builtins.__import__

        def no_jsonschema(name, *args, **kwargs):
            if name == "jsonschema" or name.startswith("jsonschema."):
                raise ImportError("jsonschema hidden by the test")
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", no_jsonschema)
    return request.param


def test_schema_file_is_valid_draft_2020_12() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_documents_every_field() -> None:
    schema = load_schema()

    def walk(node, where):
        for key, sub in node.get("properties", {}).items():
            assert sub.get("description"), f"{where}.{key} has no description"
            walk(sub, f"{where}.{key}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{where}[]")

    walk(schema, "report")
    walk(schema["$defs"]["step"], "step")
    assert schema["required"] == ["schema_version", "config", "summary", "divergences"]
    assert schema["properties"]["schema_version"]["const"] == reports.SCHEMA_VERSION


def test_schema_ships_inside_the_package() -> None:
    path = Path(reports.__file__).with_name("report.schema.json")
    assert json.loads(path.read_text(encoding="utf-8")) == load_schema()


def test_real_campaign_record_validates(validator_kind, campaign_record) -> None:
    validate_report(campaign_record)


def test_hostile_record_validates(validator_kind, hostile_report) -> None:
    validate_report(hostile_report)


def test_in_memory_record_with_numpy_and_inf_validates(validator_kind, sample_report) -> None:
    import numpy as np

    sample_report["summary"]["queries"] = np.int64(12345)
    assert sample_report["divergences"][0]["validity"]["psnr"] == float("inf")
    validate_report(sample_report)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: r.pop("config"), "missing required key 'config'|'config' is a required"),
        (lambda r: r["summary"].pop("seeds"),
         r"report\['summary'\].*'seeds'"),
        (lambda r: r["summary"].update(seeds="8"),
         r"report\['summary'\]\['seeds'\]"),
        (lambda r: r["divergences"][1].pop("chain"),
         r"report\['divergences'\]\[1\].*'chain'"),
        (lambda r: r["divergences"][0].update(queries=True),
         r"report\['divergences'\]\[0\]\['queries'\]"),
        (lambda r: r.update(divergences={}), r"report\['divergences'\]"),
    ],
)
def test_invalid_records_are_named(validator_kind, campaign_record, mutate, message) -> None:
    mutate(campaign_record)
    with pytest.raises(ReportError, match=message) as info:
        validate_report(campaign_record)
    assert "report.schema.json" in str(info.value)


def test_wrong_version_is_refused_first(validator_kind, campaign_record) -> None:
    campaign_record["schema_version"] = 2
    with pytest.raises(ReportError, match="unsupported schema_version=2"):
        validate_report(campaign_record)


def test_full_schema_checks_nested_fields(campaign_record) -> None:
    pytest.importorskip("jsonschema")
    campaign_record["divergences"][0]["minimal_chain"][0]["relation"] = 7
    with pytest.raises(ReportError, match=r"\['minimal_chain'\]\[0\]\['relation'\]"):
        validate_report(campaign_record)
    campaign_record["divergences"][0]["minimal_chain"][0]["relation"] = "shear"
    campaign_record["summary"]["success_rate"] = 1.5
    with pytest.raises(ReportError, match=r"\['success_rate'\]"):
        validate_report(campaign_record)
