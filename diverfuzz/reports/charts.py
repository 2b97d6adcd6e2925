"""Inline SVG charts for the HTML report, built without scripts.

Charts are assembled with :mod:`xml.etree.ElementTree`, which escapes every
text node and attribute value (``&``, ``<``, ``>``, ``"``); control
characters are made visible first with :func:`diverfuzz.reports.formatting.clean_text`,
so the SVG is well-formed XML whatever the labels hold.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Sequence

from markupsafe import Markup

from .errors import ReportError
from .formatting import clean_text

__all__ = ["bar_chart_svg"]

_ROW = 22          # px per bar
_BAR = 16          # bar thickness
_CHAR = 7.2        # approximate width of one 12 px character
_MAX_LABEL = 36    # characters shown before truncating with "…"


def _short(label: str) -> str:
    return label if len(label) <= _MAX_LABEL else label[: _MAX_LABEL - 1] + "…"


def bar_chart_svg(
    items: Sequence[tuple[str, int]],
    *,
    title: str,
    max_bars: int = 20,
    width: int = 640,
    color: str = "#3b6ea5",
) -> Markup:
    """A horizontal bar chart as an inline ``<svg>`` element.

    Parameters
    ----------
    items : sequence of (str, int)
        ``(label, count)`` pairs in display order (e.g. most frequent first).
        Labels are plain text: they are escaped here.
    title : str
        Accessible name of the chart (``<title>`` and ``aria-label``).
    max_bars : int, optional
        Draw at most this many bars; a final line says how many were left
        out.  Must be >= 1.  Default 20.
    width : int, optional
        Width of the drawing in CSS pixels.  Default 640.
    color : str, optional
        Bar fill colour (a CSS colour chosen by the caller, not user data).

    Returns
    -------
    markupsafe.Markup
        The ``<svg>`` element, safe to insert into an autoescaped template.
        Empty if `items` is empty.

    Raises
    ------
    ReportError
        If `max_bars` < 1 or a count is negative or not an int.

    Notes
    -----
    Each label longer than 36 characters is truncated with ``…``; its full
    text is kept in a ``<title>`` child, which browsers show as a tooltip.
    """
    if isinstance(max_bars, bool) or not isinstance(max_bars, int) or max_bars < 1:
        raise ReportError(f"max_bars={max_bars!r}: expected an int >= 1")
    if not items:
        return Markup("")
    for label, count in items:
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ReportError(
                f"count={count!r} for label {label!r}: expected an int >= 0"
            )
    shown = list(items[:max_bars])
    left_out = len(items) - len(shown)
    labels = [clean_text(label) for label, _ in shown]
    label_px = int(min(_MAX_LABEL, max(len(_short(t)) for t in labels)) * _CHAR) + 12
    count_px = int(len(str(max(c for _, c in shown))) * _CHAR) + 10
    plot_px = max(80, width - label_px - count_px)
    peak = max(c for _, c in shown) or 1
    height = _ROW * len(shown) + (_ROW if left_out else 0) + 4

    svg = ET.Element("svg", {
        "class": "chart", "role": "img", "aria-label": clean_text(title),
        "width": str(width), "height": str(height),
        "viewBox": f"0 0 {width} {height}",
        "font-size": "12", "font-family": "system-ui, sans-serif",
    })
    ET.SubElement(svg, "title").text = clean_text(title)
    for i, ((_, count), text) in enumerate(zip(shown, labels)):
        y = 2 + i * _ROW
        group = ET.SubElement(svg, "g")
        ET.SubElement(group, "title").text = f"{text}: {count}"
        label = ET.SubElement(group, "text", {
            "x": str(label_px - 8), "y": str(y + _BAR - 4), "text-anchor": "end",
            "fill": "#1d1d1f",
        })
        label.text = _short(text)
        bar_w = max(1, round(plot_px * count / peak)) if count else 0
        ET.SubElement(group, "rect", {
            "x": str(label_px), "y": str(y), "width": str(bar_w),
            "height": str(_BAR), "fill": color,
        })
        value = ET.SubElement(group, "text", {
            "x": str(label_px + bar_w + 4), "y": str(y + _BAR - 4), "fill": "#1d1d1f",
        })
        value.text = str(count)
    if left_out:
        more = ET.SubElement(svg, "text", {
            "x": str(label_px), "y": str(2 + len(shown) * _ROW + _BAR - 4),
            "fill": "#555",
        })
        more.text = f"… and {left_out} more"
    return Markup(ET.tostring(svg, encoding="unicode"))
