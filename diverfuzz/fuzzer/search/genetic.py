"""Genetic search over chains of relations (DiverGet), built on DEAP, made adaptive.

DEAP's classes are created once here, at import, and used nowhere else
(``creator`` is global state in DEAP). DEAP's operators draw from Python's
global ``random`` module; :func:`_seeded_random` seeds it from the
campaign's ``numpy.random.Generator`` around each operator call and restores
the caller's state afterwards, so every choice still flows from the one
user-visible seed.
"""

from __future__ import annotations

import random
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np
from deap import base, tools

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.search.evaluate import SeedEvaluator
from diverfuzz.fuzzer.search.individuals import (  # noqa: F401 - repair, shrink, shrink_step are this module's API too
    _chain,
    _individual,
    block_layout,
    repair,
    shrink,
    shrink_step,
)
from diverfuzz.fuzzer.search.noise_steps import (
    append_step,
    draw_step,
    noise_relations,
    one_point_crossover,
    replace_step,
)
from diverfuzz.fuzzer.search.objectives import (
    decisive,
    disagreement_margin,
    penalised,
    score,
)
from diverfuzz.fuzzer.search.space import SearchSpace
from diverfuzz.relations import Chain

#: PSNR (dB) at which mode ``natural`` stops rewarding distance to the seed.
PSNR_CAP = 60.0

#: Individuals per evaluated batch that :func:`bisect_boundary` follows (most natural first).
BISECT_PER_BATCH = 2

#: Mutation operators the adaptive selector chooses among.
OPERATORS = ("polynomial", "toggle", "gaussian", "toward_identity", "add_noise", "reseed_noise")


#: Held while a DEAP operator draws from the global ``random``: seeds fuzzed in
#: threads (``--backend local --workers N``) would otherwise reseed it under each other.
_RANDOM_LOCK = threading.Lock()


@contextmanager
def _seeded_random(rng: np.random.Generator) -> Iterator[None]:
    with _RANDOM_LOCK:
        state = random.getstate()
        random.seed(int(rng.integers(2**63)))
        try:
            yield
        finally:
            random.setstate(state)


class _Credit:
    """Probability matching (Thierens, GECCO 2005) over a fixed set of arms.

    Every arm starts at quality ``q0``; each reward moves an arm's quality
    a fraction ``decay`` of the way to the reward (1 for an improving
    offspring, 0 otherwise), so arms that improve more often than others
    get picked more often, and ``p_min`` keeps every arm alive.
    """

    def __init__(self, n: int, p_min: float, decay: float = 0.3, q0: float = 0.5) -> None:
        self.q = np.full(n, q0)
        self.p_min = min(p_min, 1.0 / n)
        self.decay = decay

    def probs(self) -> np.ndarray:
        n = len(self.q)
        return self.p_min + (1 - n * self.p_min) * self.q / self.q.sum()

    def reward(self, arm: int, value: float) -> None:
        self.q[arm] = (1 - self.decay) * self.q[arm] + self.decay * value


def reward_credit(fresh: list, ops: "_Credit", relation_credit: "_Credit", blocks: list) -> None:
    """Credit the operator and the active relations of each evaluated offspring.

    The reward is 1 when the offspring beat its parent's fitness, else 0:
    operators and relations whose offspring improve gain probability, those
    whose offspring do not lose it. (Rewarding only improvements with 1 on
    qualities that start at 1 never moved the relation probabilities.)
    """
    for ind in fresh:
        gain = float(ind.fitness.values[0] > ind.parent_fitness)
        if ind.op is not None:
            ops.reward(ind.op, gain)
        for r, (pos, _) in enumerate(blocks):
            if ind[pos] >= 0.5:
                relation_credit.reward(r, gain)


#: Scale of the squashing in :func:`log_disagreement_margin` (log-probability units).
LOG_SQUASH = 5.0


