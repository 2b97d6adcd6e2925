"""Layer attribution: which layers' reduced precision a divergence depends on, and the smallest fix.

Both searches work on a *restorer*: a function that takes a set of layer
names to keep at the reference's precision and returns the counterpart's
logits on every divergence input at once (one build per set, cached by the
caller, e.g. :class:`diverfuzz.models.precision.restore.PartialCounterparts`).

:func:`attribute`
    per divergence, the smallest set of layers found whose restoration
    makes the counterpart agree with the reference: every single layer
    first; when none suffices, layers are added in the order of how much
    each alone raises the reference label's margin until the pair agrees,
    and then each is dropped again if the pair still agrees without it
    (a greedy search with backward elimination).
:func:`smallest_fix`
    the campaign-level fix: the smallest set of layers (ties: the fewest
    weights) whose restoration makes at least ``target`` of the divergences
    agree, by trying every subset when there are few layers, else by
    :func:`greedy_fix`: layers (or culprit sets) added one step at a time,
    each the one that makes the most more divergences agree per added
    layer (greedy set cover).

Notes
-----
Restoring layers one at a time to find where quantization error matters is
what ONNX Runtime's ``qdq_loss_debug``, TensorFlow Lite's quantization
debugger and mixed-precision searches (HAWQ, Dong et al., ICCV 2019; AIMET's
AMP) do for average error; here it is done for the inputs on which the
answer flips. The greedy cover is within ``1 + ln n`` of the smallest
cover (Chvatal, "A greedy heuristic for the set-covering problem", 1979).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Callable, Mapping, Sequence

import numpy as np

#: A restorer: the counterpart's logits (D, classes) on the D divergence inputs with these layers kept.
Restorer = Callable[[frozenset], np.ndarray]


def margins(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per row, the logit of ``labels`` minus the largest other logit (> 0: the row predicts ``labels``).

    Parameters
    ----------
    logits : ndarray, (N, classes)
    labels : ndarray of int, (N,)

    Returns
    -------
    ndarray, float64, (N,)
    """
    logits = np.asarray(logits, dtype=np.float64)
    rows = np.arange(len(logits))
    own = logits[rows, labels]
    other = logits.copy()
    other[rows, labels] = -np.inf
    return own - other.max(axis=1)


