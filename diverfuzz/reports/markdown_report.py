"""Markdown renderer: a short summary for pull requests and CI logs."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

from diverfuzz.common.atomic import atomic_write_text

from .aggregate import effective_chain, label_change_counts, relation_counts
from .estimate_view import estimate_markdown_rows
from .formatting import (
    SUMMARY_HELP,
    clean_text,
    correct_text,
    format_chain,
    format_geometry,
    format_number,
    format_value,
    margin_text,
    overview_rows,
    replay_command,
    severity_text,
    warning_lines,
)
from .schema import check_report

__all__ = ["write_markdown", "render_markdown", "escape_cell", "code_span"]

#: Rows in the "Top label changes" and "Divergences per relation" tables.
_TOP = 10


def escape_cell(text: str) -> str:
    """Make `text` safe inside one Markdown table cell.

    Backslashes are doubled and pipes become ``\\|`` (so a trailing
    backslash cannot swallow the column separator), line breaks become
    spaces, control characters are made visible
    (:func:`diverfuzz.reports.formatting.clean_text`), and ``&``, ``<``, ``>`` become
    HTML entities so user strings cannot inject markup.

    Examples
    --------
    >>> escape_cell("a|b <i>")
    'a\\\\|b &lt;i&gt;'
    """
    text = str(text).replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    text = clean_text(text).replace("\\", "\\\\")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|")


def code_span(text: str) -> str:
    """`text` as one inline Markdown code span, whatever backticks it holds.

    The fence is one backtick longer than the longest run inside `text`
    (CommonMark); line breaks become spaces and controls are made visible.

    Examples
    --------
    >>> code_span("diverfuzz replay runs/a")
    '`diverfuzz replay runs/a`'
    >>> code_span("a`b")
    '``a`b``'
    """
    text = clean_text(str(text).replace("\r", " ").replace("\n", " "))
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(escape_cell(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(escape_cell(c) for c in row) + " |" for row in rows]
    return lines


def _supervisor_lines(section: Any) -> list[str]:
    """The supervisors section (``diverfuzz evaluate-supervisors``), or nothing."""
    if not isinstance(section, Mapping) or not section.get("scores"):
        return []

    def at(row: Mapping, level: str, key: str) -> str:
        cell = row.get("at")
        cell = cell.get(level) if isinstance(cell, Mapping) else None
        return format_value(cell.get(key) if isinstance(cell, Mapping) else None)

    rows = [
        [escape_cell(format_value(row.get(k))) for k in ("monitored", "name", "auroc_matched", "auroc_nominal",
                                                           "average_precision")]
        + [at(row, level, "tpr") for level in ("S1", "S5", "S10")]
        + [at(row, "S5", "matched_rejection")]
        for row in section["scores"]
        if isinstance(row, Mapping)
    ]
    lines = ["", "## Supervisors", ""]
    lines += _table(["Monitored", "Supervisor", "AUROC matched", "AUROC nominal", "AP matched", "TPR S1", "TPR S5",
                     "TPR S10", "Matched rejected S5"], rows)
    lines += ["", "AUROC matched: divergence-inducing inputs against valid mutants of the same seeds and chains, "
              "at the same distortion, on which the models agree; AUROC nominal: against clean test inputs. "
              "S1/S5/S10: thresholds rejecting 1%/5%/10% of correctly classified nominal inputs."]
    for line in section.get("absent") or []:
        lines += ["", f"Absent: {escape_cell(str(line))}"]
    return lines


def _estimate_lines(section: Any) -> list[str]:
    """The divergence-probability table (``diverfuzz estimate``, ``check(estimate=...)``), or nothing."""
    table = estimate_markdown_rows(section)
    if table is None:
        return []
    lines = ["", "## Divergence probability", ""]
    lines += _table(*table)
    lines += ["", "Percent of draws on which the two labels differ, with the 95% interval over seeds. "
              "Severity s draws each relation's parameters uniformly over its natural range at s; "
              "severity 0 is the clean inputs."]
    return lines


def _divergence_lines(divergences: list) -> list[str]:
    """The ``## Divergences`` section: one table row per divergence, with the natural rule's columns when recorded."""
    lines = ["", "## Divergences", ""]
    if not divergences:
        lines.append("No divergences found.")
    else:
        # Columns of the natural rule, shown when any divergence records them
        # (records written before it lack them).
        natural = [
            (key, header, cell) for key, header, cell in (
                ("severity", "Severity", lambda d: severity_text(d.get("severity")) if "severity" in d else format_value(None)),
                ("geometry", "Geometry", lambda d: format_geometry(d.get("geometry")) or format_value(None)),
                ("reference_margin", "Reference margin",
                 lambda d: margin_text(d.get("reference_margin"), flag=True) if "reference_margin" in d
                 else format_value(None)),
            )
            if any(key in d for d in divergences)
        ]
        rows = [
            [
                format_number(d.get("id")),
                format_number(d.get("seed_index")),
                format_value(d.get("reference_label")),
                format_value(d.get("candidate_label")),
                correct_text(d),
                format_chain(effective_chain(d)),
                *(cell(d) for _, _, cell in natural),
                format_number(d.get("queries")),
            ]
            for d in divergences
        ]
        if any(d.get("minimal_chain") is not None for d in divergences):
            lines += ["Chains are the shrunk minimal chains where the campaign "
                      "recorded one.", ""]
        lines += _table(["ID", "Seed", "Reference", "Candidate", "True label", "Chain",
                         *(header for _, header, _ in natural), "Queries"], rows)
        lines += ["", "Reference / Candidate: the label each model gives the mutant; True label: the "
                  "seed's label and which model gives it (— without labels); Queries: search "
                  "queries spent on the seed when the divergence was found."]
        if natural:
            lines += ["", "Severity: the smallest natural severity (1-5) admitting the chain; Geometry: "
                      "the chain's geometric steps in their units; Reference margin: top-1 minus top-2 "
                      "probability of the reference on the mutant (a near-tie below 0.05: the reference "
                      "is itself nearly undecided)."]
    return lines


