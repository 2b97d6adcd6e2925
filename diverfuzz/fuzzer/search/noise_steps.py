"""Pixel-level mutations as replayable steps: seeded noise relations.

DiffChaser and DFlare mutate input values directly. Here every such
mutation is one step of a seeded noise relation (``gaussian_noise``,
``salt_pepper``, ...): the step's ``seed`` parameter fixes the perturbed
pixels and values, so a mutant is still a :class:`diverfuzz.relations.Chain` that
replays bit for bit, and the stacked steps add up to a per-pixel
perturbation of the seed, as in the papers.
"""

from __future__ import annotations

import numpy as np

from diverfuzz.relations import Relation, Step

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


def draw_step(relations, rng: np.random.Generator, *, strength: float) -> Step:
    """A :func:`random_step` of a relation drawn uniformly from ``relations``."""
    return random_step(relations[int(rng.integers(len(relations)))], rng, strength=strength)


def append_step(tail: list, step: Step, max_len: int) -> list:
    """``tail`` with ``step`` appended, keeping the newest ``max_len`` steps."""
    return (list(tail) + [step])[-max_len:]


def replace_step(tail: list, index: int, step: Step) -> list:
    """``tail`` with its ``index``-th step replaced by ``step``."""
    return list(tail[:index]) + [step] + list(tail[index + 1 :])


def one_point_crossover(a: list, b: list, rng: np.random.Generator, max_len: int) -> tuple[list, list]:
    """Cut ``a`` and ``b`` at independent random points and swap the ends.

    Returns the two children, each truncated to its newest ``max_len`` steps.
    """
    ca, cb = int(rng.integers(len(a) + 1)), int(rng.integers(len(b) + 1))
    return (list(a[:ca]) + list(b[cb:]))[-max_len:], (list(b[:cb]) + list(a[ca:]))[-max_len:]


def uniform_crossover(a: list, b: list, rng: np.random.Generator) -> list:
    """One child taking each position's step from ``a`` or ``b`` with equal probability.

    Positions past the end of the shorter parent come from the longer one.
    """
    out = []
    for i in range(max(len(a), len(b))):
        if i >= len(a):
            out.append(b[i])
        elif i >= len(b):
            out.append(a[i])
        else:
            out.append(a[i] if rng.random() < 0.5 else b[i])
    return out