def log_disagreement_margin(reference_probs: np.ndarray, candidate_probs: np.ndarray) -> np.ndarray:
    """:func:`~diverfuzz.fuzzer.search.objectives.disagreement_margin` on log-probabilities, squashed into ``(-1, 1)``.

    ``m / (|m| + LOG_SQUASH)`` where ``m`` is the disagreement margin computed
    on ``log p`` instead of ``p``. Confident models (a top-1 probability of
    0.9999 on most 28x28 MNIST inputs) saturate the probability margin at
    about -1 for every mutant, leaving the search no slope; in log space the
    margin keeps moving as the mutant nears the boundary. Like the
    probability margin it is positive exactly at a divergence (ties aside)
    and stays above every penalised invalid candidate.
    """
    floor = 1e-300
    m = disagreement_margin(np.log(np.maximum(reference_probs, floor)), np.log(np.maximum(candidate_probs, floor)))
    return m / (np.abs(m) + LOG_SQUASH)


#: Objectives the genetic search can maximise, by name.
OBJECTIVES = {"probability": disagreement_margin, "log": log_disagreement_margin}


def natural_fitness(fitness: np.ndarray, diverged: np.ndarray, psnr: np.ndarray, *, cap: float = PSNR_CAP) -> np.ndarray:
    """Mode ``natural``: a divergence scores ``1 + min(psnr, cap) / cap``, in ``(1, 2]``.

    Every divergence outranks every non-divergent candidate (whose margin
    fitness is at most about 0), and among divergences the one nearer the
    seed (higher PSNR) wins, so the search keeps pulling a found divergence
    towards the seed for the rest of the budget.
    """
    out = np.array(fitness, dtype=np.float64, copy=True)
    d = np.asarray(diverged, dtype=bool)
    out[d] = 1.0 + np.minimum(np.nan_to_num(psnr[d], posinf=cap), cap) / cap
    return out


def crossed_over(result, seed_label: int) -> np.ndarray:
    """Rows where both models agree on a label other than the seed's, ``(N,)`` bool.

    Such a candidate lies beyond both models' decision boundaries; on the
    path from the seed to it each model changes its label somewhere, and
    where the two do so at different points they disagree in between.
    """
    ok = np.asarray(result.valid, dtype=bool) & ~np.asarray(result.diverged, dtype=bool)
    out = np.zeros(len(ok), dtype=bool)
    idx = np.flatnonzero(ok)
    if len(idx):
        ref = result.reference_probs[idx].argmax(axis=1)
        cand = result.candidate_probs[idx].argmax(axis=1)
        out[idx] = (ref == cand) & (ref != seed_label)
    return out


def bisect_boundary(
    evaluator: SeedEvaluator, space: SearchSpace, individuals: list, seed_label: int, steps: int, blocks
) -> None:
    """Look for a divergence between the seed and individuals that crossed both decision boundaries.

    Each individual (whose chain makes both models agree on a label other
    than ``seed_label``, :func:`crossed_over`) is scaled towards the
    identity by a strength ``t`` (:func:`shrink`; ``t = 0`` is the seed,
    ``t = 1`` the individual). Bisection on ``t`` keeps both models on the
    seed's label at ``lo`` and off it at ``hi``, so each model's label
    change stays inside ``[lo, hi]``; once the interval is narrower than
    the gap between the two models' boundaries, a midpoint falls between
    them and the evaluator records the divergence. One query per
    individual and step, ``steps`` steps at most (the budget and mode
    ``first`` stop it earlier). Scaled chains are plain chains with
    concrete parameters, so a divergence found here replays exactly.
    """
    if steps <= 0 or not individuals:
        return
    identity = space.identity_genome()
    lo = [0.0] * len(individuals)
    hi = [1.0] * len(individuals)
    for _ in range(steps):
        if evaluator.done:
            return
        mids = [0.5 * (a + b) for a, b in zip(lo, hi)]
        trial = [shrink(ind, t, identity, blocks) for ind, t in zip(individuals, mids)]
        result = evaluator.evaluate([_chain(space, ind) for ind in trial])
        for i in range(len(result.chains)):
            if result.diverged[i]:
                continue
            at_seed = result.valid[i] and int(np.argmax(result.reference_probs[i])) == seed_label
            if at_seed:
                lo[i] = mids[i]
            else:
                hi[i] = mids[i]


