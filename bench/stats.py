"""Statistics shared by the search benchmarks (``bench/search_suite.py``, ``bench/natural_suite.py``).

Success rates get a Wilson interval over searches (``wilson``) and, since the
searches of one seed are not independent, a percentile bootstrap over seeds
(``bootstrap_over_seeds``). Strategies are compared on their cost (queries to
the first divergence, ``budget + 1`` when none): Vargha-Delaney A12 over all
searches (``a12``), and a two-sided Wilcoxon signed-rank test on the seeds'
mean costs, paired by seed (``paired_by_seed``), Holm-corrected (``holm``). ``search_record`` turns one finished search into the record all of them read.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest, bootstrap, mannwhitneyu, wilcoxon


def costs(records: list, budget: int) -> list[int]:
    """Queries to the first divergence per search record, ``budget + 1`` when none was found within ``budget``."""
    return [rec["q"] if rec["q"] is not None and rec["q"] <= budget else budget + 1 for rec in records]


def success(records: list, budget: int) -> float:
    """Share of search records that found a divergence within ``budget`` queries."""
    return float(np.mean([c <= budget for c in costs(records, budget)]))


def wilson(k: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion ``k / n`` (``(0, 1)`` when ``n == 0``)."""
    if n == 0:
        return (0.0, 1.0)
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return (float(ci.low), float(ci.high))


def a12(x, y) -> float:
    """Vargha-Delaney A12: P(a draw of ``x`` is smaller than one of ``y``), ties half."""
    xa, ya = np.asarray(x)[:, None], np.asarray(y)[None, :]
    return float(((xa < ya).sum() + 0.5 * (xa == ya).sum()) / (xa.size * ya.size))


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order.

    Hand-written (eight lines): SciPy offers only Benjamini-Hochberg
    (``false_discovery_control``), and statsmodels is not a dependency.
    """
    m = len(pvalues)
    order = np.argsort(pvalues)
    out = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out.tolist()


def per_seed(records: list, values: list) -> dict:
    """``values`` (one per record) grouped by the record's ``seed``: seed -> list."""
    out: dict = {}
    for rec, v in zip(records, values):
        out.setdefault(rec["seed"], []).append(v)
    return out


def bootstrap_over_seeds(records: list, budget: int, resamples: int = 2000) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the success rate, resampling seeds (with all their searches).

    Each seed contributes its success rate over its RNG seeds; the statistic
    is their mean (the overall rate when every seed ran as many searches).
    The bootstrap's own randomness is fixed (``random_state=0``).
    """
    rates = [float(np.mean([c <= budget for c in cs])) for cs in per_seed(records, costs(records, budget)).values()]
    if len(rates) < 2 or len(set(rates)) == 1:
        return (rates[0], rates[0]) if rates else (0.0, 1.0)
    res = bootstrap((np.asarray(rates),), np.mean, n_resamples=resamples, method="percentile", random_state=0)
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


def paired_by_seed(x_records: list, y_records: list, budget: int) -> float:
    """Two-sided Wilcoxon signed-rank p-value on the seeds' mean costs, paired by seed (1.0 when all equal)."""
    xs, ys = per_seed(x_records, costs(x_records, budget)), per_seed(y_records, costs(y_records, budget))
    common = sorted(set(xs) & set(ys))
    d = np.array([np.mean(xs[s]) - np.mean(ys[s]) for s in common])
    if len(d) == 0 or np.all(d == 0):
        return 1.0
    return float(wilcoxon(d, zero_method="zsplit", alternative="two-sided").pvalue)


def unpaired(x: list, y: list) -> float:
    """Two-sided Mann-Whitney U p-value over all searches (1.0 when every cost is equal)."""
    return 1.0 if len(set(x + y)) == 1 else float(mannwhitneyu(x, y, alternative="two-sided").pvalue)


def search_record(rng: int, index: int, ev) -> dict:
    """One search's outcome: queries to its first divergence (None: none) and how natural that divergence is."""
    d = ev.divergence
    if d is None:
        return {"rng": rng, "seed": index, "q": None, "used": ev.queries}
    geometry = {g["relation"]: g["values"] for g in d.geometry or []}
    rotation = abs(geometry.get("rotation", {}).get("angle", 0.0))
    shift = max((abs(v) for v in geometry.get("translation", {}).values()), default=0.0)
    pixel = d.pixel_validity or d.validity
    return {
        "rng": rng, "seed": index, "q": d.queries, "used": ev.queries, "chain": d.chain.to_list(),
        "severity": d.severity, "rotation_deg": rotation, "shift_px": shift,
        "psnr": float(d.validity["psnr"]), "ssim": float(d.validity["ssim"]),
        "pixel_psnr": float(pixel["psnr"]), "pixel_ssim": float(pixel["ssim"]),
        "reference_margin": d.reference_margin, "candidate_margin": d.candidate_margin,
    }
