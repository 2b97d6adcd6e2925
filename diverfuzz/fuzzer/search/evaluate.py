"""Evaluate candidate chains on one seed: validity, both models, oracles, budget.

A :class:`SeedEvaluator` is what every search strategy talks to. It owns the
per-seed query budget (one query = one candidate input sent to the model
pair; candidates rejected by the validity constraint count too, so strategies
cannot dodge the budget by proposing unnatural inputs) and records the
divergences it sees: in ``mode="first"`` the first one (the search then
stops), in ``mode="many"`` one representative per cluster until the budget
is spent. Every candidate is a :class:`diverfuzz.relations.Chain`, so every recorded
divergence replays from its seed and chain alone.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Sequence

import numpy as np

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.search.prefix_cache import PrefixCache
from diverfuzz.models.pair import ModelPair
from diverfuzz.oracles import MarginFitness, TopOneDisagreement, softmax
from diverfuzz.relations import Chain
from diverfuzz.relations.natural import chain_severity, geometry, within
from diverfuzz.relations.validity import Validity

#: Fitness given to candidates the validity constraint rejects: below any
#: margin fitness (which lies in [-1, 1]).
INVALID_FITNESS = -2.0

#: A valid mutant within this L-infinity distance of its seed (values in [0, 1]) counts as
#: *unchanged*: the seed itself sent to the models again. Relations at (or rounding to)
#: their identity parameters leave float32 round-off far below it; the smallest change a
#: rule worth running admits (one 8-bit grey level, 1/255 ~ 0.004) lies far above.
UNCHANGED_LINF = 1e-6

#: Search modes: stop at the first divergence, keep distinct ones to the budget,
#: or keep searching to the budget for the most natural one (highest PSNR, then SSIM).
MODES = ("first", "many", "natural")


def violation(validity: Validity, values: dict[str, float]) -> float:
    """How far metric ``values`` lie outside ``validity``: 0 when valid, > 0 otherwise.

    The sum over clauses of the amount by which each is missed, relative to
    ``max(|threshold|, 0.05)`` (so ``ssim>=0.6`` missed by 0.06 and
    ``linf<=0.5`` missed by 0.05 both score about 0.1). Strategies use it to
    grade invalid candidates instead of rejecting them all alike.
    """
    total = 0.0
    for metric, op, thr in validity.clauses:
        v = float(values[metric])
        if v != v:  # NaN metric: as far out as it gets
            return float("inf")
        miss = thr - v if op.startswith(">") else v - thr
        if miss > 0 or (miss == 0 and op in (">", "<")):
            total += max(miss, 1e-12) / max(abs(thr), 0.05)
    return total


def _naturalness(metrics: dict) -> tuple[float, float]:
    """Sort key of mode ``natural``: PSNR, then SSIM (higher is more natural)."""
    return (float(metrics["psnr"]), float(metrics["ssim"]))


def reference_margins(probs: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability per row, ``(N,)``."""
    if probs.shape[1] < 2:
        return np.zeros(len(probs))
    top = np.partition(probs, -2, axis=1)[:, -2:]
    return top[:, 1] - top[:, 0]


def top_two_gap(probs: Sequence[float]) -> float:
    """Top-1 minus top-2 of a probability vector (0 for a single class)."""
    if len(probs) < 2:
        return 0.0
    first, second = np.partition(np.asarray(probs, dtype=np.float64), -2)[-2:][::-1]
    return float(first - second)


def cluster_key(d: "Divergence") -> tuple:
    """Divergences in one cluster share their label pair and their chain's relations."""
    return (d.reference_label, d.candidate_label, tuple(sorted({s.relation for s in d.chain.steps})))


