"""Reuse the images of chain prefixes: a step already applied to the same input is not applied again.

Searches apply many chains that share their first steps: DFlare's
trajectory and DiffChaser's chromosomes grow one step per iteration, the
genetic search's offspring keep most of their parents' steps, validity
repair and :meth:`~diverfuzz.fuzzer.search.evaluate.SeedEvaluator.check` compute the
very chains that are then evaluated, and shrinking tries chains that
differ from the divergence in one step. :class:`PrefixCache` keeps the
image after every step of the chains it applied, keyed by the *values* of
the steps so far (:attr:`diverfuzz.relations.Step.key`), and applies a chain from
the longest prefix it holds. Relations are pure and deterministic and
:func:`diverfuzz.relations.apply_steps` applies steps one after the other as
:meth:`diverfuzz.relations.Chain.apply` does, so the result is bit for bit the same.
"""

from __future__ import annotations

from collections import OrderedDict
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from diverfuzz.relations import (
    Chain,
    Validity,
    apply_steps,
    check_input,
)
from diverfuzz.relations.natural import geometric_steps, within
from diverfuzz.relations.validity import SeedMoments, batch_metrics_rows, seed_moments, seed_terms

#: Metric dicts kept for :meth:`PrefixCache.judge` (about 0.5 kB each).
METRICS_KEPT = 8192

#: Moved seeds (natural rule) whose metric moments are kept.
MOVED_SEEDS_KEPT = 64

#: Default memory for cached images: 64 MiB (about 21,000 images of 1x28x28,
#: 110 of 3x224x224).
CACHE_BYTES = 64 * 2**20


