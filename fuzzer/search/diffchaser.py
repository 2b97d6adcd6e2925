"""DiffChaser (Xie et al., IJCAI 2019): a black-box GA on pixel-level mutants."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fuzzer.search.evaluate import SeedEvaluator
from fuzzer.search.noise_steps import append_step, draw_step, noise_relations, one_point_crossover, replace_step
from fuzzer.search.objectives import k_uncertainty, score
from fuzzer.search.space import SearchSpace
from relations import Chain


@dataclass(frozen=True)
class DiffChaserSearch:
    """DiffChaser's genetic algorithm, as published, with replayable mutants.

    Parameters
    ----------
    population : int, optional
        Individuals per generation (>= 2, default 20).
    crossover_rate : float, optional
        Probability that two selected parents are recombined (default 0.5).
    mutation_rate : float, optional
        Probability that a child receives a new pixel mutation (default 0.9).
    k : int, optional
        Rank of the competing probability in the k-uncertainty fitness
        (default 2).
    max_steps : int, optional
        Most noise steps a mutant stacks; older steps are dropped first
        (default 6).
    strength : float, optional
        Largest fraction of a noise parameter's range one mutation uses
        (default 0.5).

    Notes
    -----
    Xie et al., "DiffChaser: Detecting Disagreements for Deep Neural
    Networks", IJCAI 2019: the population starts
    from mutants of the seed, parents are chosen by fitness-proportional
    (roulette-wheel) selection, recombined by crossover, mutated at pixel
    level, and scored by k-uncertainty (the gap between the top-1 and
    k-th probabilities, to be closed). The search stops at the first
    disagreement. One best individual survives each generation.

    Pixel mutations are stacks of seeded noise steps
    (:mod:`fuzzer.search.noise_steps`): an individual is a list of steps,
    crossover is one-point over the two lists, mutation appends a new
    noise step (or re-seeds one). The image DiffChaser would perturb is
    therefore ``chain.apply(seed)``, and every reported divergence replays.
    Invalid mutants get INVALID_FITNESS (DiffChaser has no graded validity).
    """

    population: int = 20
    crossover_rate: float = 0.5
    mutation_rate: float = 0.9
    k: int = 2
    max_steps: int = 6
    strength: float = 0.5
    name: str = "diffchaser"

    def _mutate(self, steps: list, relations, rng: np.random.Generator) -> list:
        if steps and rng.random() < 0.25:  # re-seed / re-draw one step
            i = int(rng.integers(len(steps)))
            return replace_step(steps, i, draw_step(relations, rng, strength=self.strength))[-self.max_steps :]
        return append_step(steps, draw_step(relations, rng, strength=self.strength), self.max_steps)

    def search(self, evaluator: SeedEvaluator, space: SearchSpace, rng: np.random.Generator) -> None:
        relations = noise_relations(space)
        size = max(2, self.population)
        pop = [self._mutate([], relations, rng) for _ in range(size)]
        result = evaluator.evaluate([Chain(tuple(s)) for s in pop])
        pop = pop[: len(result.chains)]
        fit = score(result, lambda r, c: k_uncertainty(r, c, k=self.k))
        while not evaluator.done and pop:
            # Roulette wheel on fitness shifted to be positive.
            w = fit - fit.min() + 1e-3
            p = w / w.sum()
            best = int(np.argmax(fit))
            children = []
            while len(children) < size - 1:
                a, b = (pop[int(i)] for i in rng.choice(len(pop), size=2, p=p))
                if rng.random() < self.crossover_rate and a and b:
                    a, b = one_point_crossover(a, b, rng, self.max_steps)
                for child in (a, b):
                    if rng.random() < self.mutation_rate or not child:
                        child = self._mutate(child, relations, rng)
                    children.append(child)
            children = children[: size - 1]
            result = evaluator.evaluate([Chain(tuple(s)) for s in children])
            children = children[: len(result.chains)]
            cfit = score(result, lambda r, c: k_uncertainty(r, c, k=self.k))
            pop = [pop[best]] + children
            fit = np.concatenate([[fit[best]], cfit])