def render_markdown(
    report: Mapping[str, Any], *, report_dir: str | os.PathLike[str] | None = None,
) -> str:
    """Render `report` as Markdown text; see :func:`write_markdown`.

    `report_dir` (default ``None``: the placeholder ``DIR``) is the folder
    named in the replay command.
    """
    check_report(report)
    divergences = list(report.get("divergences") or [])
    lines = ["# diverfuzz report", "", "## Summary", ""]
    for warning in warning_lines(report):
        lines += [f"> **Warning:** {escape_cell(warning)}", ""]
    lines += _table(["Metric", "Value", "Meaning"],
                    [[label, value, SUMMARY_HELP.get(label, "")] for label, value in overview_rows(report)])
    lines += ["", f"Replay: {code_span(replay_command(report_dir))} "
              f"(one divergence: {code_span(replay_command(report_dir, 'N'))})"]
    if divergences:
        changes = label_change_counts(divergences)
        lines += ["", "## Top label changes", ""]
        lines += _table(["Reference", "Candidate", "Divergences"],
                        [[r, c, str(n)] for r, c, n in changes[:_TOP]])
        if len(changes) > _TOP:
            lines += ["", f"… and {len(changes) - _TOP} more label pairs."]
        relations = relation_counts(divergences)
        lines += ["", "## Divergences per relation", ""]
        lines += _table(["Relation", "Divergences"],
                        [[name, str(n)] for name, n in relations[:_TOP]])
        if len(relations) > _TOP:
            lines += ["", f"… and {len(relations) - _TOP} more relations."]
    lines += _divergence_lines(divergences)
    lines += _supervisor_lines(report.get("supervisors"))
    lines += _estimate_lines(report.get("estimate"))
    config = report.get("config") or {}
    if config:
        lines += ["", "## Configuration", ""]
        lines += _table(["Key", "Value"],
                        [[str(k), format_value(v)] for k, v in config.items()])
    fingerprints = report.get("fingerprints") or {}
    versions = report.get("versions") or {}
    if fingerprints or versions:
        lines += ["", "## Environment", ""]
        lines += _table(["Item", "Value"],
                        [[f"fingerprint: {k}", format_value(v)] for k, v in fingerprints.items()]
                        + [[str(k), format_value(v)] for k, v in versions.items()])
    return "\n".join(lines) + "\n"


def write_markdown(
    report: Mapping[str, Any], path: str | os.PathLike[str], *,
    report_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Write a short Markdown summary of `report`.

    Parameters
    ----------
    report : Mapping[str, Any]
        The campaign record (``schema_version == 1``).
    path : str or os.PathLike
        Destination file; written atomically, parent folders created.
    report_dir : str or os.PathLike, optional
        The campaign folder named in the ``diverfuzz replay`` command.
        Default: the folder of `path`.

    Returns
    -------
    pathlib.Path
        The written path.

    Notes
    -----
    The file has a summary table (pair, precision spec, budget, then the
    campaign summary, with the seeds with a decisive divergence and the
    reference-margin quartiles when recorded), a replay command, the most frequent reference →
    candidate label changes and relations (top 10 each), one row per
    divergence (id, seed index, both labels, the minimal chain when recorded
    else the chain, severity, geometry and reference margin when recorded,
    queries) or "No divergences found.", then the
    configuration and the environment (model fingerprints, versions).
    Cells are escaped with :func:`escape_cell`.
    """
    if report_dir is None:
        report_dir = Path(path).parent
    return atomic_write_text(path, render_markdown(report, report_dir=report_dir))
