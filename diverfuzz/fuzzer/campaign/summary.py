"""The campaign record (``report.json``) built from a corpus: every count a verdict rests on.

The driver stores, beside the corpus's seeds and divergences, what the seed
selection found (:func:`record_selection`: clean disagreements, labels,
screening cost, batch dependence, warnings) and each seed's counters
(:func:`record_seed`: rejected candidates, shrinking and triage work).
:func:`build_report` turns all of it into the record every report format
renders, so a re-rendered or resumed campaign reports the same numbers.
"""

from __future__ import annotations

import statistics
from typing import Any

from diverfuzz import __version__
from diverfuzz.defenses import defense_config
from diverfuzz.fuzzer.campaign.seed import SeedOutcome
from diverfuzz.fuzzer.campaign.storage.corpus import Corpus
from diverfuzz.fuzzer.campaign.workload import SeedSelection
from diverfuzz.oracles.triage import LABELS, NOT_TRIAGED
from diverfuzz.reports import SCHEMA_VERSION

#: Share of rejected candidates from which a run warns that validity refused nearly everything.
NEARLY_ALL_REJECTED = 0.95

#: Share of the accepted candidates that were the seed itself (``summary.unchanged``) from
#: which a run warns, and ``check()`` fails, that the rule admits nothing but the seed.
#: Seeds are chosen where both models agree, so an unchanged mutant cannot diverge: a run
#: at this share tested (almost) only inputs already known to agree, and its "0 divergences"
#: says nothing. A rule that admits real changes stays well below it: the searches send an
#: unchanged copy only while a relation sits at (or rounds to) its identity. Measured on the
#: tiny 8x8 pair of the tests (8 seeds x 200 queries, rules 'natural' and 'ssim>=0.9'):
#: genetic 3 %, dflare 1-2 %, random 12-17 %, and diffchaser 71 % (its per-pixel mutation
#: rate of 0.005 leaves about 73 % of 64-pixel mutants untouched; 2 % at 28x28), while
#: 'psnr>=1000' and 'l0<=0' give 100 %. 95 % stays clear of every feasible case measured
#: and matches NEARLY_ALL_REJECTED.
NEARLY_ALL_UNCHANGED = 0.95

#: The triage labels ``summary.triage`` counts (MCA failures, ``unknown``, are left out).
TRIAGE_LABELS = (*LABELS, NOT_TRIAGED)

#: ``correct`` values of a divergence with a known true label.
CORRECT = ("reference", "candidate", "neither")

_SELECTION = "selection"
_COUNTERS = "seed_counters"


def record_selection(corpus: Corpus, selection: SeedSelection) -> None:
    """Store what :func:`diverfuzz.fuzzer.campaign.workload.select_seeds` found in ``corpus``."""
    corpus.set_meta("seeds_disagreeing_initially", selection.disagreeing_initially)
    corpus.set_meta("seeds_screened", selection.screened)
    corpus.set_meta(
        _SELECTION,
        {
            "clean_disagreements": list(selection.clean_disagreements),
            "checked": selection.checked,
            "screening_queries": selection.screening_queries,
            "batch_dependent": list(selection.batch_dependent),
            "warnings": list(selection.warnings),
            "labels": {str(k): v for k, v in selection.labels.items()},
        },
    )


def record_seed(corpus: Corpus, outcome: SeedOutcome) -> None:
    """Store one seed's counters; called before the seed itself is stored.

    Keyed by seed index, so a seed re-run after an interruption overwrites
    its own entry and nothing is counted twice.
    """
    counters = dict(corpus.get_meta(_COUNTERS) or {})
    counters[str(outcome.record.seed_index)] = dict(outcome.counters)
    corpus.set_meta(_COUNTERS, counters)


def correct_side(true_label: int, reference_label: Any, candidate_label: Any) -> str:
    """Which model is right about ``true_label``: ``reference``, ``candidate`` or ``neither``.

    The two labels differ (it is a divergence), so at most one is right.
    """
    if reference_label == true_label:
        return "reference"
    if candidate_label == true_label:
        return "candidate"
    return "neither"