@dataclass
class PrefixCache:
    """Images of the chain prefixes applied to one seed, least recently used evicted first.

    Parameters
    ----------
    max_bytes : int, optional
        Memory for cached images (default :data:`CACHE_BYTES`); 0 caches
        nothing.
    pool : concurrent.futures.Executor, optional
        Threads that apply chains and compute validity metrics on large
        inputs (:func:`diverfuzz.relations.apply_steps`,
        :func:`diverfuzz.relations.validity.batch_metrics_rows`). Default None: this thread. The
        results are the same.

    Notes
    -----
    Entries form a trie: ``(parent node, step key) -> (node, image)``, the
    root node 0 being the seed. A new seed (another array object) empties
    the cache.
    """

    max_bytes: int = CACHE_BYTES
    pool: Executor | None = None
    _nodes: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _next: int = field(default=1, repr=False)
    _bytes: int = field(default=0, repr=False)
    _seed: np.ndarray | None = field(default=None, repr=False)
    _seed32: np.ndarray | None = field(default=None, repr=False)
    _checked: set = field(default_factory=set, repr=False)
    _metrics: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _moments: SeedMoments | None = field(default=None, repr=False)
    _moved_moments: OrderedDict = field(default_factory=OrderedDict, repr=False)

    def _start(self, seed: np.ndarray) -> np.ndarray:
        """The validated float32 seed; forgets every entry when ``seed`` is a new array."""
        if seed is not self._seed:
            self._seed32 = check_input(seed)
            self._seed = seed
            self._nodes.clear()
            self._bytes = 0
            self._checked.clear()
            self._metrics.clear()
            self._moments = None
            self._moved_moments.clear()
        return self._seed32

    def _walk(self, chain: Chain) -> tuple[int, int, np.ndarray | None]:
        """``(node, depth, image)`` of the longest cached prefix of ``chain`` (``(0, 0, None)``: none)."""
        node, depth, image = 0, 0, None
        for step in chain.steps:
            entry = self._nodes.get((node, step.key))
            if entry is None:
                break
            self._nodes.move_to_end((node, step.key))
            node, image = entry
            depth += 1
        return node, depth, image

    def _store(self, parent: int, key: tuple, image: np.ndarray) -> int:
        """Cache ``image`` (copied) as the child of ``parent`` by the step ``key``; returns its node."""
        entry = self._nodes.get((parent, key))
        if entry is not None:
            return entry[0]
        node = self._next
        self._next += 1
        self._nodes[(parent, key)] = (node, image.copy())
        self._bytes += image.nbytes
        return node

    def _evict(self) -> None:
        while self._bytes > self.max_bytes and self._nodes:
            _, (_, image) = self._nodes.popitem(last=False)
            self._bytes -= image.nbytes

    def apply(self, chains: Sequence[Chain], seed: np.ndarray) -> np.ndarray:
        """``apply_batch(chains, seed)``, from the longest cached prefix of each chain; caches every step.

        Returns
        -------
        np.ndarray
            ``(N,) + seed.shape`` float32, bit for bit equal to
            :func:`diverfuzz.relations.apply_batch`.
        """
        return self._run(chains, seed)[0]

    def judge(
        self, validity: Validity, chains: Sequence[Chain], seed: np.ndarray, *, full: bool = False
    ) -> tuple[np.ndarray, np.ndarray, list[dict[str, float]], list[dict[str, float]]]:
        """``(mutants, valid, metrics, pixel_metrics)`` of ``chains`` against ``seed``.

        ``metrics`` compare each mutant with the seed. Under a natural rule
        (``validity.natural``) a chain is valid when it lies within the rule's severity
        (:func:`diverfuzz.relations.natural.within`) and ``pixel_metrics``, which compare the
        mutant with the seed moved by the chain's geometric steps alone, meet the rule's
        clauses; otherwise ``pixel_metrics`` are ``metrics`` and the clauses judge them.

        The metrics of a mutant judged before (same step values, still cached) are
        reused: they depend on the two images only, and
        :func:`diverfuzz.relations.validity.batch_metrics_rows` computes each row alone, so the
        numbers are bit for bit the same. Each call returns fresh metric dicts.
        This is :func:`judge_many` of one request.

        The dicts hold ``psnr``, ``l0``, ``l2`` and ``linf``, and ``ssim`` where the rule reads
        it or ``full`` is True (otherwise only where it was computed before): SSIM's window
        filters are most of a judge's metric cost, and the default pixel rule (``psnr>=20``)
        does not read it. Callers that report a mutant's metrics judge it again with ``full``.
        """
        return judge_many([JudgeRequest(self, validity, tuple(chains), seed, full)])[0]

    def _moved_seed_moments(self, key: tuple, moved_seed: np.ndarray) -> SeedMoments:
        """``seed_moments`` of the seed moved by the geometric steps ``key``, kept for the next batches.

        A search keeps the geometry of good candidates for many generations, so the same
        moved seeds recur; their moments (the SSIM terms) are computed once each.
        """
        moments = self._moved_moments.get(key)
        if moments is None:
            moments = self._moved_moments[key] = seed_moments(moved_seed)
            while len(self._moved_moments) > MOVED_SEEDS_KEPT:
                self._moved_moments.popitem(last=False)
        else:
            self._moved_moments.move_to_end(key)
        return moments

    def _seed_moments(self, seed: np.ndarray) -> SeedMoments:
        """The seed's full moments (replacing its terms alone, :meth:`_seed_terms`, once SSIM is needed)."""
        if self._moments is None or (self._moments.win and self._moments.ux is None):
            self._moments = seed_moments(seed)
        return self._moments

    def _seed_terms(self, seed: np.ndarray) -> SeedMoments:
        """The seed's terms without SSIM's (its full moments when they are known)."""
        if self._moments is None:
            self._moments = seed_terms(seed)
        return self._moments

    def _cached_metrics(self, key: tuple | None, nodes: list) -> list:
        """The kept metrics of each node against the seed (``key`` None) or a moved seed; None where not kept."""
        return [None if node is None else self._metrics.get((key, node)) for node in nodes]

    def _keep_metrics(self, key: tuple | None, nodes: list, found: list, fresh: list[int]) -> None:
        """Keep the freshly computed ``found[i]`` (``i`` in ``fresh``) by node; mark every node as recently used."""
        for i in fresh:
            if nodes[i] is not None:
                self._metrics[(key, nodes[i])] = found[i]
        for node in nodes:
            if node is not None:
                self._metrics.move_to_end((key, node))
        while len(self._metrics) > METRICS_KEPT:
            self._metrics.popitem(last=False)

    def _run(self, chains: Sequence[Chain], seed: np.ndarray) -> tuple[np.ndarray, list]:
        """The mutants of ``chains`` and the node of each (0: the empty chain; None: not cached)."""
        return run_many([(self, tuple(chains), seed)])[0]


@dataclass(frozen=True)
class JudgeRequest:
    """One :meth:`PrefixCache.judge` call: ``chains`` of ``seed`` under ``validity``, through ``cache``."""

    cache: PrefixCache
    validity: Validity
    chains: tuple[Chain, ...]
    seed: np.ndarray
    full: bool = False


def run_many(items: Sequence[tuple[PrefixCache, Sequence[Chain], np.ndarray]]) -> list[tuple[np.ndarray, list]]:
    """``[cache._run(chains, seed) for cache, chains, seed in items]`` in one :func:`apply_steps` pass.

    Rows of several caches (of several seeds) are
    stacked and advanced together, so a relation transforms every waiting row of every
    item in one call; each row's image is computed as if alone (relations compute rows
    independently) and is cached in its own item's cache. Items of different input
    shapes are run one after another.
    """
    shapes = {np.shape(seed) for _, _, seed in items}
    if len(shapes) > 1:
        return [run_many([item])[0] for item in items]
    starts, rows = [], 0
    seeds32 = []
    for cache, chains, seed in items:
        seeds32.append(cache._start(seed))
        starts.append(rows)
        rows += len(chains)
    first = items[0][0] if items else None
    out = np.empty((rows,) + (seeds32[0].shape if seeds32 else ()), dtype=np.float32)
    owner: list[tuple[int, int]] = []
    nodes: list[list] = []
    rest: list = []
    for k, (cache, chains, _) in enumerate(items):
        item_nodes = []
        for i, chain in enumerate(chains):
            node, depth, image = cache._walk(chain)
            out[starts[k] + i] = seeds32[k] if image is None else image
            item_nodes.append(node)
            rest.append(chain.steps[depth:])
            owner.append((k, i))
        nodes.append(item_nodes)

    def record(row: int, step: int, image: np.ndarray) -> None:
        k, i = owner[row]
        cache = items[k][0]
        nodes[k][i] = cache._store(nodes[k][i], rest[row][step].key, image)

    caching = [cache.max_bytes > 0 for cache, _, _ in items]
    if rows:
        apply_steps(
            out, rest, on_step=record if any(caching) else None, checked=first._checked, pool=first.pool
        )
    results = []
    for k, (cache, chains, _) in enumerate(items):
        cache._evict()
        part = out[starts[k] : starts[k] + len(chains)]
        results.append((part, nodes[k] if caching[k] else [None] * len(chains)))
    return results