@dataclass(frozen=True)
class Divergence:
    """One input on which the two models disagree, with what is needed to replay it."""

    seed_index: int
    chain: Chain
    reference_label: int
    candidate_label: int
    reference_probs: tuple[float, ...]
    candidate_probs: tuple[float, ...]
    fitness: float
    validity: dict[str, float]
    queries: int
    found_at: str
    minimal_chain: Chain | None = None
    minimal_distance: float | None = None
    shrink_queries: int = 0
    cluster_size: int = 1
    triage: dict | None = None
    pixel_validity: dict[str, float] | None = None
    geometry: list[dict] | None = None

    @property
    def reference_margin(self) -> float:
        """Top-1 minus top-2 probability of the reference on the mutant, in ``[0, 1]``.

        Near 0: the reference itself is nearly undecided (a near-tie, where any rounding
        may flip the answer); near 1: the reference is sure and the counterpart disagrees.
        """
        return top_two_gap(self.reference_probs)

    @property
    def candidate_margin(self) -> float:
        """Top-1 minus top-2 probability of the candidate on the mutant, in ``[0, 1]``."""
        return top_two_gap(self.candidate_probs)

    @property
    def severity(self) -> int | None:
        """The smallest natural severity (1-5) that admits the chain; None beyond severity 5."""
        return chain_severity(self.chain)

    def to_dict(self) -> dict:
        return {
            "seed_index": self.seed_index,
            "chain": self.chain.to_list(),
            "reference_label": self.reference_label,
            "candidate_label": self.candidate_label,
            "reference_probs": list(self.reference_probs),
            "candidate_probs": list(self.candidate_probs),
            "fitness": self.fitness,
            "validity": dict(self.validity),
            "queries": self.queries,
            "found_at": self.found_at,
            "minimal_chain": None if self.minimal_chain is None else self.minimal_chain.to_list(),
            "minimal_distance": self.minimal_distance,
            "shrink_queries": self.shrink_queries,
            "cluster_size": self.cluster_size,
            "triage": self.triage,
            "reference_margin": self.reference_margin,
            "candidate_margin": self.candidate_margin,
            "severity": self.severity,
            "geometry": self.geometry,
            "pixel_validity": None if self.pixel_validity is None else dict(self.pixel_validity),
        }


@dataclass(frozen=True)
class BatchResult:
    """Outcome of one evaluated batch of chains (rows beyond the budget are dropped)."""

    chains: tuple[Chain, ...]
    fitness: np.ndarray  # (N,) float64; INVALID_FITNESS where rejected
    valid: np.ndarray  # (N,) bool
    diverged: np.ndarray  # (N,) bool (False where rejected)
    reference_probs: np.ndarray | None = None  # (N, classes) float64; NaN where rejected
    candidate_probs: np.ndarray | None = None  # (N, classes) float64; NaN where rejected
    violation: np.ndarray | None = None  # (N,) float64: 0 where valid, > 0 (see violation()) where rejected
    psnr: np.ndarray | None = None  # (N,) float64: PSNR (dB, data range 1) of each mutant to the seed; inf if equal
    min_margin: float = 0.0  # the evaluator's: divergences count only at reference margin >= this


