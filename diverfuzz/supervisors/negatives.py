"""Matched negatives for supervisor evaluation, regenerated from a stored campaign.

A supervisor that runs beside a deployed reduced-precision model is useful
when, among inputs that look alike, it rejects the ones on which the deployed
model disagrees with the full-precision one. Its negatives must therefore be
valid mutants at the same distortion on which the two models agree, not
clean test inputs. They are regenerated at evaluation time (nothing extra is
stored at campaign time), from two sources:

``search``
    The search's own non-divergent valid candidates. Every seed's search is a
    deterministic function of the campaign config and
    ``seed_rng(rng_seed, seed_index)`` (the campaign's golden test pins
    this), so re-running it for the seeds that diverged reproduces exactly
    the candidates it evaluated; those that passed the validity rule and on
    which the models agreed are kept. Only seeds with a divergence are
    re-run (in ``--mode first`` their searches stop at the divergence, so
    this costs the queries the campaign spent on them).
``chain``
    Mutants drawn from the same relation chains as the divergences: every
    continuous parameter is moved to ``identity + s (value - identity)`` with
    ``s ~ U(0.5, 1.5)`` (clipped to its range), integer parameters (noise
    seeds, ...) are redrawn uniformly; kept when valid under the campaign's
    rule and the models agree.

From each seed's pool, the ``per_divergence`` candidates whose L2 distance
to the seed lies closest to each divergence's are kept (distortion matching).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.fuzzer.campaign.seed import search_setup, seed_rng
from diverfuzz.fuzzer.campaign.workload import Workload, seed_input
from diverfuzz.fuzzer.search.evaluate import BatchResult, Divergence, SeedEvaluator
from diverfuzz.models.pair import torch_threads
from diverfuzz.relations import Chain, apply_batch, natural
from diverfuzz.relations.chain import Step
from diverfuzz.relations.registry import get_relation

#: Chain-resampled candidates drawn per divergence.
CHAIN_DRAWS = 40

#: Matched negatives kept per divergence (nearest in L2 to its distortion).
PER_DIVERGENCE = 10


@dataclass
class _RecordingEvaluator(SeedEvaluator):
    """A :class:`SeedEvaluator` that also keeps every valid candidate the models agree on."""

    agreed: list = field(default_factory=list, init=False)

    def evaluate(self, chains) -> BatchResult:
        result = super().evaluate(chains)
        for chain, ok, div in zip(result.chains, result.valid, result.diverged):
            if ok and not div:
                self.agreed.append(chain)
        return result


@dataclass(frozen=True)
class MatchedNegatives:
    """Matched negatives of one campaign.

    Attributes
    ----------
    x : ndarray, float32, (R, *input_shape)
    seed_index : ndarray of int, (R,)
    source : ndarray of str, (R,)
        ``"search"`` or ``"chain"``.
    l2 : ndarray, float64, (R,)
        L2 distance to the seed.
    replayed_seeds : int
        Seeds whose search was re-run.
    reproduced : int
        Stored divergences the re-run search found again (a check that the
        replay is the campaign's search; all of them, for a deterministic
        model pair).
    chains : tuple of Chain
        The chain of each negative (row ``i`` is ``chains[i]`` applied to its seed):
        every one meets the campaign's validity rule, the natural model included.
    """

    x: np.ndarray
    seed_index: np.ndarray
    source: np.ndarray
    l2: np.ndarray
    replayed_seeds: int
    reproduced: int
    chains: tuple[Chain, ...] = ()

    def summary(self, divergent_l2: np.ndarray) -> dict:
        """JSON-ready counts and the median L2 of negatives next to the divergences'."""
        return {
            "matched": int(len(self.x)),
            "from_search": int((self.source == "search").sum()),
            "from_chain": int((self.source == "chain").sum()),
            "replayed_seeds": self.replayed_seeds,
            "reproduced_divergences": self.reproduced,
            "median_l2_matched": float(np.median(self.l2)) if len(self.l2) else None,
            "median_l2_divergent": float(np.median(divergent_l2)) if len(divergent_l2) else None,
        }


def _l2(seed: np.ndarray, mutants: np.ndarray) -> np.ndarray:
    return np.sqrt(((mutants.astype(np.float64) - seed.astype(np.float64)) ** 2).reshape(len(mutants), -1).sum(axis=1))


