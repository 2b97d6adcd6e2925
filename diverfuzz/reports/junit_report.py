"""JUnit XML renderer: a campaign as one test suite, for CI dashboards.

CI systems (GitLab, Jenkins, GitHub test reporters) read JUnit XML; a
campaign becomes one ``<testsuite>`` whose ``<properties>`` carry its numbers
and one ``<testcase>`` for the fuzzed model pair, failed when a divergence
was found.  The XML is built with :mod:`xml.etree.ElementTree`, which escapes
markup characters; control characters, which XML 1.0 forbids even escaped,
are made visible first (:func:`diverfuzz.reports.formatting.clean_text`).
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Mapping

from diverfuzz.common.atomic import atomic_write_text

from .aggregate import effective_chain
from .errors import ReportError
from .estimate_view import estimate_properties
from .formatting import clean_text, format_chain, format_number, format_value, pair_text
from .schema import check_report

__all__ = ["write_junit", "render_junit"]


def _rate_text(rate: Any) -> str:
    if isinstance(rate, (int, float)) and not isinstance(rate, bool):
        return f"{100.0 * rate:.1f} %"
    return format_number(rate)


def _seconds(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value):
        return f"{float(value):.3f}"
    return "0.000"


def _element(tag: str, attrs: Mapping[str, Any] | None = None) -> ET.Element:
    return ET.Element(tag, {k: clean_text(v) for k, v in (attrs or {}).items()})


def _margin_properties(summary: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """``decisive_seeds_margin_0.05`` ..., ``reference_margin_median``, ``min_margin``: when recorded."""
    out: list[tuple[str, Any]] = []
    counts = summary.get("decisive_counts")
    if isinstance(counts, Mapping):
        for key, value in counts.items():
            out.append((f"decisive_seeds_margin_{str(key).removeprefix('>=')}", value))
    quartiles = summary.get("reference_margins")
    if isinstance(quartiles, Mapping):
        out += [(f"reference_margin_{q}", quartiles.get(q)) for q in ("q25", "median", "q75")]
    if summary.get("min_margin") is not None:
        out.append(("min_margin", summary.get("min_margin")))
    return out


def render_junit(report: Mapping[str, Any], *, name: str = "diverfuzz") -> str:
    """Render `report` as JUnit XML text; see :func:`write_junit`."""
    check_report(report)
    if not isinstance(name, str) or not name:
        raise ReportError(f"name={name!r}: expected a non-empty str (the suite name)")
    summary = report.get("summary") or {}
    divergences = list(report.get("divergences") or [])
    failed = bool(divergences)
    wall = _seconds(summary.get("wall_seconds"))

    suite = _element("testsuite", {
        "name": name, "tests": "1", "failures": "1" if failed else "0",
        "errors": "0", "skipped": "0", "time": wall,
    })
    properties = ET.SubElement(suite, "properties")
    for key, value in (
        ("divergences", len(divergences)),
        ("success_rate", summary.get("success_rate")),
        ("queries", summary.get("queries")),
        ("seeds", summary.get("seeds")),
        ("seeds_with_divergence", summary.get("seeds_with_divergence")),
        ("precision", (report.get("config") or {}).get("precision")),
        *_margin_properties(summary),
        *estimate_properties(report.get("estimate")),
    ):
        prop = _element("property", {"name": key, "value": format_number(value)})
        properties.append(prop)

    case = _element("testcase", {"classname": name, "name": pair_text(report), "time": wall})
    suite.append(case)
    if failed:
        seeds = summary.get("seeds_with_divergence")
        message = (
            f"{len(divergences)} divergence{'s' if len(divergences) != 1 else ''} on "
            f"{format_number(seeds)} of {format_number(summary.get('seeds'))} seeds "
            f"(success rate {_rate_text(summary.get('success_rate'))})"
        )
        failure = _element("failure", {"message": message, "type": "diverfuzz.Divergence"})
        lines = [message]
        for d in divergences:
            lines.append(
                f"divergence {format_value(d.get('id'))} (seed "
                f"{format_value(d.get('seed_index'))}): reference "
                f"{format_value(d.get('reference_label'))} -> candidate "
                f"{format_value(d.get('candidate_label'))} via "
                f"{format_chain(effective_chain(d))}"
            )
        failure.text = clean_text("\n".join(lines))
        case.append(failure)
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(
        suite, encoding="unicode") + "\n"


def write_junit(
    report: Mapping[str, Any], path: str | os.PathLike[str], *, name: str = "diverfuzz",
) -> Path:
    """Write `report` as a JUnit XML file with one test suite.

    Parameters
    ----------
    report : Mapping[str, Any]
        The campaign record (``schema_version == 1``).
    path : str or os.PathLike
        Destination file (e.g. ``junit.xml``); written atomically, parent
        folders created.
    name : str, optional
        Name of the ``<testsuite>`` and ``classname`` of its test case.
        Default ``"diverfuzz"``.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    ReportError
        If the schema version is unsupported or `name` is empty.

    Notes
    -----
    The suite has ``<properties>``: ``divergences`` (count),
    ``success_rate`` (fraction), ``queries``, ``seeds``,
    ``seeds_with_divergence`` and ``precision``, and when the record has them
    ``decisive_seeds_margin_0.05`` / ``decisive_seeds_margin_0.1`` (seeds
    with a divergence at a reference margin of at least that),
    ``reference_margin_q25`` / ``_median`` / ``_q75`` and ``min_margin``.  Its single ``<testcase>`` is
    named after the pair (``reference / candidate``); when divergences exist
    it holds a ``<failure>`` whose ``message`` gives their count and the
    success rate, and whose text lists each divergence (id, seed, labels,
    minimal chain when recorded else chain).

    Examples
    --------
    >>> import tempfile, xml.etree.ElementTree as ET
    >>> rec = {"schema_version": 1, "summary": {"seeds": 4, "success_rate": 0.0},
    ...        "divergences": []}
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     root = ET.parse(write_junit(rec, f"{tmp}/junit.xml")).getroot()
    >>> root.tag, root.get("failures")
    ('testsuite', '0')
    """
    return atomic_write_text(path, render_junit(report, name=name))
