"""Text forms of report values shared by the HTML and Markdown renderers.

Functions here return plain (unescaped) strings; each renderer escapes them
for its own format.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
from typing import Any, Mapping, Sequence

__all__ = [
    "MISSING",
    "clean_text",
    "top_probabilities",
    "pair_text",
    "precision_text",
    "overview_rows",
    "replay_command",
    "format_number",
    "format_value",
    "format_params",
    "format_chain",
    "top_probability",
    "summary_rows",
]

#: Shown where a value is absent or ``None`` (e.g. a non-finite float
#: stored as JSON ``null``).
MISSING = "—"

# C0/C1 control characters other than tab, newline and carriage return,
# lone surrogates and the non-characters U+FFFE / U+FFFF: none is allowed in
# XML 1.0, and in HTML they are parse errors that browsers show as garbage.
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def clean_text(text: Any) -> str:
    r"""`text` as a string with control characters made visible.

    Each character that XML 1.0 forbids or that HTML treats as a parse error
    (C0 / C1 controls except tab, newline and carriage return, lone
    surrogates, U+FFFE, U+FFFF) is replaced by its escape, e.g. ``\x1b``.
    Markup characters are left alone: each renderer escapes those.

    Examples
    --------
    >>> clean_text("a\x1bb\x00")
    'a\\x1bb\\x00'
    """
    return _CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                           else f"\\u{ord(m.group()):04x}", str(text))


def format_number(value: Any, digits: int = 6) -> str:
    """Format a number compactly (``%.{digits}g``); ``inf`` as ``∞``.

    Examples
    --------
    >>> format_number(12.5), format_number(0.1 + 0.2), format_number(float("inf"))
    ('12.5', '0.3', '∞')
    """
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        return f"{value:.{digits}g}"
    return str(value)


def format_value(value: Any) -> str:
    """Format a config or version value for a key/value table.

    Strings are shown as they are, numbers via :func:`format_number`, and
    lists / dicts as compact JSON.
    """
    if value is None:
        return MISSING
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return format_number(value)
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def _param_value(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_param_value(v) for v in value) + "]"
    if isinstance(value, (bool, int, float)) or value is None:
        return "None" if value is None else format_number(value)
    return str(value)


def format_params(params: Mapping[str, Any] | None) -> str:
    """Format relation parameters as ``name=value`` pairs.

    Examples
    --------
    >>> format_params({"angle": 12.5, "mode": "reflect"})
    "angle=12.5, mode='reflect'"
    """
    if not params:
        return ""
    return ", ".join(f"{k}={_param_value(v)}" for k, v in params.items())


def format_chain(chain: Sequence[Mapping[str, Any]] | None) -> str:
    """Format a relation chain as ``name(params) → name(params)``.

    An empty chain is shown as ``(identity)``.

    Examples
    --------
    >>> format_chain([{"relation": "rotation", "params": {"angle": 12.5}},
    ...               {"relation": "gaussian_blur", "params": {"sigma": 0.8}}])
    'rotation(angle=12.5) → gaussian_blur(sigma=0.8)'
    """
    if not chain:
        return "(identity)"
    steps = []
    for step in chain:
        name = str(step.get("relation", "?"))
        steps.append(f"{name}({format_params(step.get('params'))})")
    return " → ".join(steps)


def top_probability(probs: Sequence[Any] | None) -> str:
    """Largest probability in `probs`, formatted; ``—`` if unknown."""
    values = [p for p in (probs or []) if isinstance(p, (int, float)) and p == p]
    if not values:
        return MISSING
    return f"{max(values):.3f}"


def summary_rows(summary: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Label/value rows of the campaign summary, in display order.

    Missing entries are shown as ``—``; the success rate (a fraction in
    ``[0, 1]``) is shown as a percentage.
    """
    s = summary or {}
    rate = s.get("success_rate")
    if isinstance(rate, (int, float)) and not isinstance(rate, bool) and math.isfinite(rate):
        rate_text = f"{100.0 * rate:.1f} %"
    else:
        rate_text = format_number(rate)
    wall = s.get("wall_seconds")
    wall_text = f"{wall:.1f}" if isinstance(wall, float) and math.isfinite(wall) else format_number(wall)
    return [
        ("Seeds", format_number(s.get("seeds"))),
        ("Seeds disagreeing initially", format_number(s.get("seeds_disagreeing_initially"))),
        ("Seeds with divergence", format_number(s.get("seeds_with_divergence"))),
        ("Success rate", rate_text),
        ("Queries", format_number(s.get("queries"))),
        ("Median queries to first divergence",
         format_number(s.get("median_queries_to_first_divergence"))),
        ("Wall seconds", wall_text),
        ("Interrupted", format_number(s.get("interrupted"))),
    ]