def agrees(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Whether each row's top-1 label equals ``labels`` (ties go to the lowest index, as ``argmax``)."""
    return np.asarray(logits).argmax(axis=1) == np.asarray(labels)


@dataclass
class Attribution:
    """What one divergence depends on.

    ``culprits``: the smallest set of layers found whose restoration makes
    the pair agree (empty when even restoring every layer does not, which
    means the disagreement does not come from the layers' precision);
    ``single``: every layer that alone suffices; ``resolved``: whether
    restoring ``culprits`` makes the pair agree; ``margin_gain``: per layer,
    how much restoring it alone raises the reference label's margin;
    ``diverges``: False when the counterpart already agrees on the input
    (a stored divergence that does not reproduce).
    """

    culprits: list[str]
    single: list[str]
    resolved: bool
    margin_gain: dict[str, float] = field(default_factory=dict)
    diverges: bool = True


def attribute(restore: Restorer, layers: Sequence[str], labels: np.ndarray) -> list[Attribution]:
    """Attribute every divergence to the layers whose precision it depends on (see the module docstring).

    Parameters
    ----------
    restore : callable
        ``restore(frozenset_of_layers) -> logits (D, classes)`` on the D
        divergence inputs; ``restore(frozenset())`` is the counterpart itself.
    layers : sequence of str
        The layers that can be restored, in model order.
    labels : ndarray of int, (D,)
        The reference's labels on the inputs.

    Returns
    -------
    list of Attribution, one per input.
    """
    labels = np.asarray(labels)
    base = margins(restore(frozenset()), labels)
    gains = {name: margins(restore(frozenset([name])), labels) - base for name in layers}
    out = []
    for d in range(len(labels)):
        gain = {name: float(g[d]) for name, g in gains.items()}
        if base[d] > 0:  # the counterpart agrees on it already: nothing to attribute
            out.append(Attribution([], [], True, gain, diverges=False))
            continue
        single = [name for name in layers if base[d] + gain[name] > 0]
        if single:
            best = max(single, key=lambda n: (gain[n], -layers.index(n)))
            out.append(Attribution([best], single, True, gain))
            continue
        culprits = _grow_and_prune(restore, list(layers), labels, d, gain)
        out.append(Attribution(culprits or [], [], culprits is not None, gain))
    return out


def _grow_and_prune(
    restore: Restorer, layers: list[str], labels: np.ndarray, d: int, gain: Mapping[str, float]
) -> list[str] | None:
    """Add layers by decreasing margin gain until input ``d`` agrees, then drop each that is not needed."""
    order = sorted(layers, key=lambda n: (-gain[n], layers.index(n)))
    chosen: list[str] = []
    for name in order:
        chosen.append(name)
        if margins(restore(frozenset(chosen)), labels)[d] > 0:
            break
    else:
        return None
    for name in list(reversed(chosen[:-1])):  # the last one added was needed
        trial = [n for n in chosen if n != name]
        if margins(restore(frozenset(trial)), labels)[d] > 0:
            chosen = trial
    return sorted(chosen, key=layers.index)


@dataclass
class Fix:
    """The campaign-level fix: ``layers`` kept at higher precision, and the share of divergences each step removes.

    ``removed``: the share of the divergences that agree with ``layers``
    restored (as measured on the restorer's inputs); ``steps``: after each
    step, ``{"layers": the layers it added, "removed"}``; ``reached``:
    whether ``removed`` reaches the target.
    """

    layers: list[str]
    removed: float
    steps: list[dict] = field(default_factory=list)
    reached: bool = True


def greedy_fix(
    restore: Restorer,
    candidates: Sequence[str],
    labels: np.ndarray,
    *,
    groups: Sequence[Sequence[str]] = (),
    weights: Mapping[str, int] | None = None,
    target: float = 0.9,
    max_weight: float | None = None,
    start: Sequence[str] = (),
) -> Fix:
    """The fewest layers (greedily) whose restoration makes at least ``target`` of the inputs agree.

    Each step adds the move that makes the most more inputs agree per layer
    it adds (ties: the fewest added weights, then the earliest candidate),
    as greedy weighted set cover does: a single layer of
    ``candidates``, or one of ``groups`` (layers that only fix an input
    together, such as a culprit set of :func:`attribute`), which a
    one-layer step never finds.

    Parameters
    ----------
    restore : callable
        As for :func:`attribute`.
    candidates : sequence of str
        Layers to choose from (e.g. every culprit of :func:`attribute`, most
        frequent first, then the model's other layers).
    labels : ndarray of int, (D,)
        The reference's labels on the inputs.
    groups : sequence of sequence of str, optional
        Sets of layers that may be added in one step (default none).
    weights : mapping of str to int, optional
        Parameters per layer, for breaking ties toward cheaper moves (default: all 0).
    target : float, optional
        Share of the inputs that must agree, in ``(0, 1]`` (default 0.9).
    max_weight : float, optional
        Most weights the chosen layers may hold together; moves beyond it are
        skipped (default: no limit).
    start : sequence of str, optional
        Layers already chosen (default none).

    Returns
    -------
    Fix
        With ``layers`` empty when there are no inputs, or when they already agree.
    """
    labels = np.asarray(labels)
    if len(labels) == 0:
        return Fix([], 1.0)
    weights = weights or {}
    chosen: list[str] = list(start)
    removed = float(agrees(restore(frozenset(chosen)), labels).mean())
    steps = []
    moves = [(name,) for name in candidates] + [tuple(g) for g in groups if len(g) > 1]
    while removed < target:
        scored = []
        for k, move in enumerate(moves):
            added = [name for name in move if name not in chosen]
            cost = sum(weights.get(n, 0) for n in chosen + added)
            if not added or (max_weight is not None and cost > max_weight):
                continue
            share = float(agrees(restore(frozenset(chosen + added)), labels).mean())
            gain = (share - removed) / len(added)
            scored.append((gain, -sum(weights.get(n, 0) for n in added), -k, share, added))
        if not scored:
            break
        _, _, _, share, added = max(scored)
        if share <= removed:
            break  # no move makes more inputs agree
        removed = share
        chosen += added
        steps.append({"layers": added, "removed": removed})
    return Fix(chosen, removed, steps, reached=removed >= target)


def smallest_fix(
    restore: Restorer,
    candidates: Sequence[str],
    labels: np.ndarray,
    *,
    weights: Mapping[str, int] | None = None,
    target: float = 0.9,
    max_weight: float | None = None,
    max_sets: int = 64,
    groups: Sequence[Sequence[str]] = (),
) -> Fix:
    """The smallest set of layers whose restoration makes at least ``target`` of the inputs agree.

    With at most ``max_sets`` subsets of ``candidates`` (six layers for the
    default 64), every subset is tried by increasing size, and among the
    smallest that reach ``target`` the one with the fewest weights (then the
    most inputs agreeing) wins: exact, which matters because restoring a
    layer can also flip inputs the other way, so greedy steps can stall.
    Beyond that, :func:`greedy_fix` (with ``groups``).

    Parameters
    ----------
    restore, candidates, labels, weights, target, groups
        As for :func:`greedy_fix`.
    max_weight : float, optional
        Most weights (summed over the chosen layers, in the units of
        ``weights``) the fix may keep; subsets above it are not considered.
        When none within it reaches ``target``, the fix is the one within it
        that makes the most inputs agree (``Fix.reached`` False). Default: no limit.
    max_sets : int, optional
        Most subsets to enumerate (default 64, >= 1).

    Returns
    -------
    Fix
        When the search was exhaustive, ``steps`` holds per size the subset
        that makes the most inputs agree (the trade-off between layers kept
        and divergences removed). When no subset reaches ``target``: the
        best one found, with ``reached`` False.
    """
    labels = np.asarray(labels)
    if len(labels) == 0:
        return Fix([], 1.0)
    weights = weights or {}
    if 2 ** len(candidates) > max_sets:
        fix = greedy_fix(restore, candidates, labels, groups=groups, weights=weights, target=target, max_weight=max_weight)
        fix.reached = fix.removed >= target
        return fix
    order = list(candidates)
    frontier = []  # per size, the subset within max_weight that makes the most inputs agree (ties: fewest weights)
    best: tuple | None = None
    for size in range(0, len(order) + 1):
        scored = []
        for subset in combinations(order, size):
            cost = sum(weights.get(n, 0) for n in subset)
            if max_weight is not None and cost > max_weight:
                continue
            share = float(agrees(restore(frozenset(subset)), labels).mean())
            scored.append((share >= target, -cost if share >= target else share, share, -cost, list(subset)))
        if not scored:
            continue
        top = max(scored)
        reached, _, share, _, layers = top
        if size:
            frontier.append({"layers": layers, "removed": share})
        if reached:
            return Fix(layers, share, frontier)
        if best is None or (share, top[3]) > (best[2], best[3]):
            best = top
    _, _, share, _, layers = best
    return Fix(layers, share, frontier, reached=False)


def cover_fix(
    attributions: Sequence[Attribution],
    restore: Restorer,
    layers: Sequence[str],
    labels: np.ndarray,
    *,
    weights: Mapping[str, int] | None = None,
    target: float = 0.9,
    max_weight: float | None = None,
    max_sets: int = 64,
) -> Fix:
    """The campaign-level fix from the attributions: exact for few layers, set cover on culprits beyond.

    With at most ``max_sets`` subsets of ``layers``, :func:`smallest_fix`.
    Otherwise the attributions are the sets to cover: an input counts as
    covered by a set of layers holding one of its single-layer fixes or its
    whole culprit set. Greedy set cover over those (each step the culprit
    set or single layer covering the most inputs per added layer; ties: the
    fewest weights) needs no build; the result is then measured, layers that
    are not needed are dropped, and when it falls short of ``target``
    (restoring layers interacts) :func:`greedy_fix` continues from it.

    Parameters
    ----------
    attributions : sequence of Attribution
        From :func:`attribute`, one per input of ``restore``.
    restore, labels, weights, target, max_weight
        As for :func:`smallest_fix`.
    layers : sequence of str
        The layers that can be restored, in model order.
    max_sets : int, optional
        Most subsets to enumerate for the exact search (default 64).

    Returns
    -------
    Fix
    """
    labels = np.asarray(labels)
    weights = weights or {}
    groups = sorted({tuple(a.culprits) for a in attributions if len(a.culprits) > 1})
    if 2 ** len(layers) <= max_sets or len(labels) == 0:
        return smallest_fix(restore, layers, labels, weights=weights, target=target, max_weight=max_weight,
                            max_sets=max_sets, groups=groups)
    options = [
        [frozenset([n]) for n in a.single] + ([frozenset(a.culprits)] if a.culprits else [])
        for a in attributions if a.diverges
    ]
    chosen: set[str] = set()
    needed = target * len(labels) - sum(1 for a in attributions if not a.diverges)
    covered = [False] * len(options)
    while sum(covered) < needed:
        scored = []
        for move in {o - chosen for opts, done in zip(options, covered) if not done for o in opts}:
            cost = sum(weights.get(n, 0) for n in chosen | move)
            if max_weight is not None and cost > max_weight:
                continue
            gain = sum(1 for opts, done in zip(options, covered) if not done and any(o <= chosen | move for o in opts))
            scored.append((gain / max(1, len(move)), -sum(weights.get(n, 0) for n in move), sorted(move)))
        if not scored:
            break
        gain, _, move = max(scored)
        if gain <= 0:
            break
        chosen |= set(move)
        covered = [done or any(o <= chosen for o in opts) for opts, done in zip(options, covered)]
    order = [n for n in layers if n in chosen]
    share = float(agrees(restore(frozenset(order)), labels).mean())
    for name in sorted(order, key=lambda n: weights.get(n, 0), reverse=True):  # drop what is not needed
        trial = [n for n in order if n != name]
        trial_share = float(agrees(restore(frozenset(trial)), labels).mean())
        if trial_share >= min(share, target):
            order, share = trial, trial_share
    steps = [{"layers": list(order), "removed": share}]
    if share >= target:
        return Fix(order, share, steps)
    more = greedy_fix(restore, layers, labels, groups=groups, weights=weights, target=target,
                      max_weight=max_weight, start=order)
    return Fix(more.layers, more.removed, steps + more.steps, reached=more.removed >= target)


def culprit_histogram(attributions: Sequence[Attribution], layers: Sequence[str]) -> dict[str, int]:
    """How many divergences name each layer among their culprits, in model order (layers never named: 0)."""
    counts = {name: 0 for name in layers}
    for a in attributions:
        for name in a.culprits:
            counts[name] = counts.get(name, 0) + 1
    return counts


__all__ = [
    "Attribution", "Fix", "agrees", "attribute", "cover_fix", "culprit_histogram", "greedy_fix", "margins", "smallest_fix",
]
