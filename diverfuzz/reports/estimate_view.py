"""The estimate section of a report: divergence probability per relation and severity.

A record's ``estimate`` list (written by ``diverfuzz estimate`` and ``check(estimate=...)``)
holds one entry per (relation, severity): ``relation``, ``severity``, ``samples``,
``seeds``, ``probability``, ``low``, ``high`` (the interval) and ``per_class``. Severity 0 is
one entry with relation ``"clean"``: the seeds unchanged. Every renderer shows the same
grid, built here: relations as rows, severities 0-5 as columns, the clean rate in column 0
of every row.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

__all__ = [
    "CLEAN", "cell_text", "estimate_grid", "estimate_markdown_rows", "estimate_properties", "heat_style",
    "render_estimate_html", "render_estimate_markdown", "worst_entry",
]

#: ``relation`` of the severity-0 entry.
CLEAN = "clean"


def _entries(section: Any) -> list[Mapping[str, Any]]:
    if not isinstance(section, Sequence) or isinstance(section, (str, bytes)):
        return []
    return [e for e in section if isinstance(e, Mapping) and "relation" in e and "severity" in e]


def _percent(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "—"
    return f"{100.0 * value:.2f}"


def cell_text(entry: Mapping[str, Any] | None) -> str:
    """``"p [low, high]"`` in percent, two decimals (``"—"`` for a missing cell)."""
    if entry is None:
        return "—"
    return f"{_percent(entry.get('probability'))} [{_percent(entry.get('low'))}, {_percent(entry.get('high'))}]"


def heat_style(probability: Any, peak: float) -> str:
    """Cell colour: white at 0 to dark red at the grid's highest probability (``peak``)."""
    p = float(probability) if isinstance(probability, (int, float)) and not isinstance(probability, bool) else 0.0
    t = 0.0 if peak <= 0 else min(1.0, p / peak)
    r, g, b = (round(255 + (c - 255) * t) for c in (165, 15, 21))
    fg = "#fff" if t > 0.55 else "#1d1d1f"
    return f"background: rgb({r}, {g}, {b}); color: {fg}"


def estimate_grid(section: Any) -> dict | None:
    """``{"columns": [0, 1, ...], "rows": [(relation, [(text, style, title), ...]), ...], "worst": ...}``, or None.

    ``title`` gives the cell's draws and seeds; ``worst`` names the cell with the highest
    upper bound (:func:`worst_entry`).
    """
    entries = _entries(section)
    if not entries:
        return None
    clean = next((e for e in entries if e["relation"] == CLEAN), None)
    cells = {(e["relation"], int(e["severity"])): e for e in entries if e["relation"] != CLEAN}
    relations = list(dict.fromkeys(r for r, _ in cells))
    severities = sorted({s for _, s in cells})
    columns = ([0] if clean is not None else []) + severities
    peak = max((float(e.get("probability") or 0.0) for e in entries), default=0.0)

    def view(entry: Mapping[str, Any] | None) -> tuple[str, str, str]:
        if entry is None:
            return "—", "", ""
        title = f"{entry.get('samples')} draws over {entry.get('seeds')} seeds, {entry.get('method', '')}"
        return cell_text(entry), heat_style(entry.get("probability"), peak), title

    rows = [
        (relation, ([view(clean)] if clean is not None else []) + [view(cells.get((relation, s))) for s in severities])
        for relation in relations
    ]
    if not rows and clean is not None:
        rows = [(CLEAN, [view(clean)])]
    worst = worst_entry(entries)
    return {
        "columns": columns,
        "rows": rows,
        "worst": None if worst is None else f"{worst['relation']} at severity {worst['severity']}: {cell_text(worst)}",
    }


def worst_entry(section: Any) -> Mapping[str, Any] | None:
    """The entry with the highest upper bound (ties: the higher probability, then the first)."""
    entries = _entries(section)
    if not entries:
        return None
    return max(entries, key=lambda e: (float(e.get("high") or 0.0), float(e.get("probability") or 0.0)))