def _clone(ind) -> list:
    """A copy of ``ind`` (genes, fitness, tail); steps are immutable, so shared."""
    out = _individual(list(ind), getattr(ind, "tail", ()))
    if ind.fitness.valid:
        out.fitness.values = ind.fitness.values
    return out


@dataclass(frozen=True)
class GeneticSearch:
    """A generational GA with adaptive operators, graded validity penalty and restarts.

    Parameters
    ----------
    population : int, optional
        Individuals per generation (>= 2, default 10: on the digits pair
        more generations beat larger ones at budgets of a few hundred
        queries, see ``bench/effectiveness.py``). The whole population is
        evaluated as one batch.
    elite : int, optional
        Best individuals copied unchanged into the next generation (default 2).
    tournament : int, optional
        Tournament size for selection (default 3).
    crossover_rate : float, optional
        Probability that a pair of parents is recombined by uniform
        crossover (default 0.7, range [0, 1]).
    mutation_rate : float, optional
        Probability that an offspring is mutated (default 0.8, range [0, 1]).
    eta : float, optional
        Crowding degree of polynomial bounded mutation (default 10; larger
        gives smaller steps).
    patience : int, optional
        Generations without a better best fitness before a restart, which
        keeps the elite and resamples the rest (default 4).
    adaptive : bool, optional
        Choose mutation operators and the relations to switch on by their
        record of improving offspring (default True). False uses polynomial
        mutation only (DiverGet's operator; the noise tail then stays as
        initialised).
    max_tail : int, optional
        Most pixel-noise steps an individual's tail holds (default 6; the
        oldest is dropped first).
    scale : float, optional
        Largest fraction of a parameter's range, from its identity, that
        sampled individuals and noise steps use (default 1.0, range
        ``(0, 1]``; smaller values start the search among gentle, natural
        distortions, see :meth:`~diverfuzz.fuzzer.search.space.SearchSpace.sample`).
    repair : int, optional
        Bisection steps of validity repair (default 5, chosen leave-one-pair-out
        in ``bench/search_suite.py`` over 0; 0 turns repair off). With ``k > 0``
        every candidate the validity rule rejects is scaled towards the
        identity by the strongest factor in ``{j / 2**k}`` that makes it
        valid (:func:`repair`) before it is evaluated: only validity metrics
        are computed for that, no model query is spent, and the population
        lives at the validity boundary instead of being penalised off it.
    objective : {"probability", "log"}, optional
        Fitness of valid candidates (default ``"probability"``: the
        disagreement margin on probabilities; ``"log"``:
        :func:`log_disagreement_margin`, which does not saturate on
        confident models).
    bisect : int, optional
        Steps of boundary bisection (default 0: off; >= 0). With ``k > 0``
        the search first queries the seed itself (one query) for the label
        both models give it; then, after each evaluated batch, up to
        :data:`BISECT_PER_BATCH` candidates on which both models agree on
        another label are bisected towards the seed for up to ``k`` queries
        each (:func:`bisect_boundary`): quantization moves a decision
        boundary a little, so between the seed and an input beyond both
        boundaries lies a thin band where the models disagree, which the
        margin alone rarely lands in.
    screen : int, optional
        Single-relation probes per relation before the first generation
        (default 0: off; >= 0). With ``k > 0`` the search starts by trying
        each relation alone at ``k`` random strengths (repaired to the
        validity rule), starts the relation credit from their ranking and
        the population from the best probes (:meth:`_screen`): under a strict
        rule such as ``psnr>=20`` few relations can move a confident model
        within the distortion allowed, and which ones depends on the model
        and the seed. Costs ``k`` queries per relation of the space.

    Notes
    -----
    The genome (:mod:`diverfuzz.fuzzer.search.space`) follows DiverGet (Yahmed et al.,
    "DiverGet: a search-based software testing approach for deep neural
    network quantization assessment", EMSE 2022): one activation gene and
    bounded parameters per transformation. Beyond DiverGet:

    - each individual also carries a *tail* of seeded pixel-noise steps
      (:mod:`diverfuzz.fuzzer.search.noise_steps`), DiffChaser's pixel-level
      perturbation made replayable; its chain is the genome's chain
      followed by the tail. Crossover is uniform on the genome and
      one-point on the tails; ``add_noise`` / ``reseed_noise`` mutate the
      tail. Half of the first population starts with one noise step;
    - fitness is :func:`~diverfuzz.fuzzer.search.objectives.disagreement_margin`,
      the margin towards a disagreement across both models;
    - mutation picks among :data:`OPERATORS` by probability matching
      (Thierens, "An adaptive pursuit strategy for allocating operator
      probabilities", GECCO 2005) rewarded by offspring-over-parent
      improvement, and switches on relations in proportion to their own
      improvement record;
    - candidates the validity rule rejects are first repaired
      (:func:`repair`): scaled towards the identity, by bisection on
      validity metrics alone, to the strongest valid strength, so the
      population sits on the validity boundary, where the distortion is
      as large as the rule allows; those still invalid get
      :func:`~diverfuzz.fuzzer.search.objectives.penalised` fitness graded by their
      distance to the validity boundary (still below every valid one, and
      never reported);
    - after ``patience`` stagnant generations the population restarts
      around the elite;
    - in mode ``many`` a divergence with an already-found label pair scores
      at most 0 (niching), pushing the search towards new label pairs;
    - in mode ``natural`` a divergence scores by its PSNR to the seed
      (:func:`natural_fitness`), so after the first divergence the search
      spends the rest of the budget on more natural ones, and the evaluator
      reports the most natural one.
    """

    population: int = 10
    elite: int = 2
    tournament: int = 3
    crossover_rate: float = 0.7
    mutation_rate: float = 0.8
    eta: float = 10.0
    patience: int = 4
    adaptive: bool = True
    max_tail: int = 6
    scale: float = 1.0
    repair: int = 5
    objective: str = "probability"
    bisect: int = 0
    screen: int = 0
    name: str = "genetic"

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise DiverfuzzError(
                f"genetic objective={self.objective!r} is unknown; choose one of {', '.join(OBJECTIVES)}"
            )
        if self.repair < 0:
            raise DiverfuzzError(f"genetic repair={self.repair} must be >= 0 (bisection steps; 0 = off)")
        if self.bisect < 0:
            raise DiverfuzzError(f"genetic bisect={self.bisect} must be >= 0 (bisection steps; 0 = off)")
        if self.screen < 0:
            raise DiverfuzzError(f"genetic screen={self.screen} must be >= 0 (probes per relation; 0 = off)")

    def _toolbox(self, length: int) -> base.Toolbox:
        toolbox = base.Toolbox()
        toolbox.register("clone", _clone)
        toolbox.register("mate", tools.cxUniform, indpb=0.5)
        toolbox.register(
            "mutate", tools.mutPolynomialBounded, eta=self.eta, low=0.0, up=1.0, indpb=min(1.0, 2.0 / length)
        )
        toolbox.register("select", tools.selTournament, tournsize=self.tournament)
        return toolbox

    def _assess(
        self, evaluator: SeedEvaluator, space: SearchSpace, individuals: list, seen: set, seed_label: int | None
    ) -> list:
        """Evaluate as one batch (after :func:`repair`); returns the individuals the budget covered.

        With ``bisect`` on, the (at most :data:`BISECT_PER_BATCH`, most
        natural first) individuals that crossed both models' boundaries are
        then bisected towards the seed (:func:`bisect_boundary`).
        """
        repair(evaluator, space, individuals, self.repair, self._blocks(space))
        result = evaluator.evaluate([_chain(space, ind) for ind in individuals])
        kept = individuals[: len(result.chains)]
        if self.bisect and seed_label is not None and not evaluator.done:
            crossed = np.flatnonzero(crossed_over(result, seed_label))
            crossed = crossed[np.argsort(-result.psnr[crossed], kind="stable")][:BISECT_PER_BATCH]
            bisect_boundary(evaluator, space, [kept[i] for i in crossed], seed_label, self.bisect, self._blocks(space))
        base = OBJECTIVES[self.objective]
        # --min-margin: pursue divergences where the reference is sure (unchanged at 0).
        fit = score(result, lambda r, c: decisive(base(r, c), r, result.min_margin))
        fit = penalised(fit, result.valid, result.violation)
        if evaluator.mode == "natural":
            fit = natural_fitness(fit, result.diverged, result.psnr)
        if evaluator.mode == "many":
            # Niching: a divergence with an already-found label pair is worth
            # no more than the boundary, so the search moves on to new pairs.
            for i in np.flatnonzero(result.diverged):
                key = (int(np.argmax(result.reference_probs[i])), int(np.argmax(result.candidate_probs[i])))
                if key in seen:
                    fit[i] = min(fit[i], 0.0)
                seen.add(key)
        for ind, f in zip(kept, fit):
            ind.fitness.values = (float(f),)
        return kept

    def _blocks(self, space: SearchSpace) -> list[tuple[int, int]]:
        return block_layout(space)

    def _noise_step(self, noise, rng):
        return draw_step(noise, rng, strength=0.5 * self.scale)

    def _mutate(self, ind, op: int, blocks, identity, relation_credit: _Credit, toolbox, rng, noise) -> None:
        active = [i for i, (pos, _) in enumerate(blocks) if ind[pos] >= 0.5]
        name = OPERATORS[op]
        if name == "add_noise" or (name == "reseed_noise" and not ind.tail):
            ind.tail = append_step(ind.tail, self._noise_step(noise, rng), self.max_tail)
        elif name == "reseed_noise":
            i = int(rng.integers(len(ind.tail)))
            ind.tail = replace_step(ind.tail, i, self._noise_step(noise, rng))
        elif name == "polynomial":
            with _seeded_random(rng):
                toolbox.mutate(ind)
        elif name == "toggle":
            if active and (rng.random() < 0.4 or len(active) >= 4):
                pos, _ = blocks[active[rng.integers(len(active))]]
                ind[pos] = 0.25
            else:
                r = int(rng.choice(len(blocks), p=relation_credit.probs()))
                pos, width = blocks[r]
                ind[pos] = 0.75
                if rng.random() < 0.5:  # start gently, near the identity
                    for g in range(pos + 1, pos + 1 + width):
                        ind[g] = float(identity[g] + (rng.random() - identity[g]) * rng.random() * 0.5)
        elif name == "gaussian":
            for r in active or range(len(blocks)):
                pos, width = blocks[r]
                for g in range(pos + 1, pos + 1 + width):
                    ind[g] = float(np.clip(ind[g] + rng.normal(0, 0.08), 0.0, 1.0))
        else:  # toward_identity: pull active params part of the way back
            for r in active:
                pos, width = blocks[r]
                a = rng.uniform(0.3, 0.8)
                for g in range(pos + 1, pos + 1 + width):
                    ind[g] = float(identity[g] + a * (ind[g] - identity[g]))

    def _screen(self, evaluator, space, rng, blocks, identity, relation_credit: _Credit, seen, seed_label, size):
        """Probe each relation alone (``screen`` random strengths each), seed the credit and population.

        Every probe switches one relation on with uniformly drawn parameters
        and is repaired to the validity rule like any candidate, so each
        relation is measured at the strength the rule allows. Relations are
        then ranked by their best probe's fitness; the relation credit
        starts at ``rank ** 3`` (rank normalised to ``[0, 1]``, the best
        relation 1), so switching relations on favours those that moved the
        models most for the distortion allowed, and the first population is
        the best ``size`` probes. Costs ``screen`` queries per relation.
        """
        probes = []
        for pos, width in blocks:
            for _ in range(self.screen):
                genes = identity.copy()
                genes[pos] = 0.75
                genes[pos + 1 : pos + 1 + width] = rng.random(width)
                probes.append(_individual(genes.tolist()))
        probes = self._assess(evaluator, space, probes, seen, seed_label)
        best = np.full(len(blocks), -np.inf)
        for k, ind in enumerate(probes):
            r = k // self.screen
            best[r] = max(best[r], ind.fitness.values[0])
        rank = best.argsort(kind="stable").argsort() / max(1, len(blocks) - 1)
        relation_credit.q = rank**3 + 1e-3
        return tools.selBest(probes, min(size, len(probes)))

    def search(self, evaluator: SeedEvaluator, space: SearchSpace, rng: np.random.Generator) -> None:
        noise = noise_relations(space)
        toolbox = self._toolbox(space.genome_length)
        size = max(2, self.population)
        blocks = self._blocks(space)
        identity = space.identity_genome()
        ops = _Credit(len(OPERATORS) if self.adaptive else 1, p_min=0.1)
        relation_credit = _Credit(len(blocks), p_min=0.3 / len(blocks))
        seen: set = set()
        seed_label = None
        if self.bisect:
            # One query on the seed itself gives the label both models agree on there.
            at_seed = evaluator.evaluate([Chain(())])
            if len(at_seed.chains) and at_seed.valid[0]:
                seed_label = int(np.argmax(at_seed.reference_probs[0]))
        if self.screen:
            pop = self._screen(evaluator, space, rng, blocks, identity, relation_credit, seen, seed_label, size)
        else:
            pop = [
                _individual(g.tolist(), [self._noise_step(noise, rng)] if rng.random() < 0.5 else [])
                for g in space.sample(rng, size, scale=self.scale)
            ]
            pop = self._assess(evaluator, space, pop, seen, seed_label)
        best = max((ind.fitness.values[0] for ind in pop), default=-np.inf)
        stale = 0
        while not evaluator.done and pop:
            elite = tools.selBest(pop, min(self.elite, len(pop)))
            with _seeded_random(rng):
                offspring = [toolbox.clone(ind) for ind in toolbox.select(pop, size - len(elite))]
            for ind in offspring:
                ind.parent_fitness = ind.fitness.values[0]
                ind.op = None
            for a, b in zip(offspring[::2], offspring[1::2]):
                if rng.random() < self.crossover_rate:
                    with _seeded_random(rng):
                        toolbox.mate(a, b)
                    a.tail, b.tail = one_point_crossover(a.tail, b.tail, rng, self.max_tail)
                    del a.fitness.values, b.fitness.values
            for ind in offspring:
                if rng.random() < self.mutation_rate:
                    op = int(rng.choice(len(ops.q), p=ops.probs())) if self.adaptive else 0
                    self._mutate(ind, op, blocks, identity, relation_credit, toolbox, rng, noise)
                    ind.op = op
                    if ind.fitness.valid:
                        del ind.fitness.values
            # Unchanged offspring keep their fitness: re-querying a known chain
            # would only spend budget.
            fresh = [ind for ind in offspring if not ind.fitness.valid]
            fresh = self._assess(evaluator, space, fresh, seen, seed_label)
            if self.adaptive:
                reward_credit(fresh, ops, relation_credit, blocks)
            pop = elite + [ind for ind in offspring if ind.fitness.valid]
            top = max(ind.fitness.values[0] for ind in pop)
            if top > best + 1e-9:
                best, stale = top, 0
            else:
                stale += 1
            if stale >= self.patience and not evaluator.done:
                # Restart: keep the elite, resample everything else.
                stale = 0
                fresh = [_individual(g.tolist()) for g in space.sample(rng, size - len(elite), scale=self.scale)]
                pop = tools.selBest(pop, len(elite)) + self._assess(evaluator, space, fresh, seen, seed_label)