def judge_many(
    requests: Sequence[JudgeRequest],
) -> list[tuple[np.ndarray, np.ndarray, list[dict[str, float]], list[dict[str, float]]]]:
    """:meth:`PrefixCache.judge` of every request, with one relation pass and one metrics pass for all.

    Mutants of every request are applied in one :func:`run_many` pass; the seeds moved by
    the chains' geometric steps (natural rules) in a second one (mostly cached prefixes);
    the metrics not kept yet, against each row's seed or moved seed, in one
    :func:`~diverfuzz.relations.validity.batch_metrics_rows` call (two: one with SSIM for
    the requests that need it, one without). Every number is the one judging each request
    alone gives, bit for bit.
    """
    runs = run_many([(r.cache, r.chains, r.seed) for r in requests])
    # Geometric prefixes (natural rules): rows of a request grouped by the steps that move its seed.
    moved_keys: list[dict[tuple, list[int]]] = []
    moved_items = []
    for r in requests:
        groups: dict[tuple, list[int]] = {}
        moved_chains = {}
        if r.validity.natural:
            for i, chain in enumerate(r.chains):
                moved = geometric_steps(chain)
                if moved.steps:
                    key = tuple(step.key for step in moved.steps)
                    groups.setdefault(key, []).append(i)
                    moved_chains.setdefault(key, moved)
        moved_keys.append(groups)
        moved_items.append((r.cache, tuple(moved_chains[key] for key in groups), r.seed))
    moved_runs = run_many(moved_items) if any(moved_keys) else [(None, [])] * len(requests)
    # Every metric row not kept yet, in one pass per kind (with SSIM where the rule reads it or
    # the caller asks for every metric; without it elsewhere).
    batches = {True: ([], [], []), False: ([], [], [])}  # ssim -> (moments, which, mutants)
    blocks = []
    for k, r in enumerate(requests):
        mutants, nodes = runs[k]
        ssim = r.full or "ssim" in r.validity.needed_metrics()
        terms = r.cache._seed_moments(r.seed) if ssim else r.cache._seed_terms(r.seed)
        jobs = [(None, list(range(len(r.chains))), terms)]
        for g, (key, rows) in enumerate(moved_keys[k].items()):
            moved = moved_runs[k][0][g]
            jobs.append((key, rows, r.cache._moved_seed_moments(key, moved) if ssim else seed_terms(moved)))
        moments, which, pending = batches[ssim]
        per_job = []
        for key, rows, reference in jobs:
            job_nodes = [nodes[i] for i in rows]
            found = r.cache._cached_metrics(key, job_nodes)
            missing = [j for j, m in enumerate(found) if m is None or (ssim and "ssim" not in m)]
            if missing:
                moments.append(reference)
                which += [len(moments) - 1] * len(missing)
                pending += [mutants[rows[j]] for j in missing]
            per_job.append((key, rows, job_nodes, found, missing, ssim))
        blocks.append(per_job)
    pool = requests[0].cache.pool if requests else None
    fresh = {
        ssim: iter(batch_metrics_rows(moments, which, np.stack(pending), pool=pool, ssim=ssim) if pending else [])
        for ssim, (moments, which, pending) in batches.items()
    }
    results = []
    for k, r in enumerate(requests):
        mutants = runs[k][0]
        pixel: list = [None] * len(r.chains)
        found_seed: list = []
        for key, rows, job_nodes, found, missing, ssim in blocks[k]:
            for j in missing:
                found[j] = next(fresh[ssim])
            r.cache._keep_metrics(key, job_nodes, found, missing)
            if key is None:
                found_seed = found
                pixel = list(found)
            else:
                for i, m in zip(rows, found):
                    pixel[i] = m
        if not r.validity.natural:
            valid = np.array([r.validity.check(m) for m in found_seed], dtype=bool)
        else:
            severity = r.validity.severity_for(r.seed.shape)
            inside = np.array([within(chain, severity) for chain in r.chains], dtype=bool)
            valid = inside & np.array([r.validity.check(m) for m in pixel], dtype=bool)
        results.append((mutants, valid, [dict(m) for m in found_seed], [dict(m) for m in pixel]))
    return results