def estimate_properties(section: Any) -> list[tuple[str, Any]]:
    """JUnit properties: ``estimate_worst_cell``, ``estimate_max_high``, and ``estimate_<relation>_s<severity>``
    (``"p [low, high]"`` in percent) for every entry."""
    entries = _entries(section)
    if not entries:
        return []
    worst = worst_entry(entries)
    out: list[tuple[str, Any]] = [
        ("estimate_worst_cell", f"{worst['relation']} s{worst['severity']}"),
        ("estimate_max_high", worst.get("high")),
    ]
    out += [(f"estimate_{e['relation']}_s{e['severity']}", cell_text(e) + " %") for e in entries]
    return out


def estimate_markdown_rows(section: Any) -> tuple[list[str], list[list[str]]] | None:
    """Header and rows of the Markdown table (the grid's text), or None."""
    grid = estimate_grid(section)
    if grid is None:
        return None
    header = ["Relation"] + [f"Severity {s}" + (" (clean)" if s == 0 else "") for s in grid["columns"]]
    return header, [[relation] + [text for text, _, _ in cells] for relation, cells in grid["rows"]]


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>diverfuzz estimate: {{ pair }}</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 2rem; color: #1d1d1f; }
  table { border-collapse: collapse; margin: 1rem 0; }
  th, td { border: 1px solid #d2d2d7; padding: 0.3rem 0.6rem; }
  td { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
  th[scope=row] { text-align: left; }
  p.meta { color: #555; }
</style>
</head>
<body>
<h1>Divergence probability</h1>
<p>{{ pair }}</p>
<p class="meta">{{ settings }}</p>
<p>Probability (in %) that the two models give different labels, per relation and natural severity, with its
{{ confidence }}% interval over seeds. Severity s draws each relation's parameters uniformly over its natural range
at s (from the identity to the severity-s bound); severity 0 is the clean inputs. Highest upper bound:
{{ grid.worst }}.</p>
<table aria-label="divergence probability per relation and severity">
  <tr><th scope="col">relation</th>{% for s in grid.columns %}<th scope="col">{{ "clean" if s == 0 else "severity " ~ s }}</th>{% endfor %}</tr>
{% for relation, cells in grid.rows %}
  <tr><th scope="row">{{ relation }}</th>{% for text, style, title in cells %}<td style="{{ style }}" title="{{ title }}">{{ text }}</td>{% endfor %}</tr>
{% endfor %}
</table>
</body>
</html>
"""


def _settings_text(payload: Mapping[str, Any]) -> str:
    return (
        f"{payload.get('seeds')} seeds x {payload.get('samples_per_seed')} draws per relation and severity, "
        f"{payload.get('draws')} draws in {float(payload.get('seconds') or 0.0):.1f} s; rng seed "
        f"{payload.get('rng_seed')}; per class by {payload.get('class_source')}."
    )


def _pair_text(payload: Mapping[str, Any]) -> str:
    workload = payload.get("workload") or {}
    pair = f"{workload.get('model', 'reference')} vs {workload.get('candidate', 'candidate')}"
    return f"{pair}; data: {workload.get('data', '—')}"


def render_estimate_html(payload: Mapping[str, Any]) -> str:
    """A self-contained HTML page of an ``estimate.json`` payload: the relations x severities heatmap."""
    import jinja2

    grid = estimate_grid(payload.get("records"))
    if grid is None:
        raise ValueError("payload has no estimate records")
    confidence = round(100 * float(payload.get("confidence") or 0.95))
    page = jinja2.Environment(autoescape=True).from_string(_PAGE)
    return page.render(pair=_pair_text(payload), settings=_settings_text(payload), grid=grid, confidence=confidence)


def render_estimate_markdown(payload: Mapping[str, Any]) -> str:
    """Markdown of an ``estimate.json`` payload: what was compared, the settings, the table."""
    table = estimate_markdown_rows(payload.get("records"))
    if table is None:
        raise ValueError("payload has no estimate records")
    header, rows = table
    worst = worst_entry(payload.get("records"))
    lines = ["# Divergence probability", "", _pair_text(payload), "", _settings_text(payload), "",
             f"Highest upper bound: {worst['relation']} at severity {worst['severity']}, {cell_text(worst)} %.", "",
             "| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", "Percent of draws on which the two labels differ, with the interval over seeds. Severity s draws "
              "each relation's parameters uniformly over its natural range at s; severity 0 is the clean inputs."]
    return "\n".join(lines) + "\n"