@dataclass
class SeedEvaluator:
    """Evaluates chains on one seed input under a query budget.

    Parameters
    ----------
    pair : ModelPair
        The reference and candidate models.
    seed : ndarray, float32, (C, H, W)
        The seed input, values in [0, 1].
    seed_index : int
        Index of the seed in the campaign's data (recorded with divergences).
    budget : int
        Model-pair queries allowed for this seed (>= 1).
    validity : Validity
        Constraint a mutant must satisfy against the seed.
    mode : {"first", "many", "natural"}, optional
        ``"first"`` (default): :attr:`done` once a divergence is found.
        ``"many"``: search to the budget and keep the first divergence of
        every cluster (:func:`cluster_key`: label pair and relations used);
        later members of a cluster only raise its ``cluster_size``.
        ``"natural"``: search to the budget and keep, as the one divergence
        of the seed, the most natural one seen (highest PSNR to the seed,
        ties broken by SSIM; both are in every divergence's ``validity``).
    pool : concurrent.futures.Executor, optional
        Threads that apply relations and compute validity metrics on large
        inputs (more than 16,384 values, e.g. 3x224x224 images). Default
        None: this thread. Nothing found depends on it.
    min_margin : float, optional
        Count only *decisive* divergences: those where the reference's top-1 minus top-2
        probability on the mutant is at least this (in ``[0, 1)``; default 0: every
        disagreement counts). Near-ties below it are looked at but not recorded.

    Attributes
    ----------
    queries : int
        Candidates counted against the budget so far (rejected ones included).
    rejected : int
        Of those, the candidates the validity constraint refused (never sent
        to the models); ``rejected == queries`` means nothing was looked at.
    unchanged : int
        Of the accepted ones (``queries - rejected``), those identical to the seed
        (L-infinity distance at most :data:`UNCHANGED_LINF`): ``unchanged`` near
        ``queries - rejected`` means the rule admits only the seed itself, which both
        models were already seen to agree on, so nothing new was looked at.
    """

    pair: ModelPair
    seed: np.ndarray
    seed_index: int
    budget: int
    validity: Validity
    oracle: TopOneDisagreement = field(default_factory=TopOneDisagreement)
    fitness_fn: MarginFitness = field(default_factory=MarginFitness)
    mode: str = "first"
    pool: Executor | None = field(default=None, repr=False)
    min_margin: float = 0.0
    queries: int = field(default=0, init=False)
    rejected: int = field(default=0, init=False)
    unchanged: int = field(default=0, init=False)
    divergence: Divergence | None = field(default=None, init=False)
    divergences: list[Divergence] = field(default_factory=list, init=False)
    best_fitness: float = field(default=INVALID_FITNESS, init=False)
    _clusters: dict = field(default_factory=dict, init=False, repr=False)
    _prefixes: PrefixCache = field(init=False, repr=False)
    _last_judged: tuple | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._prefixes = PrefixCache(pool=self.pool)
        if self.mode not in MODES:
            raise DiverfuzzError(f"--mode={self.mode!r} is unknown; choose one of {', '.join(MODES)}")
        if not 0.0 <= self.min_margin < 1.0:
            raise DiverfuzzError(f"--min-margin={self.min_margin!r} must be in [0, 1), e.g. 0.05")

    @property
    def remaining(self) -> int:
        return self.budget - self.queries

    @property
    def done(self) -> bool:
        """True once the budget is spent, or (mode ``first``) a divergence is found."""
        if self.mode in ("many", "natural"):
            return self.remaining <= 0
        return self.remaining <= 0 or self.divergence is not None

    def check(self, chains: Sequence[Chain]) -> np.ndarray:
        """Whether each of ``chains`` satisfies the validity rule, ``(N,)`` bool.

        Computes only the validity metrics against the seed: nothing is sent
        to the models, so no query is counted (strategies use it to repair
        candidates before spending budget on them).
        """
        if not chains:
            return np.zeros(0, dtype=bool)
        return self.judge(chains)[1]

    def judge(
        self, chains: Sequence[Chain]
    ) -> tuple[np.ndarray, np.ndarray, list[dict[str, float]], list[dict[str, float]]]:
        """``(mutants, valid, metrics, pixel_metrics)`` of ``chains``; no query is counted.

        ``metrics`` compare each mutant with the seed; ``pixel_metrics`` with the seed
        moved by the chain's geometric steps under a natural rule (the metrics otherwise).
        SSIM is among them only where the rule reads it (see :meth:`PrefixCache.judge`);
        recorded divergences carry all five metrics.
        Mutants and metrics come from the evaluator's cache where the same
        chains (or prefixes) were applied before (:class:`PrefixCache`),
        bit for bit what applying them afresh gives.
        """
        chains = tuple(chains)
        last = self._last_judged
        if last is not None and last[0] == chains:
            # The batch just checked (validity repair) and now evaluated: the same images and
            # metrics, bit for bit; fresh metric dicts, as from the cache.
            mutants, valid, metrics, pixel = last[1]
            return mutants, valid.copy(), [dict(m) for m in metrics], [dict(m) for m in pixel]
        judged = self._prefixes.judge(self.validity, chains, self.seed)
        self._last_judged = (chains, judged)
        return judged

    def evaluate(self, chains: Sequence[Chain]) -> BatchResult:
        """Evaluate ``chains`` (truncated to the remaining budget) as one batch.

        Rejected candidates count as queries but are not sent to the models.
        In mode ``first`` nothing is evaluated once a divergence is known.
        """
        limit = 0 if self.done else max(self.remaining, 0)
        chains = tuple(chains[:limit])
        n = len(chains)
        fitness = np.full(n, INVALID_FITNESS)
        diverged = np.zeros(n, dtype=bool)
        if n == 0:
            empty = np.zeros((0, 0))
            return BatchResult(chains, fitness, np.zeros(0, dtype=bool), diverged, empty, empty, np.zeros(0))
        mutants, valid, metrics, pixel = self.judge(chains)
        miss = np.array([0.0 if ok else self._violation(chain, m) for ok, chain, m in zip(valid, chains, pixel)])
        psnr = np.array([float(m["psnr"]) for m in metrics])
        start = self.queries
        self.queries += n
        self.rejected += int(n - valid.sum())
        idx = np.flatnonzero(valid)
        self.unchanged += sum(1 for i in idx if float(metrics[i]["linf"]) <= UNCHANGED_LINF)
        ref_probs = cand_probs = np.full((n, 0), np.nan)
        if len(idx):
            ref, cand = self.pair.logits(mutants[idx])
            ref_probs = np.full((n, ref.shape[1]), np.nan)
            cand_probs = np.full((n, cand.shape[1]), np.nan)
            ref_probs[idx], cand_probs[idx] = softmax(ref), softmax(cand)
            fitness[idx] = self.fitness_fn(ref, cand)
            diverged[idx] = self.oracle(ref, cand)
            if self.min_margin > 0:  # near-ties do not count
                diverged[idx] &= reference_margins(ref_probs[idx]) >= self.min_margin
            self.best_fitness = max(self.best_fitness, float(fitness[idx].max()))
            self._complete_metrics(chains, idx[diverged[idx]], metrics, pixel)
            for row in np.flatnonzero(diverged[idx]):  # in query order
                i = int(idx[row])
                if self.mode == "natural":
                    known = self.divergence
                    if known is not None and _naturalness(known.pixel_validity or known.validity) >= _naturalness(pixel[i]):
                        continue
                    self.divergence, self.divergences, self._clusters = None, [], {}
                self._record(
                    Divergence(
                        seed_index=self.seed_index,
                        chain=chains[i],
                        reference_label=int(np.argmax(ref[row])),
                        candidate_label=int(np.argmax(cand[row])),
                        reference_probs=tuple(float(v) for v in ref_probs[i]),
                        candidate_probs=tuple(float(v) for v in cand_probs[i]),
                        fitness=float(fitness[i]),
                        validity={k: float(v) for k, v in metrics[i].items()},
                        queries=start + i + 1,
                        found_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        pixel_validity={k: float(v) for k, v in pixel[i].items()} if self.validity.natural else None,
                        geometry=geometry(chains[i], self.seed.shape),
                    )
                )
                if self.mode == "first":
                    break
        return BatchResult(chains, fitness, valid, diverged, ref_probs, cand_probs, miss, psnr, self.min_margin)

    def _complete_metrics(self, chains: Sequence[Chain], rows: np.ndarray, metrics: list, pixel: list) -> None:
        """Every metric (SSIM too) in ``metrics[i]`` and ``pixel[i]`` of the ``rows`` about to be recorded.

        Judging computes SSIM only where the rule reads it (:meth:`PrefixCache.judge`); a
        divergence reports all five metrics, computed here for its rows alone (the images
        come from the cache, and each row's numbers are those of judging it in any batch).
        """
        rows = [int(i) for i in rows if "ssim" not in metrics[i] or "ssim" not in pixel[i]]
        if not rows:
            return
        _, _, found, moved = self._prefixes.judge(self.validity, [chains[i] for i in rows], self.seed, full=True)
        for i, m, p in zip(rows, found, moved):
            metrics[i], pixel[i] = m, p

    def _violation(self, chain: Chain, pixel_metrics: dict[str, float]) -> float:
        """:func:`violation` of a rejected chain; 1.0 for a chain outside the natural severity."""
        if self.validity.natural and not within(chain, self.validity.severity_for(self.seed.shape)):
            return 1.0
        return violation(self.validity, pixel_metrics)

    def _record(self, d: Divergence) -> None:
        key = cluster_key(d)
        if key in self._clusters:
            k = self._clusters[key]
            self.divergences[k] = replace(self.divergences[k], cluster_size=self.divergences[k].cluster_size + 1)
            if k == 0:
                self.divergence = self.divergences[0]
            return
        self._clusters[key] = len(self.divergences)
        self.divergences.append(d)
        if self.divergence is None:
            self.divergence = d
