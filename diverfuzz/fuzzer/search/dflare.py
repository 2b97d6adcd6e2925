"""DFlare (Tian et al., ACM TOSEM 2023), as published: one hill-climbing trajectory per seed."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from diverfuzz.fuzzer.search.evaluate import SeedEvaluator
from diverfuzz.fuzzer.search.space import SearchSpace
from diverfuzz.relations import REGISTRY, Chain, Step, infer_kind

#: DFlare's seven mutation operators (authors' ``myLib/img_mutations.py``), in its order.
OPERATORS = (
    "gaussian_noise",
    "salt_pepper",
    "multiplicative_noise",
    "pixel_change",
    "box_blur",
    "gaussian_blur",
    "median_blur",
)

#: OpenCV's sigma for a Gaussian kernel of size k and sigma 0: 0.3 * ((k - 1) / 2 - 1) + 0.8
#: (k = 1 is the identity).
_CV_GAUSS_SIGMA = {1: 0.0, 3: 0.8, 5: 1.1, 7: 1.4}


def operator_step(name: str, rng: np.random.Generator) -> Step:
    """One application of DFlare operator ``name`` with the authors' parameter draws.

    Values are in ``[0, 1]`` here (the authors' 0..255 constants divided by
    255): Gaussian noise of variance 0.1 (sigma ``sqrt(0.1) / 255``),
    salt-and-pepper amount 0.004, multiplicative noise with mean
    ``U(-0.5, 0.5)`` and variance ``0.05 * U(0, 1)``, 0-9 random pixel
    changes, box blur of kernel 1, 3 or 5 (the authors also draw 2 and 4,
    which an odd-sized box cannot express), Gaussian blur of kernel 1, 3, 5
    or 7 (OpenCV's sigma for that kernel), median blur of kernel 1, 3, 5 or 7.
    """
    seed = int(rng.integers(2**31 - 1))
    if name == "gaussian_noise":
        return Step(name, {"sigma": float(np.sqrt(0.1) / 255.0), "seed": seed})
    if name == "salt_pepper":
        return Step(name, {"amount": 0.004, "seed": seed})
    if name == "multiplicative_noise":
        mean = float(rng.uniform(-0.5, 0.5))
        return Step(name, {"mean": mean, "sigma": float(np.sqrt(0.05 * rng.random())), "seed": seed})
    if name == "pixel_change":
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
    - operator choice (Sec. 3.3, Metropolis-Hastings): an operator's score
      is accepted mutants / uses; operators are shuffled, then sorted by
      score; from the last accepted operator at rank ``k1`` a uniformly
      drawn ``k2`` is accepted with probability ``(1 - p) ** (k2 - k1)``,
      ``p = 1 / #operators``, until one is accepted; the first choice is
      uniform;
    - fitness (Sec. 3.4): ``diff = p_ref(top_ref) - p_cand(top_cand)``,
      each model's own top-1 probability; a mutant is accepted when
      ``| |diff| - |diff_best| | > 1e-3`` (either direction, as the
      authors' ``better_than`` is written) or its concatenated probability
      vectors are a new state (TensorFuzz coverage, threshold 0.5).

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
        best_diff = 0.0  # the seed's own state is not queried (a query would count)
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
            diff = float(ref.max() - cand.max())
            new_state = states.update(np.concatenate([ref, cand])) if self.novelty else False
            if self.novelty:
                better = abs(abs(diff) - abs(best_diff)) > self.gap_tolerance or new_state
            else:
                better = abs(diff) > abs(best_diff)
            if better:
                best_diff, chain, last = diff, candidate.steps, op
                wins[op] += 1
