"""Text forms of report values shared by the HTML and Markdown renderers.

Functions here return plain (unescaped) strings; each renderer escapes them
for its own format.
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping, Sequence

__all__ = [
    "MISSING",
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
