"""Markdown renderer: a short summary for pull requests and CI logs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from ._atomic import atomic_write_text
from .formatting import format_chain, format_number, format_value, summary_rows
from .schema import check_report

__all__ = ["write_markdown", "render_markdown", "escape_cell"]


def escape_cell(text: str) -> str:
    """Make `text` safe inside one Markdown table cell.

    Pipes become ``\\|``, line breaks become spaces, and ``&``, ``<``, ``>``
    become HTML entities so user strings cannot inject markup.

    Examples
    --------
    >>> escape_cell("a|b <i>")
    'a\\\\|b &lt;i&gt;'
    """
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    return text.replace("|", "\\|")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(escape_cell(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(escape_cell(c) for c in row) + " |" for row in rows]
    return lines


def render_markdown(report: Mapping[str, Any]) -> str:
    """Render `report` as Markdown text; see :func:`write_markdown`."""
    check_report(report)
    lines = ["# diverfuzz report", "", "## Summary", ""]
    lines += _table(["Metric", "Value"], [list(r) for r in summary_rows(report.get("summary"))])
    config = report.get("config") or {}
    if config:
        lines += ["", "## Configuration", ""]
        lines += _table(["Key", "Value"],
                        [[str(k), format_value(v)] for k, v in config.items()])
    lines += ["", "## Divergences", ""]
    divergences = list(report.get("divergences") or [])
    if not divergences:
        lines.append("No divergences found.")
    else:
        rows = [
            [
                format_number(d.get("id")),
                format_number(d.get("seed_index")),
                format_value(d.get("reference_label")),
                format_value(d.get("candidate_label")),
                format_chain(d.get("chain")),
                format_number(d.get("queries")),
            ]
            for d in divergences
        ]
        lines += _table(["ID", "Seed", "Reference", "Candidate", "Chain", "Queries"], rows)
    return "\n".join(lines) + "\n"


def write_markdown(report: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a short Markdown summary of `report`.

    Parameters
    ----------
    report : Mapping[str, Any]
        The campaign record (``schema_version == 1``).
    path : str or os.PathLike
        Destination file; written atomically, parent folders created.

    Returns
    -------
    pathlib.Path
        The written path.

    Notes
    -----
    The file has a summary table, the configuration table, and one row per
    divergence (id, seed index, both labels, the relation chain, queries),
    or "No divergences found.".  Cells are escaped with :func:`escape_cell`.
    """
    return atomic_write_text(path, render_markdown(report))
