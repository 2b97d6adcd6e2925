"""Fuzzing one seed: search, shrink, triage. Depends only on its arguments.

Every backend (:mod:`diverfuzz.fuzzer.campaign.backends`) calls :func:`fuzz_seed`; the
driver (:mod:`diverfuzz.fuzzer.campaign.driver`) stores what it returns.
"""

from __future__ import annotations

import time
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import ContextManager

import numpy as np

from diverfuzz.common.errors import DiverfuzzError, ModelError
from diverfuzz.fuzzer.campaign.config import CampaignConfig, parse_strategy_params
from diverfuzz.fuzzer.campaign.replay import triage_mutants
from diverfuzz.fuzzer.campaign.storage.corpus import SeedRecord
from diverfuzz.fuzzer.campaign.workload import Workload, search_relations, seed_input
from diverfuzz.fuzzer.search import SearchSpace, Strategy, get_strategy
from diverfuzz.fuzzer.search.evaluate import Divergence, SeedEvaluator
from diverfuzz.fuzzer.search.shrink import shrink_divergence
from diverfuzz.relations import Validity


def seed_rng(rng_seed: int, seed_index: int) -> np.random.Generator:
    """The generator for one seed: independent of the order seeds are run in,
    so a resumed (or distributed) campaign repeats the same choices."""
    return np.random.default_rng([rng_seed, seed_index])


@dataclass(frozen=True)
class SeedOutcome:
    """What fuzzing one seed produced: plain data, so it crosses process boundaries.

    ``error`` is set when shrinking failed (a model raised while shrinking):
    ``divergences`` are then the unshrunk ones, which the driver stores
    before it raises ``error`` (as a :class:`ModelError` when ``model_error``).

    ``counters`` counts the seed's work beyond its budget queries (see
    :func:`seed_counters`): ``rejected``, ``unchanged``, ``shrink_queries``,
    ``pair_evaluations`` and ``triage_evaluations``.
    """

    record: SeedRecord
    divergences: tuple[Divergence, ...]
    error: str | None = None
    model_error: bool = False
    counters: dict = field(default_factory=dict)


def seed_counters(
    rejected: int, shrink_queries: int, pair_evaluations: int, triage_evaluations: int, unchanged: int = 0
) -> dict:
    """One seed's counters, as stored beside its record.

    Parameters
    ----------
    rejected : int
        Budget queries the validity constraint refused (never run).
    shrink_queries : int
        Candidates the shrinker proposed (outside the budget).
    pair_evaluations : int
        Inputs actually run through both models by the search and the
        shrinker (rejected candidates are not run).
    triage_evaluations : int
        Forward passes of the reference (one input each) spent on MCA triage.
    unchanged : int, optional
        Budget queries the validity constraint accepted that were the seed
        itself (:attr:`SeedEvaluator.unchanged`); default 0.
    """
    return {
        "rejected": int(rejected),
        "unchanged": int(unchanged),
        "shrink_queries": int(shrink_queries),
        "pair_evaluations": int(pair_evaluations),
        "triage_evaluations": int(triage_evaluations),
    }


def search_setup(config: CampaignConfig, workload: Workload) -> tuple[Strategy, SearchSpace, Validity]:
    """The strategy, search space and validity constraint every seed of a campaign uses."""
    validity = Validity.parse(config.validity)
    strategy = get_strategy(
        config.strategy, population=config.population, params=parse_strategy_params(config.strategy_params)
    )
    names = workload.relations or search_relations(config, workload.x.shape[1:])[1]
    if validity.natural:
        return strategy, SearchSpace.natural(names, validity.severity_for(workload.x.shape[1:])), validity
    return strategy, SearchSpace.from_names(names), validity


def relation_threads(threads: int) -> ContextManager[Executor | None]:
    """A pool of ``threads`` threads for relations and validity metrics (None for one thread).

    ``--threads`` sets both torch's intra-op threads and this pool: inference
    and the relations never run at once within a seed, so a campaign uses
    ``threads`` cores either way. The pool is used on inputs of more than
    16,384 values only (:func:`diverfuzz.relations.apply_steps`); relations are pure
    functions of their input and parameters, so nothing found depends on it.
    """
    if threads <= 1:
        return nullcontext(None)
    return ThreadPoolExecutor(threads, thread_name_prefix="diverfuzz-relations")


def fuzz_seed(
    config: CampaignConfig,
    workload: Workload,
    index: int,
    strategy: Strategy,
    space: SearchSpace,
    validity: Validity,
) -> SeedOutcome:
    """Search seed ``index`` of ``workload`` and shrink what it finds.

    Depends only on its arguments and ``seed_rng(config.rng_seed, index)``,
    never on which seeds ran before, so every backend gets the same outcome.
    Raises :class:`DiverfuzzError` when a model raises during the search.
    """
    with relation_threads(config.threads) as pool:
        t0 = time.perf_counter()
        evaluations = workload.pair.queries
        evaluator = SeedEvaluator(
            workload.pair, seed_input(workload, index), index, config.budget, validity, mode=config.mode, pool=pool,
            min_margin=config.min_margin,
        )
        strategy.search(evaluator, space, seed_rng(config.rng_seed, index))

        def record() -> SeedRecord:
            return SeedRecord(
                index,
                evaluator.queries,
                evaluator.divergence is not None,
                evaluator.best_fitness,
                time.perf_counter() - t0,
            )

        # Minimise before storing; shrinking queries are not budget queries.
        try:
            divergences = tuple(shrink_divergence(d, evaluator) for d in evaluator.divergences)
        except DiverfuzzError as exc:
            # Keep them unshrunk; the driver stores them, then raises.
            counters = seed_counters(
                evaluator.rejected, 0, workload.pair.queries - evaluations, 0, unchanged=evaluator.unchanged
            )
            return SeedOutcome(
                record(), tuple(evaluator.divergences), str(exc), isinstance(exc, ModelError), counters
            )
        shrink_queries = sum(d.shrink_queries for d in divergences)
        evaluations = workload.pair.queries - evaluations
        triaged = _triaged(workload, divergences)
        triage_evaluations = sum(
            int(d.triage["samples"]) + 1 for d in triaged if isinstance(d.triage, dict) and "samples" in d.triage
        )
        counters = seed_counters(
            evaluator.rejected, shrink_queries, evaluations, triage_evaluations, unchanged=evaluator.unchanged
        )
        return SeedOutcome(record(), tuple(triaged), counters=counters)


def _triaged(workload: Workload, divergences: tuple[Divergence, ...]) -> list[Divergence]:
    """Label each divergence ``precision-induced`` or ``reference-unstable``.

    The reference is re-run under Monte Carlo Arithmetic at its own precision
    (:func:`diverfuzz.oracles.triage`): a divergence only indicts the counterpart when
    the reference's own label is numerically stable on that input. A
    reference MCA cannot instrument (a plain callable, a model file behind a
    preprocessing wrapper or not, TorchScript, a torch.export program) gets
    ``{"label": "not triaged", "reason": ...}``; one MCA fails on records the error.
    """
    if not divergences:
        return []
    # Triage the chain that is stored and replayed (the minimal one), with the
    # same function replay uses, so both judge the same input the same way.
    inputs = np.stack([(d.minimal_chain or d.chain).apply(seed_input(workload, d.seed_index)) for d in divergences])
    with workload.pair.exclusive():  # MCA runs the reference itself
        results = triage_mutants(workload.pair.reference, inputs, divergences[0].seed_index)
    return [replace(d, triage=t) for d, t in zip(divergences, results)]
