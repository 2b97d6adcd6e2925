"""How often, not only whether: the probability that two models disagree, per relation and severity.

A search answers *is there* an input on which the counterpart disagrees; :func:`estimate`
answers *how often* it does on the inputs it will meet, in the standard form of
ImageNet-C (Hendrycks and Dietterich, ICLR 2019: error per corruption and severity 1-5)
and of Hu et al. (2022), who measured the disagreement of quantized models under shift.

For each relation and severity, every seed gets ``samples`` variants drawn uniformly over
the relation's natural range at that severity (:meth:`SearchSpace.natural
<diverfuzz.fuzzer.search.space.SearchSpace.natural>`, ``sample(uniform=True)``). The
natural ranges are nested and contain the identity (:mod:`diverfuzz.relations.natural_ranges`),
so **severity s means the whole range of s**, from the identity to the severity-s bound (the
milder severities included), not the band between s - 1 and s. No pixel rule is applied:
the distribution is the natural model's parametric one, as ImageNet-C's corruptions are.
Severity 0 is the clean disagreement rate (each seed once, unchanged), recorded once with
relation :data:`CLEAN`.

Seeds are the first inputs of the data as given, not screened: the rate is over the inputs
the models meet, seeds both models get wrong included. Draws are seeded by
``(rng_seed, seed index, severity, relation)``, so a cell's draws do not depend on which
other cells run, and every draw is a plain :class:`~diverfuzz.relations.Chain` that replays
(``keep=True`` returns the disagreeing ones as :class:`Divergence` records).
Intervals are over seeds (:func:`diverfuzz.oracles.rates.seed_rate`).
"""

from __future__ import annotations

import re
import time
import zlib
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Sequence

import numpy as np

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.search.evaluate import Divergence
from diverfuzz.fuzzer.search.space import SearchSpace
from diverfuzz.models.pair import ModelPair, same_classes
from diverfuzz.oracles import softmax
from diverfuzz.oracles.rates import Rate, seed_rate
from diverfuzz.relations import REGISTRY, Chain, RelationError, apply_steps, infer_kind, names_for_kind
from diverfuzz.relations.natural import SEVERITIES, natural_range

#: ``relation`` of the severity-0 record: the seeds unchanged.
CLEAN = "clean"

#: ``estimate.json``'s format version.
ESTIMATE_VERSION = 1

#: Largest number of draws per (seed, relation, severity).
MAX_SAMPLES = 1_000_000

#: Called after each (relation, severity) cell as ``progress(cells done, cells in all)``.
EstimateProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class ClassEstimate:
    """The rate of one cell over the seeds of one class (the true label, else the reference's clean label)."""

    label: int
    rate: Rate

    def to_dict(self) -> dict:
        return {"label": self.label, **self.rate.to_dict()}


@dataclass(frozen=True)
class CellEstimate:
    """The disagreement probability of one (relation, severity) cell.

    Attributes
    ----------
    relation : str
        A registry relation, or :data:`CLEAN` for severity 0.
    severity : int
        0-5.
    samples_per_seed : int
        Draws per seed (1 for severity 0).
    rate : Rate
        Over every seed (``rate.samples`` draws in all).
    per_class : tuple of ClassEstimate
        The same over the seeds of each class, by label.
    """

    relation: str
    severity: int
    samples_per_seed: int
    rate: Rate
    per_class: tuple[ClassEstimate, ...] = ()

    @property
    def probability(self) -> float:
        return self.rate.probability

    @property
    def high(self) -> float:
        return self.rate.high

    def to_dict(self) -> dict:
        """The ``estimate.json`` record: ``relation``, ``severity``, ``samples`` (draws in all),
        ``seeds``, ``probability``, ``low``, ``high``, and ``per_class``."""
        r = self.rate
        return {
            "relation": self.relation,
            "severity": self.severity,
            "samples": r.samples,
            "seeds": r.seeds,
            "samples_per_seed": self.samples_per_seed,
            "disagreements": r.disagreements,
            "probability": r.probability,
            "low": r.low,
            "high": r.high,
            "method": r.method,
            "per_class": [c.to_dict() for c in self.per_class],
        }


