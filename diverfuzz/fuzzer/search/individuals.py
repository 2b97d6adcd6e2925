"""Individuals of the genome searches and their validity repair, shared by genetic and random search.

An individual is a DEAP list of genes (:class:`~diverfuzz.fuzzer.search.space.SearchSpace`'s
genome) with a ``tail`` of seeded pixel-noise steps; its chain is the genome's chain followed
by the tail. Repair scales a rejected individual towards the identity (a two-round strength grid), using
validity metrics only (no model query). DEAP's classes are created once here, at import, and
used nowhere else (``creator`` is global state in DEAP).
"""

from __future__ import annotations

import numpy as np
from deap import base, creator

from diverfuzz.fuzzer.search.evaluate import SeedEvaluator
from diverfuzz.fuzzer.search.space import SearchSpace
from diverfuzz.fuzzer.search.strength_grid import grid_boundary
from diverfuzz.relations import REGISTRY, Chain, Step

if not hasattr(creator, "DiverfuzzFitness"):
    creator.create("DiverfuzzFitness", base.Fitness, weights=(1.0,))
    creator.create("DiverfuzzIndividual", list, fitness=creator.DiverfuzzFitness)


def shrink_step(step: Step, t: float) -> Step:
    """``step`` with its parameters moved to a fraction ``t`` of their distance from identity.

    A ``seed`` parameter (which pixels a noise step perturbs) is kept as is.
    """
    relation = REGISTRY[step.relation]
    unit = np.asarray(relation.to_unit(step.params))
    ident = np.asarray(relation.to_unit(relation.identity()))
    params = relation.from_unit((ident + t * (unit - ident)).tolist())
    if "seed" in step.params:
        params["seed"] = step.params["seed"]
    return Step(step.relation, params)


def shrink(ind, t: float, identity: np.ndarray, blocks) -> list:
    """A copy of ``ind`` whose active parameters and tail steps are scaled by ``t`` towards identity."""
    genes = list(ind)
    for pos, width in blocks:
        if genes[pos] >= 0.5:
            for g in range(pos + 1, pos + 1 + width):
                genes[g] = float(identity[g] + t * (genes[g] - identity[g]))
    return _individual(genes, [shrink_step(s, t) for s in getattr(ind, "tail", ())])


def repair(evaluator: SeedEvaluator, space: SearchSpace, individuals: list, steps: int, blocks) -> None:
    """Pull invalid individuals back to the validity boundary, in place, without model queries.

    For each individual the validity rule rejects, find the strongest strength factor
    ``t = j / 2**steps`` in ``(0, 1)`` that makes it valid (only validity metrics are
    computed, see :meth:`~diverfuzz.fuzzer.search.evaluate.SeedEvaluator.check`), in two
    batched rounds over every rejected individual at once
    (:func:`~diverfuzz.fuzzer.search.strength_grid.grid_boundary`: the resolution of a
    ``steps``-step bisection, at two relation passes instead of ``steps``): the distortion
    is then as large as the rule allows, in the direction the operators chose. Individuals
    with no valid ``t`` among those tried stay as they are (and are penalised).
    """
    if steps <= 0 or not individuals:
        return
    identity = space.identity_genome()
    valid = evaluator.check([_chain(space, ind) for ind in individuals])
    bad = [i for i, ok in enumerate(valid) if not ok]
    if not bad:
        return

    def passes(trials):
        return evaluator.check([_chain(space, shrink(individuals[bad[c]], t, identity, blocks)) for c, t in trials])

    for i, t in zip(bad, grid_boundary(passes, len(bad), steps, strongest=True)):
        if t > 0.0:
            fixed = shrink(individuals[i], t, identity, blocks)
            individuals[i][:] = fixed
            individuals[i].tail = fixed.tail


def block_layout(space: SearchSpace) -> list[tuple[int, int]]:
    """``(activation gene position, parameter count)`` of each relation block of ``space``'s genome."""
    out, pos = [], 0
    for relation in space.relations:
        out.append((pos, len(relation.params)))
        pos += 1 + len(relation.params)
    return out


def _chain(space: SearchSpace, ind) -> Chain:
    """The genome's chain followed by the individual's pixel-noise tail."""
    return Chain(space.decode(ind).steps + tuple(getattr(ind, "tail", ())))


def _individual(genes, tail=()) -> list:
    ind = creator.DiverfuzzIndividual(genes)
    ind.tail = list(tail)
    return ind