def build_report(corpus: Corpus, *, interrupted: bool | None = None) -> dict:
    """The campaign record (``report.json``, schema version 1) from a corpus.

    ``interrupted`` defaults to what the last run stored. The summary's
    rates and counts are defined in ``diverfuzz/reports/report.schema.json``; in
    short: ``success_rate`` is search success over fuzzed seeds,
    ``divergence_rate`` counts clean disagreements too, over every seed
    checked (fuzzed seeds plus clean disagreements), so neither exceeds 1.
    """
    if interrupted is None:
        interrupted = bool(corpus.get_meta("interrupted"))
    seeds = corpus.seed_records()
    selection = corpus.get_meta(_SELECTION) or {}
    counters = corpus.get_meta(_COUNTERS) or {}
    labels = {int(k): int(v) for k, v in (selection.get("labels") or {}).items()}
    divergences = _divergence_rows(corpus, labels)
    firsts = _first_divergence_queries(divergences)
    config = dict(corpus.get_meta("config") or {})
    if config.get("defense"):
        config["defense_params"] = defense_config(config["defense"])
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "diverfuzz", "version": __version__},
        "config": config,
        "workload": corpus.get_meta("workload") or {},
        "fingerprints": corpus.get_meta("fingerprints") or {},
        "versions": corpus.get_meta("versions") or {},
        "summary": {
            **_summary(corpus, seeds, selection, counters, labels, divergences, firsts, config.get("validity"),
                       interrupted),
            **_margin_summary(divergences, config.get("min_margin")),
        },
        "seed_results": _seed_rows(seeds, counters, labels, firsts),
        "divergences": divergences,
        **({"supervisors": corpus.get_meta("supervisors")} if corpus.get_meta("supervisors") else {}),
        **({"estimate": corpus.get_meta("estimate")} if corpus.get_meta("estimate") else {}),
        **({"explain": corpus.get_meta("explain")} if corpus.get_meta("explain") else {}),
    }


def _divergence_rows(corpus: Corpus, labels: dict[int, int]) -> list[dict]:
    """The corpus's divergences as report rows, in seed order, with the true label and the side that is right."""
    divergences = []
    for div_id, d in corpus.divergences():
        row = d.to_dict()
        row["id"] = div_id
        if d.seed_index in labels:
            row["true_label"] = labels[d.seed_index]
            row["correct"] = correct_side(labels[d.seed_index], d.reference_label, d.candidate_label)
        divergences.append(row)
    # Seed order, not storage order: parallel backends store seeds as they
    # finish, and the report should read the same whichever backend ran.
    divergences.sort(key=lambda row: (row["seed_index"], row["id"]))
    return divergences


def _first_divergence_queries(divergences: list[dict]) -> dict[int, int]:
    """``{seed index: queries to its first divergence}`` over the seeds that diverged."""
    firsts: dict[int, int] = {}
    for d in divergences:
        firsts[d["seed_index"]] = min(firsts.get(d["seed_index"], d["queries"]), d["queries"])
    return firsts


def _seed_rows(seeds: list, counters: dict, labels: dict[int, int], firsts: dict[int, int]) -> list[dict]:
    """One ``seed_results`` row per fuzzed seed."""
    seed_rows = []
    for s in seeds:
        c = counters.get(str(s.seed_index)) or {}
        seed_rows.append(
            {
                "seed_index": s.seed_index,
                "queries": s.queries,
                "rejected": c.get("rejected"),
                "unchanged": c.get("unchanged"),
                "diverged": s.seed_index in firsts,
                **({"true_label": labels[s.seed_index]} if s.seed_index in labels else {}),
            }
        )
    return seed_rows


def _counter_total(seeds: list, counters: dict, key: str) -> int:
    """The sum of one per-seed counter over the fuzzed seeds (0 where a seed has none)."""
    return int(sum((counters.get(str(s.seed_index)) or {}).get(key, 0) for s in seeds))


def _rejection_warning(validity: Any, rejected: int, queries: int) -> str | None:
    """A warning when the validity rule rejected nearly every candidate, else None."""
    if not (queries and rejected >= NEARLY_ALL_REJECTED * queries):
        return None
    return (
        f"the validity rule {validity!r} rejected {rejected} of {queries} candidates "
        f"({100 * rejected / queries:.1f}%): the search saw "
        + ("no input at all" if rejected == queries else "almost no input")
        + "; loosen the rule (ssim lies in [0, 1], psnr in dB)"
    )


def nearly_all_unchanged(unchanged: int, accepted: int) -> bool:
    """Whether ``unchanged`` of ``accepted`` candidates reach :data:`NEARLY_ALL_UNCHANGED` (False when none was accepted)."""
    return accepted > 0 and unchanged >= NEARLY_ALL_UNCHANGED * accepted


