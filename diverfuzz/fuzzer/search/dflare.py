"""DFlare (Tian et al., ACM TOSEM 2023), as published: one hill-climbing trajectory per seed."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from diverfuzz.fuzzer.search.evaluate import SeedEvaluator
from diverfuzz.fuzzer.search.objectives import top_probability_gap
from diverfuzz.fuzzer.search.space import SearchSpace
from diverfuzz.relations import REGISTRY, Chain, Step, infer_kind

#: DFlare's seven mutation operators (authors' ``myLib/img_mutations.py``), in its order:
#: the four noise operators on 8-bit images (0..255 arithmetic ending in a uint8 cast,
#: :mod:`diverfuzz.relations.pixel`), then the three blurs.
OPERATORS = (
    "dflare_gaussian_noise",
    "dflare_salt_pepper",
    "dflare_multiplicative_noise",
    "dflare_pixel_change",
    "box_blur",
    "gaussian_blur",
    "median_blur",
)

#: OpenCV's sigma for a Gaussian kernel of size k and sigma 0: 0.3 * ((k - 1) / 2 - 1) + 0.8
#: (k = 1 is the identity).
_CV_GAUSS_SIGMA = {1: 0.0, 3: 0.8, 5: 1.1, 7: 1.4}


def operator_step(name: str, rng: np.random.Generator) -> Step:
    """One application of DFlare operator ``name`` with the authors' parameter draws.

    The noise operators work on the 8-bit image as the authors' do (``dflare_*``
    relations: values in 0..255, clipped, truncated by ``astype(np.uint8)``): Gaussian
    noise of variance 0.1 in 0..255 units (sigma ``sqrt(0.1)`` levels), salt-and-pepper
    amount 0.004 (a fixed count of elements), multiplicative noise with mean
    ``U(-0.5, 0.5)`` and variance ``0.05 * U(0, 1)``, 0-9 random pixel changes. The
    blurs work in ``[0, 1]``: box blur of kernel 1, 3 or 5 (the authors also draw 2 and
    4, which an odd-sized box cannot express), Gaussian blur of kernel 1, 3, 5 or 7
    (OpenCV's sigma for that kernel), median blur of kernel 1, 3, 5 or 7.
    """
    seed = int(rng.integers(2**31 - 1))
    if name == "dflare_gaussian_noise":
        return Step(name, {"sigma": float(np.sqrt(0.1)), "seed": seed})
    if name == "dflare_salt_pepper":
        return Step(name, {"amount": 0.004, "seed": seed})
    if name == "dflare_multiplicative_noise":
        mean = float(rng.uniform(-0.5, 0.5))
        return Step(name, {"mean": mean, "sigma": float(np.sqrt(0.05 * rng.random())), "seed": seed})
    if name == "dflare_pixel_change":
        return Step(name, {"count": int(rng.integers(0, 10)), "seed": seed})
    if name == "box_blur":
        return Step(name, {"radius": int(rng.integers(0, 3))})
    if name == "gaussian_blur":
        return Step(name, {"sigma": _CV_GAUSS_SIGMA[int(rng.choice([1, 3, 5, 7]))]})
    if name == "median_blur":
        return Step(name, {"radius": int(rng.integers(0, 4))})
    raise ValueError(f"unknown DFlare operator {name!r}")


@dataclass
class _CoveredStates:
    """TensorFuzz-style state corpus (authors' ``myLib/covered_states.py``), exact neighbours.

    A state is new when its squared Euclidean distance to every stored
    state exceeds ``threshold`` (FLANN's default metric is the squared L2).
    """

    threshold: float
    states: list = field(default_factory=list)

    def update(self, state: np.ndarray) -> bool:
        if self.states:
            d = np.min(np.sum((np.asarray(self.states) - state) ** 2, axis=1))
            if d <= self.threshold:
                return False
        self.states.append(state)
        return True


@dataclass(frozen=True)
class DFlareSearch:
    """DFlare's search: mutate the latest accepted input, pick operators by Metropolis-Hastings.

    Parameters
    ----------
    novelty : bool, optional
        Use DFlare's default fitness (probability gap *or* a new state of
        both models' probability vectors, mode "a"); False is the paper's
        ablation mode "c" (probability gap only). Default True.
    state_threshold : float, optional
        Squared L2 distance beyond which a probability state is new
        (default 0.5, the authors' value).
    gap_tolerance : float, optional
        Change of ``|diff|`` that counts as better (default 1e-3, the
        authors' value).
    operators : tuple of str, optional
        Mutation operators (default :data:`OPERATORS`, all seven; those
        that do not accept the seed's kind are dropped).

    Notes
    -----
    Tian et al., "Finding Deviated Behaviors of the Compressed DNN Models
    for Image Classifications", ACM TOSEM 2023, Sec. 3 (Algorithm 1), with
    details from the authors' code (``test_gen_main.py``,
    ``myLib/probability_img_mutations.py``, ``myLib/fitnessValue.py``):

    - one trajectory per seed: each iteration applies one operator to the
      latest accepted input (mutations accumulate: here the chain grows by
      one seeded step), queries both models once, and stops at the first
      top-1 disagreement;
    - mutants are 8-bit images: the noise operators are the ``dflare_*``
      relations (0..255 arithmetic, ``astype(np.uint8)`` truncation);
    - operator choice (Sec. 3.3, Metropolis-Hastings): an operator's score
      is accepted mutants / uses; operators are shuffled, then sorted by
      score; from the last accepted operator at rank ``k1`` a uniformly
      drawn ``k2`` is accepted with probability ``(1 - p) ** (k2 - k1)``,
      ``p = 1 / #operators``, until one is accepted; the first choice is
      uniform. This port follows the *paper's* rule. In the authors' code
      ``index(mu1)`` compares an operator's name with an operator object and
      always returns -1, so there ``k1 = -1`` whatever the last operator was
      (every ``k2 >= 0`` then has ``(1 - p) ** (k2 + 1) < 1``: a bias towards
      high scores that ignores the last success);
    - fitness (Sec. 3.4, :func:`~diverfuzz.fuzzer.search.objectives.top_probability_gap`):
      ``diff = p_ref(top_ref) - p_cand(top_cand)``, each model's own top-1
      probability; a mutant is accepted when ``| |diff| - |diff_best| | >
      1e-3`` (either direction, as the authors' ``better_than`` in
      ``myLib/fitnessValue.py`` is written; ``diff_best`` starts at 0) or
      its concatenated probability vectors are a new state (TensorFuzz
      coverage, threshold 0.5);
    - the coverage starts with the seed's own state (both models'
      probability vectors on the unmodified seed), as in the authors'
      ``test_gen_main.py``: the empty chain is evaluated first, one
      model-pair query counted against the budget like any other (if the
      seed already diverges, that is the divergence found, as the authors'
      "no need to search").

    ``docs/baselines.md`` lists, item by item, what matches the authors' code
    and what is still unverified (the blurs, the uint8 cast of out-of-range
    values, which wraps around there and saturates here).

    DFlare has no validity bound; here the campaign's validity rule still
    rejects (and counts) mutants, as for every strategy, and a rejected
    mutant is never accepted. The authors' budget is wall-clock time; here
    it is the campaign's query budget.
    """

    novelty: bool = True
    state_threshold: float = 0.5
    gap_tolerance: float = 1e-3
    operators: tuple[str, ...] = OPERATORS
    name: str = "dflare"

    def _operators(self, evaluator: SeedEvaluator) -> tuple[str, ...]:
        kind = infer_kind(evaluator.seed.shape)
        ops = tuple(o for o in self.operators if kind in REGISTRY[o].kinds)
        return ops or tuple(self.operators)

    def search(self, evaluator: SeedEvaluator, space: SearchSpace, rng: np.random.Generator) -> None:
        ops = self._operators(evaluator)
        n = len(ops)
        p = 1.0 / n
        uses = np.zeros(n)
        wins = np.zeros(n)
        states = _CoveredStates(self.state_threshold)
        chain: tuple = ()
        # The seed's own state seeds the coverage (authors' test_gen_main.py); one query.
        seed_result = evaluator.evaluate([Chain(())])
        if self.novelty and len(seed_result.chains) and seed_result.valid[0]:
            states.update(np.concatenate([seed_result.reference_probs[0], seed_result.candidate_probs[0]]))
        best_diff = 0.0  # the authors' initial fitness value: StateFitnessValue(False, 0)
        last: int | None = None
        while not evaluator.done:
            if last is None:
                op = int(rng.integers(n))
            else:
                order = rng.permutation(n)  # shuffle, then a stable sort by score
                scores = wins / (uses + 1e-7)
                order = order[np.argsort(-scores[order], kind="stable")]
                k1 = int(np.flatnonzero(order == last)[0])
                while True:
                    k2 = int(rng.integers(n))
                    if rng.random() < (1 - p) ** (k2 - k1):
                        break
                op = int(order[k2])
            uses[op] += 1
            candidate = Chain(chain + (space.clamp(operator_step(ops[op], rng)),))
            result = evaluator.evaluate([candidate])
            if not len(result.chains) or not result.valid[0]:
                continue
            if result.diverged[0]:
                wins[op] += 1
                break
            ref, cand = result.reference_probs[0], result.candidate_probs[0]
            diff = float(top_probability_gap(ref[None], cand[None])[0])
            new_state = states.update(np.concatenate([ref, cand])) if self.novelty else False
            if self.novelty:
                better = abs(abs(diff) - abs(best_diff)) > self.gap_tolerance or new_state
            else:
                better = abs(diff) > abs(best_diff)
            if better:
                best_diff, chain, last = diff, candidate.steps, op
                wins[op] += 1
