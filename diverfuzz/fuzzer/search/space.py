"""The genome: how a chain of relations is encoded as a flat list of numbers.

Each relation of the search space owns one block of genes, all in ``[0, 1]``:
an activation gene (the relation is in the chain when it is >= 0.5) followed
by one gene per parameter (mapped linearly onto the parameter's range). The
chain applies active relations in the space's order. This is the encoding of
DiverGet (Yahmed et al., 2022): a fixed-length real vector, so standard
crossover and bounded mutation operators apply unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.relations import REGISTRY, Chain, Relation, Step
from diverfuzz.relations.natural import natural_order, natural_relation

#: Relations searched by default, in chain order (photometric, then noise,
#: then geometric, then occlusion).
DEFAULT_RELATIONS: tuple[str, ...] = (
    "brightness",
    "contrast",
    "gamma",
    "gaussian_blur",
    "gaussian_noise",
    "salt_pepper",
    "rotation",
    "translation",
    "zoom",
    "shear",
    "occlusion",
)


#: Relations active in a freshly sampled chain, on average.
EXPECTED_ACTIVE = 2.5


@dataclass(frozen=True)
class SearchSpace:
    """The relations a search may chain, and the genome layout for them.

    Parameters
    ----------
    relations : sequence of str
        Relation names from :data:`diverfuzz.relations.REGISTRY`, in chain order.
    severity : int or None
        The natural severity the space's relations were narrowed to (:meth:`natural`);
        None for the relations' full ranges.
    """

    relations: tuple[Relation, ...]
    severity: int | None = None

    @classmethod
    def from_names(cls, names: Sequence[str] = DEFAULT_RELATIONS) -> "SearchSpace":
        unknown = [n for n in names if n not in REGISTRY]
        if unknown:
            raise DiverfuzzError(
                f"relations={unknown!r} unknown; available: {', '.join(REGISTRY)}"
            )
        if not names:
            raise DiverfuzzError("relations=[] is empty; give at least one relation")
        return cls(tuple(REGISTRY[n] for n in names))

    @classmethod
    def natural(cls, names: Sequence[str] = DEFAULT_RELATIONS, severity: int = 5) -> "SearchSpace":
        """The space of the natural distortion model at ``severity``.

        Every relation's graded parameters span only their natural range at ``severity``
        (:func:`diverfuzz.relations.natural.natural_relation`), and the geometric relations
        come first (:func:`~diverfuzz.relations.natural.natural_order`), so every genome
        decodes to a chain inside the model: mutation, crossover and repair never leave it,
        and uniform genomes sample the natural space uniformly.
        """
        space = cls.from_names(names)
        ordered = natural_order(r.name for r in space.relations)
        return cls(tuple(natural_relation(REGISTRY[n], severity) for n in ordered), severity)

    def clamp(self, step: Step) -> Step:
        """``step`` with its graded parameters clipped into the space's natural severity.

        For operators that build steps of their own (the DFlare and DiffChaser baselines'
        pixel mutations): under a natural space they stay inside the model too. Without
        a severity the step is returned unchanged.
        """
        if self.severity is None:
            return step
        relation = natural_relation(REGISTRY[step.relation], self.severity)
        params = {k: min(max(v, relation.params[k].low), relation.params[k].high) for k, v in step.params.items()}
        return step if params == dict(step.params) else Step(step.relation, params)

    @property
    def genome_length(self) -> int:
        return sum(1 + len(r.params) for r in self.relations)

    def identity_genome(self) -> np.ndarray:
        """Genes of the empty chain with every parameter at its identity."""
        genes: list[float] = []
        for relation in self.relations:
            genes.append(0.0)
            genes.extend(relation.to_unit(relation.identity()))
        return np.asarray(genes, dtype=np.float64)

    def decode(self, genome: Sequence[float]) -> Chain:
        """The chain a genome encodes (genes are clipped to [0, 1])."""
        genes = np.clip(np.asarray(genome, dtype=np.float64), 0.0, 1.0).tolist()
        steps = []
        pos = 0
        for relation in self.relations:
            width = len(relation.params)
            if genes[pos] >= 0.5:
                # from_unit gives every parameter in its (narrowed) range as a plain number.
                params = relation.from_unit(genes[pos + 1 : pos + 1 + width])
                steps.append(Step.checked(relation.name, params))
            pos += 1 + width
        return Chain(tuple(steps))

    def sample(
        self, rng: np.random.Generator, n: int, *, p_active: float | None = None, scale: float = 1.0,
        uniform: bool = False,
    ) -> np.ndarray:
        """``n`` random genomes, shape ``(n, genome_length)``.

        Each relation is active with probability ``p_active`` (default: so
        that :data:`EXPECTED_ACTIVE` relations are active on average); each parameter
        moves from its identity towards a uniform random value by a random
        fraction, so the population spans gentle to strong distortions
        instead of clustering at the strong end, where most mutants fail the
        validity constraint. ``scale`` (in ``(0, 1]``, default 1) caps that
        fraction: 0.2 keeps every parameter within a fifth of its range
        from the identity (for strict naturalness bounds such as ``psnr>=20``).
        ``uniform=True`` draws every parameter uniformly over its range instead
        (``scale`` is then ignored): over a natural space, uniform sampling of the model.
        """
        if p_active is None:
            # About EXPECTED_ACTIVE relations per chain whatever the space's
            # size: long random chains mostly fail the validity constraint.
            p_active = min(0.5, EXPECTED_ACTIVE / len(self.relations))
        identity = self.identity_genome()
        target = rng.random((n, len(identity)))
        strength = np.ones((n, 1)) if uniform else rng.random((n, 1)) * scale
        genomes = identity + (target - identity) * strength
        pos = 0
        for relation in self.relations:
            genomes[:, pos] = np.where(rng.random(n) < p_active, 0.75, 0.25)
            pos += 1 + len(relation.params)
        return genomes
