"""Evaluate candidate chains on one seed: validity, both models, oracles, budget.

A :class:`SeedEvaluator` is what every search strategy talks to. It owns the
per-seed query budget (one query = one candidate input sent to the model
pair; candidates rejected by the validity constraint count too, so strategies
cannot dodge the budget by proposing unnatural inputs) and records the first
divergence it sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Sequence

import numpy as np

from fuzzer.target import ModelPair
from oracles import MarginFitness, TopOneDisagreement, softmax
from relations import Chain, apply_batch
from relations.validity import Validity, evaluate_batch

#: Fitness given to candidates the validity constraint rejects: below any
#: margin fitness (which lies in [-1, 1]).
INVALID_FITNESS = -2.0


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
        }


@dataclass(frozen=True)
class BatchResult:
    """Outcome of one evaluated batch of chains (rows beyond the budget are dropped)."""

    chains: tuple[Chain, ...]
    fitness: np.ndarray  # (N,) float64; INVALID_FITNESS where rejected
    valid: np.ndarray  # (N,) bool
    diverged: np.ndarray  # (N,) bool (False where rejected)


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
    """

    pair: ModelPair
    seed: np.ndarray
    seed_index: int
    budget: int
    validity: Validity
    oracle: TopOneDisagreement = field(default_factory=TopOneDisagreement)
    fitness_fn: MarginFitness = field(default_factory=MarginFitness)
    queries: int = field(default=0, init=False)
    divergence: Divergence | None = field(default=None, init=False)
    best_fitness: float = field(default=INVALID_FITNESS, init=False)

    @property
    def remaining(self) -> int:
        return self.budget - self.queries

    @property
    def done(self) -> bool:
        """True once the budget is spent or a divergence is found."""
        return self.remaining <= 0 or self.divergence is not None

    def evaluate(self, chains: Sequence[Chain]) -> BatchResult:
        """Evaluate ``chains`` (truncated to the remaining budget) as one batch."""
        chains = tuple(chains[: max(self.remaining, 0)])
        n = len(chains)
        fitness = np.full(n, INVALID_FITNESS)
        diverged = np.zeros(n, dtype=bool)
        if n == 0:
            return BatchResult(chains, fitness, np.zeros(0, dtype=bool), diverged)
        mutants = apply_batch(chains, self.seed)
        valid, metrics = evaluate_batch(self.validity, self.seed, mutants)
        valid = np.asarray(valid, dtype=bool)
        start = self.queries
        self.queries += n
        idx = np.flatnonzero(valid)
        if len(idx):
            ref, cand = self.pair.logits(mutants[idx])
            fitness[idx] = self.fitness_fn(ref, cand)
            diverged[idx] = self.oracle(ref, cand)
            self.best_fitness = max(self.best_fitness, float(fitness[idx].max()))
            hits = np.flatnonzero(diverged[idx])
            if len(hits) and self.divergence is None:
                row = hits[0]  # the earliest in query order
                i = int(idx[row])
                p_ref, p_cand = softmax(ref[row : row + 1])[0], softmax(cand[row : row + 1])[0]
                self.divergence = Divergence(
                    seed_index=self.seed_index,
                    chain=chains[i],
                    reference_label=int(np.argmax(ref[row])),
                    candidate_label=int(np.argmax(cand[row])),
                    reference_probs=tuple(float(v) for v in p_ref),
                    candidate_probs=tuple(float(v) for v in p_cand),
                    fitness=float(fitness[i]),
                    validity={k: float(v) for k, v in metrics[i].items()},
                    queries=start + i + 1,
                    found_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                )
        return BatchResult(chains, fitness, valid, diverged)