@dataclass
class EstimateResult:
    """What :func:`estimate` measured.

    Attributes
    ----------
    cells : list of CellEstimate
        The clean cell first, then each relation's severities in order.
    kept : list of Divergence
        With ``keep=True``, every disagreeing draw (the clean ones with an empty chain).
    confidence : float
        Of every interval.
    rng_seed : int
    class_source : str
        ``"true label"`` or ``"reference label"`` (no labels given): what ``per_class`` groups by.
    draws : int
        Inputs sent to both models.
    seconds : float
        Wall time of the estimate.
    """

    cells: list[CellEstimate]
    kept: list[Divergence] = field(default_factory=list)
    confidence: float = 0.95
    rng_seed: int = 0
    class_source: str = "true label"
    draws: int = 0
    seconds: float = 0.0

    def records(self) -> list[dict]:
        return [c.to_dict() for c in self.cells]

    def to_dict(self) -> dict:
        """``estimate.json``'s content."""
        return {
            "estimate_version": ESTIMATE_VERSION,
            "confidence": self.confidence,
            "rng_seed": self.rng_seed,
            "class_source": self.class_source,
            "draws": self.draws,
            "seconds": self.seconds,
            "kept": len(self.kept),
            "records": self.records(),
        }


def parse_severities(text: str | Sequence[int]) -> tuple[int, ...]:
    """Severities from ``"1-5"``, ``"1,3,5"``, ``"2"`` or a sequence of ints (each 0-5).

    Severity 0 (the clean column) is always estimated, so ``0`` is accepted and dropped.

    Examples
    --------
    >>> parse_severities("1-3,5")
    (1, 2, 3, 5)
    """
    if isinstance(text, str):
        values: list[int] = []
        for part in (p.strip() for p in text.split(",")):
            match = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
            if match is None:
                raise DiverfuzzError(
                    f"--severities={text!r}: expected severities 1-5 as a range or a list, e.g. 1-5 or 1,3,5"
                )
            low, high = int(match[1]), int(match[2] or match[1])
            if low > high:
                raise DiverfuzzError(f"--severities={text!r}: range {part!r} runs backwards; write {high}-{low}")
            values.extend(range(low, high + 1))
    else:
        values = list(text)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v <= 5:
            raise DiverfuzzError(f"--severities={text!r}: severity {v!r} is not one of 0-5 (0: clean inputs)")
    chosen = tuple(sorted({int(v) for v in values} - {0}))
    if not chosen and 0 not in values:
        raise DiverfuzzError(f"--severities={text!r}: give at least one severity 1-5")
    return chosen


def draw_rng(rng_seed: int, seed_index: int, relation: str, severity: int) -> np.random.Generator:
    """The generator of one cell's draws on one seed: the same whichever cells or seeds run."""
    return np.random.default_rng([rng_seed, seed_index, severity, zlib.crc32(relation.encode())])


def draw_chains(relation: str, severity: int, n: int, rng: np.random.Generator) -> list[Chain]:
    """``n`` one-step chains of ``relation``, uniform over its natural range at ``severity`` (1-5)."""
    space = SearchSpace.natural([relation], severity)
    genomes = space.sample(rng, n, p_active=1.0, uniform=True)
    return [space.decode(g) for g in genomes]


def check_samples(samples: int) -> int:
    """``samples`` if it is an integer 1 to :data:`MAX_SAMPLES`, else a one-line error."""
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or not 1 <= samples <= MAX_SAMPLES:
        raise DiverfuzzError(f"--samples={samples!r}: expected an integer 1-{MAX_SAMPLES} (draws per seed and cell)")
    return int(samples)


def _check_arguments(x: np.ndarray, y: np.ndarray | None, relations: Sequence[str], samples: int,
                     confidence: float, rng_seed: int) -> None:
    check_samples(samples)
    if not 0.0 < confidence < 1.0:
        raise DiverfuzzError(f"confidence={confidence!r}: expected a value in (0, 1), e.g. 0.95")
    if isinstance(rng_seed, bool) or not isinstance(rng_seed, (int, np.integer)) or rng_seed < 0:
        raise DiverfuzzError(f"--rng-seed={rng_seed!r}: expected an integer >= 0")
    if len(x) == 0:
        raise DiverfuzzError("seeds: no inputs to estimate on; give at least one seed")
    if y is not None and len(y) != len(x):
        raise DiverfuzzError(f"labels: {len(y)} labels for {len(x)} seeds; give one label per seed")
    unknown = [r for r in relations if r not in REGISTRY]
    if unknown:
        raise DiverfuzzError(f"--relations={','.join(unknown)}: unknown; available: {', '.join(REGISTRY)}")
    if not relations:
        raise DiverfuzzError("--relations: none given; name at least one relation")
    kind, channels = infer_kind(x.shape[1:]), int(x.shape[1])
    for name in relations:
        try:
            natural_range(name)  # a relation without a natural range has no severities
        except RelationError as exc:
            raise DiverfuzzError(f"--relations={name}: {exc}; leave it out of the estimate") from None
        relation = REGISTRY[name]
        if kind not in relation.kinds or not relation.accepts_channels(channels):
            raise DiverfuzzError(
                f"--relations={name}: it does not apply to {kind} inputs of shape {tuple(x.shape[1:])}; "
                f"relations for them: {', '.join(names_for_kind(kind, channels=channels))}"
            )


