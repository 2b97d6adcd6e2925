"""Genetic search over chains of relations (DiverGet), built on DEAP.

DEAP's classes are created once here, at import, and used nowhere else
(``creator`` is global state in DEAP). DEAP's operators draw from Python's
global ``random`` module; :func:`_seeded_random` seeds it from the
campaign's ``numpy.random.Generator`` around each operator call and restores
the caller's state afterwards, so every choice still flows from the one
user-visible seed.
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np
from deap import base, creator, tools

from fuzzer.evaluate import SeedEvaluator
from fuzzer.search.space import SearchSpace

if not hasattr(creator, "DiverfuzzFitness"):
    creator.create("DiverfuzzFitness", base.Fitness, weights=(1.0,))
    creator.create("DiverfuzzIndividual", list, fitness=creator.DiverfuzzFitness)


@contextmanager
def _seeded_random(rng: np.random.Generator) -> Iterator[None]:
    state = random.getstate()
    random.seed(int(rng.integers(2**63)))
    try:
        yield
    finally:
        random.setstate(state)


@dataclass(frozen=True)
class GeneticSearch:
    """A generational GA with tournament selection, crossover, bounded mutation, elitism.

    Parameters
    ----------
    population : int, optional
        Individuals per generation (>= 2, default 20). The whole population
        is evaluated as one batch.
    elite : int, optional
        Best individuals copied unchanged into the next generation (default 2).
    tournament : int, optional
        Tournament size for selection (default 3).
    crossover_rate : float, optional
        Probability that a pair of parents is recombined by uniform
        crossover (default 0.7, range [0, 1]).
    mutation_rate : float, optional
        Probability that an offspring is mutated (default 0.5, range [0, 1]).
    eta : float, optional
        Crowding degree of polynomial bounded mutation (default 10; larger
        gives smaller steps).

    Notes
    -----
    The genome (:mod:`fuzzer.search.space`) and fitness follow DiverGet
    (Yahmed et al., "DiverGet: a search-based software testing approach for
    deep neural network quantization assessment", EMSE 2022): one activation
    gene and bounded parameters per transformation, fitness from the
    counterpart's probability margin, stopping at the first divergence.
    """

    population: int = 20
    elite: int = 2
    tournament: int = 3
    crossover_rate: float = 0.7
    mutation_rate: float = 0.5
    eta: float = 10.0
    name: str = "genetic"

    def _toolbox(self, length: int) -> base.Toolbox:
        toolbox = base.Toolbox()
        toolbox.register("mate", tools.cxUniform, indpb=0.5)
        toolbox.register(
            "mutate", tools.mutPolynomialBounded, eta=self.eta, low=0.0, up=1.0, indpb=min(1.0, 2.0 / length)
        )
        toolbox.register("select", tools.selTournament, tournsize=self.tournament)
        return toolbox

    def _assess(self, evaluator: SeedEvaluator, space: SearchSpace, individuals: list) -> list:
        """Evaluate as one batch; returns the individuals the budget covered."""
        result = evaluator.evaluate([space.decode(ind) for ind in individuals])
        kept = individuals[: len(result.chains)]
        for ind, fit in zip(kept, result.fitness):
            ind.fitness.values = (float(fit),)
        return kept

    def search(self, evaluator: SeedEvaluator, space: SearchSpace, rng: np.random.Generator) -> None:
        toolbox = self._toolbox(space.genome_length)
        size = max(2, self.population)
        pop = [creator.DiverfuzzIndividual(g.tolist()) for g in space.sample(rng, size)]
        pop = self._assess(evaluator, space, pop)
        while not evaluator.done and pop:
            elite = tools.selBest(pop, min(self.elite, len(pop)))
            with _seeded_random(rng):
                offspring = [toolbox.clone(ind) for ind in toolbox.select(pop, size - len(elite))]
                for a, b in zip(offspring[::2], offspring[1::2]):
                    if random.random() < self.crossover_rate:
                        toolbox.mate(a, b)
                        del a.fitness.values, b.fitness.values
                for ind in offspring:
                    if random.random() < self.mutation_rate:
                        toolbox.mutate(ind)
                        del ind.fitness.values
            # Unchanged offspring keep their fitness: re-querying a known chain
            # would only spend budget.
            fresh = [ind for ind in offspring if not ind.fitness.valid]
            fresh = self._assess(evaluator, space, fresh)
            pop = elite + [ind for ind in offspring if ind.fitness.valid]
