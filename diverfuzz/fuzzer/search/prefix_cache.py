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
    evaluate_batch,
)
from diverfuzz.relations.natural import geometric_steps, within
from diverfuzz.relations.validity import SeedMoments, seed_moments

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
        :func:`diverfuzz.relations.evaluate_batch`). Default None: this thread. The
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
        self, validity: Validity, chains: Sequence[Chain], seed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, list[dict[str, float]], list[dict[str, float]]]:
        """``(mutants, valid, metrics, pixel_metrics)`` of ``chains`` against ``seed``.

        ``metrics`` compare each mutant with the seed. Under a natural rule
        (``validity.natural``) a chain is valid when it lies within the rule's severity
        (:func:`diverfuzz.relations.natural.within`) and ``pixel_metrics``, which compare the
        mutant with the seed moved by the chain's geometric steps alone, meet the rule's
        clauses; otherwise ``pixel_metrics`` are ``metrics`` and the clauses judge them.

        The metrics of a mutant judged before (same step values, still cached) are
        reused: they depend on the two images only, and
        :func:`diverfuzz.relations.validity.batch_metrics` computes each row alone, so the
        numbers are bit for bit the same. Each call returns fresh metric dicts.
        """
        mutants, nodes = self._run(chains, seed)
        if self._moments is None:
            self._moments = seed_moments(seed)
        found = self._metrics_against(self._moments, seed, mutants, nodes, key=None)
        if not validity.natural:
            valid = np.array([validity.check(m) for m in found], dtype=bool)
            return mutants, valid, [dict(m) for m in found], [dict(m) for m in found]
        severity = validity.severity_for(seed.shape)
        inside = np.array([within(chain, severity) for chain in chains], dtype=bool)
        moved_chains = [geometric_steps(chain) for chain in chains]
        pixel: list = list(found)
        groups: dict[tuple, list[int]] = {}
        for i, moved in enumerate(moved_chains):
            if moved.steps:
                groups.setdefault(tuple(step.key for step in moved.steps), []).append(i)
        for key, rows in groups.items():
            moved_seed = self._run([moved_chains[rows[0]]], seed)[0][0]
            moments = self._moved_seed_moments(key, moved_seed)
            for i, m in zip(rows, self._metrics_against(moments, moved_seed, mutants[rows],
                                                       [nodes[i] for i in rows], key=key)):
                pixel[i] = m
        valid = inside & np.array([validity.check(m) for m in pixel], dtype=bool)
        return mutants, valid, [dict(m) for m in found], [dict(m) for m in pixel]

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

    def _metrics_against(
        self, moments: SeedMoments, reference: np.ndarray, mutants: np.ndarray, nodes: list, *, key: tuple | None
    ) -> list[dict[str, float]]:
        """Metrics of ``mutants`` against ``reference`` (the seed, or a moved seed named by ``key``), cached by node."""
        found: list = [None if node is None else self._metrics.get((key, node)) for node in nodes]
        missing = [i for i, m in enumerate(found) if m is None]
        if missing:
            _, fresh = evaluate_batch(Validity(), reference, mutants[missing], moments=moments, pool=self.pool)
            for i, m in zip(missing, fresh):
                found[i] = m
                if nodes[i] is not None:
                    self._metrics[(key, nodes[i])] = m
        for node in nodes:
            if node is not None:
                self._metrics.move_to_end((key, node))
        while len(self._metrics) > METRICS_KEPT:
            self._metrics.popitem(last=False)
        return found

    def _run(self, chains: Sequence[Chain], seed: np.ndarray) -> tuple[np.ndarray, list]:
        """The mutants of ``chains`` and the node of each (0: the empty chain; None: not cached)."""
        seed32 = self._start(seed)
        out = np.empty((len(chains),) + seed32.shape, dtype=np.float32)
        nodes, rest = [], []
        for i, chain in enumerate(chains):
            node, depth, image = self._walk(chain)
            out[i] = seed32 if image is None else image
            nodes.append(node)
            rest.append(chain.steps[depth:])

        def record(i: int, k: int, image: np.ndarray) -> None:
            nodes[i] = self._store(nodes[i], rest[i][k].key, image)

        if self.max_bytes > 0:
            apply_steps(out, rest, on_step=record, checked=self._checked, pool=self.pool)
        else:
            apply_steps(out, rest, pool=self.pool)
            nodes = [None] * len(chains)
        self._evict()
        return out, nodes