class _Batches:
    """Mutants queued from many (cell, seed) blocks, sent to both models in large batches."""

    def __init__(self, pair: ModelPair, rows: int, keep: bool) -> None:
        self.pair, self.rows, self.keep = pair, rows, keep
        self.blocks: list[tuple[int, int, np.ndarray, list[Chain]]] = []
        self.queued = 0
        self.kept: list[Divergence] = []
        self.draws = 0

    def add(self, cell: int, seed: int, mutants: np.ndarray, chains: list[Chain], counts: np.ndarray) -> None:
        self.blocks.append((cell, seed, mutants, chains))
        self.queued += len(mutants)
        if self.queued >= self.rows:
            self.flush(counts)

    def flush(self, counts: np.ndarray) -> None:
        if not self.blocks:
            return
        batch = np.concatenate([b[2] for b in self.blocks])
        ref, cand = same_classes(*self.pair.logits(batch))
        ref_label, cand_label = ref.argmax(axis=1), cand.argmax(axis=1)
        differ = ref_label != cand_label
        start = 0
        for cell, seed, mutants, chains in self.blocks:
            rows = slice(start, start + len(mutants))
            counts[cell, seed] += int(differ[rows].sum())
            if self.keep:
                for j in np.flatnonzero(differ[rows]):
                    k = start + int(j)
                    self.kept.append(_divergence(seed, chains[j], ref[k], cand[k]))
            start += len(mutants)
        self.draws += len(batch)
        self.blocks, self.queued = [], 0


