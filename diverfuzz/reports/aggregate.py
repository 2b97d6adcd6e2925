"""Counts over a record's divergences, shared by the HTML and Markdown reports.

Each function reads the plain record (``report["divergences"]``) and
returns plain, unescaped text keys; the renderers escape them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Mapping, Sequence

from .formatting import format_value

__all__ = ["effective_chain", "relation_counts", "label_change_counts", "label_matrix"]


def effective_chain(divergence: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The chain that explains `divergence`: ``minimal_chain`` if recorded, else ``chain``.

    A shrunk ``minimal_chain`` (when the campaign shrank the divergence) holds
    only the relations needed to keep the models apart, so it is what the
    reports show and count.

    Examples
    --------
    >>> effective_chain({"chain": [{"relation": "a"}, {"relation": "b"}],
    ...                  "minimal_chain": [{"relation": "b"}]})
    [{'relation': 'b'}]
    >>> effective_chain({"chain": [{"relation": "a"}], "minimal_chain": None})
    [{'relation': 'a'}]
    """
    minimal = divergence.get("minimal_chain")
    if isinstance(minimal, Sequence) and not isinstance(minimal, str):
        return [s for s in minimal if isinstance(s, Mapping)]
    chain = divergence.get("chain")
    if isinstance(chain, Sequence) and not isinstance(chain, str):
        return [s for s in chain if isinstance(s, Mapping)]
    return []


def relation_counts(divergences: Sequence[Mapping[str, Any]]) -> list[tuple[str, int]]:
    """How many divergences use each relation, most frequent first.

    A divergence counts once per relation its :func:`effective_chain`
    contains, however many times the relation occurs in it.  Ties are
    ordered by name.

    Examples
    --------
    >>> relation_counts([{"chain": [{"relation": "blur"}, {"relation": "blur"}]},
    ...                  {"chain": [{"relation": "rotation"}, {"relation": "blur"}]}])
    [('blur', 2), ('rotation', 1)]
    """
    counts: Counter[str] = Counter()
    for div in divergences:
        names = {format_value(step.get("relation", "?")) for step in effective_chain(div)}
        counts.update(names)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def label_change_counts(
    divergences: Sequence[Mapping[str, Any]],
) -> list[tuple[str, str, int]]:
    """``(reference label, candidate label, count)``, most frequent first.

    Examples
    --------
    >>> label_change_counts([{"reference_label": 3, "candidate_label": 5},
    ...                      {"reference_label": 3, "candidate_label": 5},
    ...                      {"reference_label": 1, "candidate_label": 7}])
    [('3', '5', 2), ('1', '7', 1)]
    """
    counts: Counter[tuple[str, str]] = Counter(
        (format_value(d.get("reference_label")), format_value(d.get("candidate_label")))
        for d in divergences
    )
    return [(r, c, n) for (r, c), n in
            sorted(counts.items(), key=lambda item: (-item[1], _label_key(item[0][0]),
                                                     _label_key(item[0][1])))]


def _label_key(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def label_matrix(
    changes: Sequence[tuple[str, str, int]], *, max_labels: int = 12,
) -> tuple[list[str], list[str], list[list[int]]] | None:
    """Reference x candidate count matrix of `changes`, or ``None`` if too large.

    Parameters
    ----------
    changes : sequence of (str, str, int)
        Output of :func:`label_change_counts`.
    max_labels : int, optional
        Give ``None`` when either side has more distinct labels than this
        (a bar chart of the top pairs reads better then).  Default 12.

    Returns
    -------
    (rows, columns, counts) or None
        Reference labels, candidate labels (numeric labels in numeric
        order) and ``counts[i][j]``, the number of divergences from
        ``rows[i]`` to ``columns[j]``.
    """
    rows = sorted({r for r, _, _ in changes}, key=_label_key)
    cols = sorted({c for _, c, _ in changes}, key=_label_key)
    if not rows or len(rows) > max_labels or len(cols) > max_labels:
        return None
    index_r = {label: i for i, label in enumerate(rows)}
    index_c = {label: j for j, label in enumerate(cols)}
    counts = [[0] * len(cols) for _ in rows]
    for r, c, n in changes:
        counts[index_r[r]][index_c[c]] += n
    return rows, cols, counts