def _unchanged_warning(validity: Any, unchanged: int, accepted: int) -> str | None:
    """A warning when nearly every candidate the validity rule accepted was the seed itself, else None."""
    if not nearly_all_unchanged(unchanged, accepted):
        return None
    return (
        f"the validity rule {validity!r} accepted {accepted} candidates, and {unchanged} of them "
        f"({100 * unchanged / accepted:.1f}%) were the seed itself, unchanged: the models were "
        "tested on inputs they already agree on, so finding no divergence means nothing; "
        "loosen the rule so it admits changed inputs (ssim lies in [0, 1], psnr in dB)"
    )


#: Reference margins at which ``summary.decisive_counts`` counts seeds.
DECISIVE_MARGINS = (0.05, 0.1)


def _margin_summary(divergences: list[dict], min_margin: Any) -> dict:
    """How sure the reference was where the models disagree: seeds with a decisive divergence, margin quartiles."""
    best: dict[int, float] = {}
    for d in divergences:
        margin = d.get("reference_margin")
        if margin is not None:
            best[d["seed_index"]] = max(best.get(d["seed_index"], 0.0), float(margin))
    margins = sorted(float(d["reference_margin"]) for d in divergences if d.get("reference_margin") is not None)
    quartiles = None
    if margins:
        q25, median, q75 = statistics.quantiles(margins, n=4, method="inclusive") if len(margins) > 1 else margins * 3
        quartiles = {"q25": q25, "median": median, "q75": q75}
    return {
        "min_margin": float(min_margin or 0.0),
        "decisive_counts": {f">={m:g}": sum(1 for v in best.values() if v >= m) for m in DECISIVE_MARGINS},
        "reference_margins": quartiles,
    }


def _summary(
    corpus: Corpus,
    seeds: list,
    selection: dict,
    counters: dict,
    labels: dict[int, int],
    divergences: list[dict],
    firsts: dict[int, int],
    validity: Any,
    interrupted: bool,
) -> dict:
    """The report's ``summary``: counts, rates, work done and warnings."""
    n = len(seeds)
    with_div = len(firsts)
    clean = [int(i) for i in selection.get("clean_disagreements") or []]
    checked = n + len(clean)
    queries = int(sum(s.queries for s in seeds))
    rejected = _counter_total(seeds, counters, "rejected")
    unchanged = _counter_total(seeds, counters, "unchanged")
    triage_evaluations = _counter_total(seeds, counters, "triage_evaluations")
    screening = int(selection.get("screening_queries") or 0)
    warnings = list(selection.get("warnings") or [])
    if (warning := _rejection_warning(validity, rejected, queries)) is not None:
        warnings.append(warning)
    if (warning := _unchanged_warning(validity, unchanged, queries - rejected)) is not None:
        warnings.append(warning)
    correct_counts = None
    if labels:
        correct_counts = {key: sum(1 for d in divergences if d.get("correct") == key) for key in CORRECT}
    return {
        "seeds": n,
        "seeds_screened": int(corpus.get_meta("seeds_screened") or 0),
        "seeds_disagreeing_initially": len(clean)
        if selection
        else int(corpus.get_meta("seeds_disagreeing_initially") or 0),
        "clean_disagreements": clean,
        "seeds_checked": checked,
        "seeds_with_divergence": with_div,
        "success_rate": with_div / n if n else 0.0,
        "divergence_rate": (len(clean) + with_div) / checked if checked else 0.0,
        "validity": validity,
        "queries": queries,
        "rejected": rejected,
        "unchanged": unchanged,
        "shrink_queries": int(sum(d.get("shrink_queries") or 0 for d in divergences)),
        "triage_evaluations": triage_evaluations,
        "screening_queries": screening,
        "total_model_evaluations": 2 * (screening + _counter_total(seeds, counters, "pair_evaluations"))
        + triage_evaluations,
        "correct_counts": correct_counts,
        "batch_dependent": list(selection.get("batch_dependent") or []),
        "warnings": warnings,
        "median_queries_to_first_divergence": float(statistics.median(firsts.values())) if firsts else None,
        "wall_seconds": round(float(corpus.get_meta("wall_seconds") or 0.0), 3),
        "interrupted": interrupted,
        "triage": {
            label: sum(1 for d in divergences if (d.get("triage") or {}).get("label") == label)
            for label in TRIAGE_LABELS
        },
        "not_triaged_reasons": sorted({
            str(d["triage"].get("reason")) for d in divergences
            if (d.get("triage") or {}).get("label") == NOT_TRIAGED and d["triage"].get("reason")
        }),
    }