def _divergence(seed: int, chain: Chain, ref: np.ndarray, cand: np.ndarray) -> Divergence:
    """A disagreeing draw as a corpus record: it replays from its seed and chain like a search's divergence."""
    p_ref, p_cand = softmax(ref[None])[0], softmax(cand[None])[0]
    return Divergence(
        seed_index=int(seed), chain=chain, reference_label=int(ref.argmax()), candidate_label=int(cand.argmax()),
        reference_probs=tuple(float(v) for v in p_ref), candidate_probs=tuple(float(v) for v in p_cand),
        fitness=0.0, validity={}, queries=0, found_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def estimate(
    pair: ModelPair,
    x: np.ndarray,
    y: np.ndarray | None = None,
    *,
    relations: Sequence[str],
    samples: int = 100,
    severities: Sequence[int] | str = SEVERITIES,
    rng_seed: int = 0,
    confidence: float = 0.95,
    keep: bool = False,
    batch_rows: int = 1024,
    pool: Executor | None = None,
    progress: EstimateProgress | None = None,
) -> EstimateResult:
    """The probability that ``pair`` disagrees, per relation and severity, with intervals over seeds.

    Parameters
    ----------
    pair : ModelPair
        The reference and the candidate.
    x : ndarray, float32, ``(N, C, H, W)`` or ``(N, C, T)``, values in [0, 1]
        The seeds, N >= 1.
    y : ndarray of int, optional
        True labels of ``x``: ``per_class`` groups by them (default: by the reference's
        label on the clean seed).
    relations : sequence of str
        Registry relations with a natural range (:mod:`diverfuzz.relations.natural_ranges`).
    samples : int, optional
        Draws per seed, relation and severity, 1 to :data:`MAX_SAMPLES`; default 100.
    severities : sequence of int or str, optional
        1-5 (:func:`parse_severities`); default all five. Severity 0 (clean) is always estimated.
    rng_seed : int, optional
        >= 0; seeds every draw (:func:`draw_rng`) and the bootstrap. Default 0.
    confidence : float, optional
        Of the intervals, in (0, 1); default 0.95.
    keep : bool, optional
        Return every disagreeing draw in ``kept`` (default False).
    batch_rows : int, optional
        Inputs per call of ``pair.logits`` (at least; a block is never split). Default 1024.
    pool : Executor, optional
        Threads for the relations on large inputs (:func:`diverfuzz.relations.apply_steps`).
    progress : callable, optional
        ``progress(cells done, cells in all)`` after each cell.

    Returns
    -------
    EstimateResult
    """
    started = time.perf_counter()
    severities = parse_severities(severities) if isinstance(severities, str) else parse_severities(tuple(severities))
    relations = tuple(relations)
    _check_arguments(x, y, relations, samples, confidence, rng_seed)
    x = np.ascontiguousarray(x, dtype=np.float32)
    m = len(x)
    cells = [(CLEAN, 0)] + [(r, s) for r in relations for s in severities]
    counts = np.zeros((len(cells), m), dtype=np.int64)
    draws = np.array([1] + [samples] * (len(cells) - 1), dtype=np.int64)
    batches = _Batches(pair, max(1, int(batch_rows)), keep)
    # The clean cell: every seed once, unchanged.
    for start in range(0, m, batches.rows):
        part = x[start : start + batches.rows]
        for i in range(len(part)):
            batches.add(0, start + i, part[i : i + 1], [Chain()], counts)
    batches.flush(counts)
    ref_clean = _clean_labels(pair, x, batches.rows) if y is None else None
    if progress:
        progress(1, len(cells))
    step = max(1, batches.rows)
    for c, (relation, severity) in enumerate(cells[1:], start=1):
        for i in range(m):
            chains = draw_chains(relation, severity, samples, draw_rng(rng_seed, i, relation, severity))
            for lo in range(0, samples, step):
                part = chains[lo : lo + step]
                out = np.empty((len(part),) + x.shape[1:], dtype=np.float32)
                out[...] = x[i]
                apply_steps(out, [ch.steps for ch in part], pool=pool)
                batches.add(c, i, out, part, counts)
        if progress and c < len(cells) - 1:
            progress(c + 1, len(cells))
    batches.flush(counts)
    classes = np.asarray(y if y is not None else ref_clean).astype(np.int64)
    result_cells = [
        _cell(relation, severity, counts[c], int(draws[c]), classes, confidence, rng_seed)
        for c, (relation, severity) in enumerate(cells)
    ]
    if progress:
        progress(len(cells), len(cells))
    return EstimateResult(
        result_cells, batches.kept, confidence, int(rng_seed), "true label" if y is not None else "reference label",
        batches.draws, time.perf_counter() - started,
    )


def _clean_labels(pair: ModelPair, x: np.ndarray, rows: int) -> np.ndarray:
    """The reference's labels on the clean seeds (the classes when no true labels are given)."""
    return np.concatenate([pair.run("reference", x[s : s + rows]).argmax(axis=1) for s in range(0, len(x), rows)])


def _cell(relation: str, severity: int, counts: np.ndarray, per_seed: int, classes: np.ndarray,
          confidence: float, rng_seed: int) -> CellEstimate:
    n = np.full(len(counts), per_seed, dtype=np.int64)
    rate = seed_rate(counts, n, confidence=confidence, rng=rng_seed)
    labels = np.unique(classes)
    if len(labels) == 1:  # one class: its seeds are all the seeds
        return CellEstimate(relation, severity, per_seed, rate, (ClassEstimate(int(labels[0]), rate),))
    per_class = tuple(
        ClassEstimate(int(label), seed_rate(counts[classes == label], n[classes == label], confidence=confidence,
                                            rng=rng_seed))
        for label in labels
    )
    return CellEstimate(relation, severity, per_seed, rate, per_class)


def worst_cell(records: Sequence[dict], relation: str | None = None, severity: int | None = None) -> dict | None:
    """The record with the highest upper bound among those of ``relation`` and ``severity`` (None: any).

    Ties go to the higher probability, then the first record. None when no record matches.
    """
    chosen = [
        r for r in records
        if (relation is None or r["relation"] == relation) and (severity is None or r["severity"] == severity)
    ]
    if not chosen:
        return None
    return max(chosen, key=lambda r: (r["high"], r["probability"]))