def top_probabilities(probs: Sequence[Any] | None, k: int = 3) -> list[tuple[str, str]]:
    """The `k` most probable classes as ``(class index, probability)`` text.

    Entries that are not finite numbers (e.g. ``None`` for a non-finite value
    read back from JSON) are skipped; ties keep the lower class index first.

    Examples
    --------
    >>> top_probabilities([0.1, 0.7, 0.2], k=2)
    [('1', '0.700'), ('2', '0.200')]
    """
    values = [
        (i, float(p)) for i, p in enumerate(probs or [])
        if isinstance(p, (int, float)) and not isinstance(p, bool) and math.isfinite(p)
    ]
    values.sort(key=lambda item: (-item[1], item[0]))
    return [(str(i), f"{p:.3f}") for i, p in values[:k]]


def pair_text(report: Mapping[str, Any]) -> str:
    """``reference / candidate``: the models a campaign compared.

    Taken from ``workload.model`` / ``workload.candidate`` (descriptions the
    campaign writes), else from ``config.model`` / ``config.candidate`` (or
    ``config.precision``); ``—`` for a side that is unknown.
    """
    workload = report.get("workload") or {}
    config = report.get("config") or {}
    reference = workload.get("model") or config.get("model")
    candidate = (workload.get("candidate") or config.get("candidate")
                 or config.get("precision"))
    return f"{format_value(reference)} / {format_value(candidate)}"


def precision_text(config: Mapping[str, Any] | None) -> str:
    """The candidate's precision spec: ``config.precision`` else ``config.candidate``."""
    config = config or {}
    value = config.get("precision")
    if value is None:
        value = config.get("candidate")
    return format_value(value)


def overview_rows(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Rows shown first in every report: what was compared, then the results.

    The pair, precision spec, search strategy and mode (when recorded),
    budget per seed, then :func:`summary_rows`.
    """
    config = report.get("config") or {}
    rows = [("Pair", pair_text(report)), ("Precision", precision_text(config))]
    if config.get("strategy") is not None:
        rows.append(("Strategy", format_value(config.get("strategy"))))
    if config.get("mode") is not None:
        rows.append(("Mode", format_value(config.get("mode"))))
    rows.append(("Budget per seed", format_value(config.get("budget"))))
    return rows + summary_rows(report.get("summary"))


def replay_command(report_dir: str | os.PathLike[str] | None, div_id: Any = None) -> str:
    """The shell command that re-executes a campaign's divergences.

    Parameters
    ----------
    report_dir : str or os.PathLike or None
        The campaign's output folder (holding ``corpus.sqlite``); ``None``
        gives the placeholder ``DIR``.
    div_id : int, optional
        One divergence id (``--id``); default: all of them.

    Examples
    --------
    >>> replay_command("runs/a b", 3)
    "diverfuzz replay 'runs/a b' --id 3"
    """
    folder = "DIR" if report_dir is None else shlex.quote(clean_text(os.fspath(report_dir)))
    command = f"diverfuzz replay {folder}"
    if div_id is not None:
        command += f" --id {shlex.quote(clean_text(format_value(div_id)))}"
    return command
