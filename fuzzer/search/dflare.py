"""DFlare-style search: one trajectory, Metropolis–Hastings operator choice."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fuzzer.search.evaluate import SeedEvaluator
from fuzzer.search.noise_steps import PIXEL_NOISE, random_step
from fuzzer.search.objectives import probability_gap, score
from fuzzer.search.space import SearchSpace
from relations import Chain


@dataclass(frozen=True)
class DFlareSearch:
    """Mutate one input again and again; pick operators by Metropolis–Hastings.

    Parameters
    ----------
    batch : int, optional
        Candidates proposed from the current input per step, evaluated as
        one batch (default 4; 1 is DFlare's one-at-a-time loop, larger
        trades a little guidance for batched model calls).
    max_steps : int, optional
        Longest chain; when the trajectory reaches it, it restarts from the
        seed (default 6).
    strength : float, optional
        Largest fraction of a parameter's range one mutation uses
        (default 0.5).

    Notes
    -----
    After DFlare: Tian et al., "Finding Deviated Behaviors of the
    Compressed DNN Models for Image Classifications", ACM TOSEM 2023. Each
    mutation operator (here: each relation of the search
    space, applied on top of the current chain; pixel-noise steps stack, as
    DFlare's repeated mutations of one input do) keeps a success record
    (mutants that raised the fitness / mutants tried). Operators are ranked
    by success rate and the next one is drawn by Metropolis–Hastings: from
    the current operator ``A`` a uniformly proposed ``B`` is accepted with
    probability ``min(1, (1 - p) ** (k_B - k_A))``, ``k`` the ranks and
    ``p = 1 / #operators``, so successful operators are used more without
    starving the others. The fitness is a probability gap between the two
    models (:func:`~fuzzer.search.objectives.probability_gap`); a mutant
    replaces the current input when its fitness is higher. Batching,
    the restart at ``max_steps`` and the relation operators are this
    re-implementation's choices, not the paper's.
    """

    batch: int = 4
    max_steps: int = 6
    strength: float = 0.5
    name: str = "dflare"

    def search(self, evaluator: SeedEvaluator, space: SearchSpace, rng: np.random.Generator) -> None:
        ops = space.relations
        n = len(ops)
        tried = np.ones(n)  # Laplace prior: rate 0.5 for untried operators
        success = np.full(n, 0.5)
        p = 1.0 / n
        current_op = int(rng.integers(n))
        chain: tuple = ()
        fitness = -np.inf
        while not evaluator.done:
            rates = success / tried
            ranks = np.empty(n, dtype=int)
            ranks[np.argsort(-rates, kind="stable")] = np.arange(n)
            picks, proposals = [], []
            for _ in range(min(self.batch, evaluator.remaining)):
                while True:
                    b = int(rng.integers(n))
                    if rng.random() < min(1.0, (1 - p) ** (ranks[b] - ranks[current_op])):
                        current_op = b
                        break
                rel = ops[current_op]
                step = random_step(rel, rng, strength=self.strength)
                # Pixel noise stacks on the current input, as DFlare's mutations
                # do; re-mutating any other relation replaces its step.
                kept = chain if rel.name in PIXEL_NOISE else tuple(s for s in chain if s.relation != rel.name)
                picks.append(current_op)
                proposals.append(Chain(kept + (step,)))
            result = evaluator.evaluate(proposals)
            fit = score(result, probability_gap)
            for i, op in enumerate(picks[: len(fit)]):
                tried[op] += 1
                success[op] += fit[i] > fitness
            if len(fit) and fit.max() > fitness:
                best = int(np.argmax(fit))
                fitness, chain = float(fit[best]), result.chains[best].steps
            if len(chain) >= self.max_steps:
                chain, fitness = (), -np.inf
