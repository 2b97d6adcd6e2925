"""Minimise a divergent chain: fewer steps, parameters nearer the identity.

A divergence found by search usually carries steps that play no part in
it. :func:`shrink` removes them and pulls the remaining parameters towards
their identity values while the chain still diverges (with the same label
pair) and stays valid, in the spirit of Hypothesis' shrinker: every
accepted change is checked on the models, so the result is never worse
than the input. Its queries are counted apart from the search budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from diverfuzz.fuzzer.search.evaluate import (
    Divergence,
    SeedEvaluator,
    reference_margins,
)
from diverfuzz.fuzzer.search.strength_grid import grid_boundary
from diverfuzz.models.pair import ModelPair
from diverfuzz.oracles import softmax
from diverfuzz.relations import REGISTRY, Chain, Step, l2

#: Parameters never moved towards identity (they select, not scale, the noise).
_FIXED_PARAMS = frozenset({"seed"})


@dataclass(frozen=True)
class ShrinkResult:
    """A minimal chain, its L2 distance to the seed, and the queries spent."""

    chain: Chain
    distance: float
    queries: int


def _probe(pair: ModelPair, judge: Callable, labels: tuple[int, int], min_margin: float = 0.0):
    """``(keeps, counter)`` for :func:`shrink`; ``judge(chains) -> (mutants, valid, ...)``
    (e.g. :meth:`SeedEvaluator.judge`). With ``min_margin`` a kept chain also keeps the
    reference's top-1 minus top-2 probability at least that (a decisive divergence stays decisive)."""
    counter = {"queries": 0}

    def keeps(chains: Sequence[Chain]) -> np.ndarray:
        """Which chains are valid and still give the recorded label pair."""
        out = np.zeros(len(chains), dtype=bool)
        if not chains:
            return out
        mutants, valid = judge(chains)[:2]
        counter["queries"] += len(chains)
        idx = np.flatnonzero(valid)
        if len(idx):
            ref, cand = pair.logits(mutants[idx])
            out[idx] = (ref.argmax(axis=1) == labels[0]) & (cand.argmax(axis=1) == labels[1])
            if min_margin > 0:
                out[idx] &= reference_margins(softmax(ref)) >= min_margin
        return out

    return keeps, counter


def _scaled(step: Step, alpha: float) -> Step:
    """``step`` with every scalable parameter ``alpha`` of the way from identity."""
    rel = REGISTRY[step.relation]
    params = {}
    for name, spec in rel.params.items():
        value = step.params[name]
        if name in _FIXED_PARAMS:
            params[name] = value
            continue
        moved = spec.identity + alpha * (value - spec.identity)
        params[name] = int(round(moved)) if spec.integer else float(min(max(moved, spec.low), spec.high))
    return Step(step.relation, params)


def _weakest_step(
    chain: Chain, i: int, keeps: Callable[[Sequence[Chain]], np.ndarray], bisections: int, allowed: int
) -> tuple[Chain, int]:
    """``chain`` with step ``i`` at the smallest grid ``alpha`` that ``keeps`` accepts, and the queries spent.

    Two batched rounds (:func:`~diverfuzz.fuzzer.search.strength_grid.grid_boundary`), at most
    ``allowed`` queries; points beyond them count as rejected. A point whose scaled step is the step
    itself (integer parameters) is ``chain``, known to be kept: no query.
    """
    trials: dict[float, Chain] = {}
    spent = 0

    def moved(alpha: float) -> Chain:
        if alpha not in trials:
            trials[alpha] = Chain(chain.steps[:i] + (_scaled(chain.steps[i], alpha),) + chain.steps[i + 1 :])
        return trials[alpha]

    def accepted(points) -> np.ndarray:
        nonlocal spent
        same = np.array([moved(a).steps[i] == chain.steps[i] for _, a in points], dtype=bool)
        ask = np.flatnonzero(~same)[: max(0, allowed - spent)]
        out = same.copy()
        if len(ask):
            out[ask] = keeps([moved(points[k][1]) for k in ask])
            spent += len(ask)
        return out

    (alpha,) = grid_boundary(accepted, 1, bisections, strongest=False)
    return (moved(alpha) if alpha < 1.0 else chain), spent