def resample_chain(chain: Chain, rng: np.random.Generator) -> Chain:
    """``chain`` with its parameters redrawn around their values (see the module docstring)."""
    steps = []
    for step in chain.steps:
        specs = get_relation(step.relation).params
        params = {}
        for name, value in step.params.items():
            spec = specs[name]
            if spec.integer:
                params[name] = int(rng.integers(int(spec.low), int(spec.high) + 1))
            else:
                moved = spec.identity + rng.uniform(0.5, 1.5) * (float(value) - spec.identity)
                params[name] = float(np.clip(moved, spec.low, spec.high))
        steps.append(Step(step.relation, params))
    return Chain(tuple(steps))


def _agreeing(workload: Workload, mutants: np.ndarray) -> np.ndarray:
    if len(mutants) == 0:
        return np.zeros(0, dtype=bool)
    ref, cand = workload.pair.logits(mutants)
    return ref.argmax(axis=1) == cand.argmax(axis=1)


def matched_negatives(
    config: CampaignConfig,
    workload: Workload,
    divergences: list[Divergence],
    *,
    per_divergence: int = PER_DIVERGENCE,
    chain_draws: int = CHAIN_DRAWS,
) -> MatchedNegatives:
    """Regenerate matched negatives for ``divergences`` of the campaign ``config`` ran.

    Parameters
    ----------
    config : CampaignConfig
        The stored campaign config (strategy, budget, mode, validity, rng_seed).
    workload : Workload
        ``prepare(config)``.
    divergences : list of Divergence
        The stored divergences.
    per_divergence : int, optional
        Negatives kept per divergence (default 10); fewer when the seed's pool
        is smaller.
    chain_draws : int, optional
        Chain-resampled candidates drawn per divergence (default 40).

    Returns
    -------
    MatchedNegatives

    Notes
    -----
    Every random choice flows from ``config.rng_seed``: the replayed searches
    use the campaign's own per-seed generators, the chain resampling
    ``np.random.default_rng([rng_seed, seed_index, 17])``.
    """
    strategy, space, validity = search_setup(config, workload)
    by_seed: dict[int, list[Divergence]] = {}
    for d in divergences:
        by_seed.setdefault(d.seed_index, []).append(d)
    xs, seeds, sources, dists, chains = [], [], [], [], []
    reproduced = 0
    for index, divs in sorted(by_seed.items()):
        seed = seed_input(workload, index)
        evaluator = _RecordingEvaluator(workload.pair, seed, index, config.budget, validity, mode=config.mode)
        # The campaign's thread count: torch's kernels may round differently with another,
        # and a near-tie divergence would then not be found again.
        with torch_threads(config.threads):
            strategy.search(evaluator, space, seed_rng(config.rng_seed, index))
        found = {d.chain for d in evaluator.divergences}
        reproduced += sum(d.chain in found for d in divs)
        pool_chains = list(dict.fromkeys(evaluator.agreed))
        pool_source = ["search"] * len(pool_chains)
        rng = np.random.default_rng([config.rng_seed, index, 17])
        drawn = [resample_chain(d.chain, rng) for d in divs for _ in range(chain_draws)]
        if drawn:
            mutants = apply_batch(drawn, seed)
            ok, _, _ = natural.judge(validity, seed, drawn, mutants)
            ok = np.asarray(ok, dtype=bool)
            keep = np.flatnonzero(ok)
            agree = _agreeing(workload, mutants[keep])
            for i in keep[agree]:
                if drawn[i] not in pool_chains:
                    pool_chains.append(drawn[i])
                    pool_source.append("chain")
        if not pool_chains:
            continue
        pool = apply_batch(pool_chains, seed)
        pool_l2 = _l2(seed, pool)
        target_l2 = _l2(seed, np.stack([d.chain.apply(seed) for d in divs]))
        chosen: list[int] = []
        for t in target_l2:
            for j in np.argsort(np.abs(pool_l2 - t), kind="stable")[:per_divergence]:
                if int(j) not in chosen:
                    chosen.append(int(j))
        xs.append(pool[chosen])
        seeds.extend([index] * len(chosen))
        sources.extend(pool_source[j] for j in chosen)
        chains.extend(pool_chains[j] for j in chosen)
        dists.append(pool_l2[chosen])
    shape = workload.x.shape[1:]
    return MatchedNegatives(
        np.concatenate(xs).astype(np.float32) if xs else np.zeros((0, *shape), np.float32),
        np.asarray(seeds, dtype=np.int64),
        np.asarray(sources, dtype=str),
        np.concatenate(dists) if dists else np.zeros(0),
        len(by_seed),
        reproduced,
        tuple(chains),
    )


__all__ = ["CHAIN_DRAWS", "PER_DIVERGENCE", "MatchedNegatives", "matched_negatives", "resample_chain"]
