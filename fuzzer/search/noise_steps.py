"""Pixel-level mutations as replayable steps: seeded noise relations.

DiffChaser and DFlare mutate input values directly. Here every such
mutation is one step of a seeded noise relation (``gaussian_noise``,
``salt_pepper``, ...): the step's ``seed`` parameter fixes the perturbed
pixels and values, so a mutant is still a :class:`relations.Chain` that
replays bit for bit, and the stacked steps add up to a per-pixel
perturbation of the seed, as in the papers.
"""

from __future__ import annotations

import numpy as np

from relations import Relation, Step

#: Preferred pixel-level noise relations, per kind, in order.
PIXEL_NOISE = ("gaussian_noise", "salt_pepper", "speckle_noise", "spectral_noise", "jitter")
SEED_PARAM = "seed"


def noise_relations(space) -> tuple[Relation, ...]:
    """The space's seeded pointwise-noise relations; else any with a seed; else all."""
    rels = [r for r in space.relations if r.name in PIXEL_NOISE]
    if not rels:
        rels = [r for r in space.relations if SEED_PARAM in r.params]
    return tuple(rels or space.relations)


def random_step(relation: Relation, rng: np.random.Generator, *, strength: float) -> Step:
    """A step of ``relation`` with parameters a random fraction (<= ``strength``) from identity.

    A ``seed`` parameter is drawn uniformly over its range instead.
    """
    identity = np.asarray(relation.to_unit(relation.identity()))
    target = rng.random(len(identity))
    unit = identity + (target - identity) * rng.uniform(0.0, strength)
    params = relation.from_unit(unit.tolist())
    if SEED_PARAM in relation.params:
        spec = relation.params[SEED_PARAM]
        params[SEED_PARAM] = int(rng.integers(spec.low, spec.high + 1))
    return Step(relation.name, params)