def shrink(
    chain: Chain,
    keeps: Callable[[Sequence[Chain]], np.ndarray],
    *,
    max_queries: int = 64,
    bisections: int = 5,
) -> tuple[Chain, int]:
    """Minimise ``chain`` under the predicate ``keeps``; returns ``(chain, queries)``.

    Parameters
    ----------
    chain : Chain
        A chain for which ``keeps([chain])`` holds (not re-checked).
    keeps : callable
        ``keeps(chains) -> bool array``: which chains still diverge and are
        valid. Every call costs ``len(chains)`` queries.
    max_queries : int, optional
        Query cap (default 64); shrinking stops early when it is reached.
    bisections : int, optional
        Resolution of the search for each step's weakest parameters, in halvings
        (default 5, i.e. a 1/32 resolution), reached in two batched rounds
        (:func:`~diverfuzz.fuzzer.search.strength_grid.grid_boundary`).

    Returns
    -------
    (Chain, int)
        A chain no longer than ``chain`` that ``keeps`` accepted (or
        ``chain`` itself), and the queries spent. The chain is 1-minimal:
        ``keeps`` rejects every chain with one of its steps removed.

    Notes
    -----
    Two passes, repeated while they change something: (1) try every chain
    with one step removed, as one batch, and keep the first accepted; (2)
    for each step, find the smallest ``alpha`` on the grid ``j / 2**bisections`` for
    which the step with parameters ``identity + alpha * (value - identity)``
    is accepted (``seed`` parameters stay fixed), with two batched calls of
    ``keeps`` (a coarse grid, then a fine one inside its winning cell). ``max_queries`` caps those
    passes; a last deletion pass then runs to its fixed point whatever the
    cap (at most ``L (L + 1) / 2`` more queries for a chain of ``L`` steps),
    so the result is always 1-minimal (Zeller and Hildebrandt, "Simplifying
    and isolating failure-inducing input", IEEE TSE 2002).
    """
    spent = 0
    current = chain
    verified: Chain | None = None  # a chain no single deletion of which is kept
    changed = True
    while changed and spent < max_queries:
        changed = False
        while len(current) and spent < max_queries:
            drops = [Chain(current.steps[:i] + current.steps[i + 1 :]) for i in range(len(current))]
            drops = drops[: max_queries - spent]
            ok = keeps(drops)
            spent += len(drops)
            if not ok.any():
                if len(drops) == len(current):
                    verified = current
                break
            current, changed = drops[int(np.argmax(ok))], True
        for i in range(len(current)):
            if spent >= max_queries:
                break
            weaker, used = _weakest_step(current, i, keeps, bisections, max_queries - spent)
            spent += used
            if weaker != current:
                current, changed = weaker, True
    while len(current) and current != verified:
        drops = [Chain(current.steps[:i] + current.steps[i + 1 :]) for i in range(len(current))]
        ok = keeps(drops)
        spent += len(drops)
        if not ok.any():
            break
        current = drops[int(np.argmax(ok))]
    return current, spent


def shrink_divergence(divergence: Divergence, evaluator: SeedEvaluator, *, max_queries: int = 64) -> Divergence:
    """``divergence`` with ``minimal_chain``, ``minimal_distance`` and ``shrink_queries`` filled in.

    Uses the evaluator's model pair, seed and validity but not its budget:
    shrinking queries are counted in ``shrink_queries`` only.
    """
    keeps, _ = _probe(
        evaluator.pair, evaluator.judge, (divergence.reference_label, divergence.candidate_label), evaluator.min_margin
    )
    minimal, spent = shrink(divergence.chain, keeps, max_queries=max_queries)
    distance = l2(evaluator.seed, minimal.apply(evaluator.seed))
    return replace(divergence, minimal_chain=minimal, minimal_distance=float(distance), shrink_queries=spent)
