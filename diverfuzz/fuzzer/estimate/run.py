"""``diverfuzz estimate``: build the models and seeds a config names, estimate, write the folder.

The folder holds ``estimate.json`` (:meth:`EstimateResult.to_dict
<diverfuzz.fuzzer.estimate.sampling.EstimateResult.to_dict>`), ``report.html`` (a heatmap of
relations x severities) and ``report.md`` (the table). With ``keep`` it also holds a corpus
(``corpus.sqlite``) with every disagreeing draw stored as a divergence, so
``diverfuzz replay DIR``, ``report``, ``export`` and ``explain`` work on it as on a campaign's folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from diverfuzz.common.atomic import atomic_write_text
from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.fuzzer.campaign.driver import build_report, library_versions, write_reports
from diverfuzz.fuzzer.campaign.rebuild import absolute_config, path_record
from diverfuzz.fuzzer.campaign.seed import relation_threads
from diverfuzz.fuzzer.campaign.storage.corpus import CORPUS_FILE, Corpus, SeedRecord
from diverfuzz.fuzzer.campaign.workload import CONFIG_ORIGIN, Workload, batch_rows, prepare
from diverfuzz.fuzzer.estimate.sampling import (
    EstimateProgress,
    EstimateResult,
    check_samples,
    estimate,
    parse_severities,
)
from diverfuzz.models.pair import torch_threads
from diverfuzz.relations import infer_kind, names_for_kind
from diverfuzz.reports import DivergenceImages, render_all
from diverfuzz.reports.estimate_view import render_estimate_html, render_estimate_markdown

ESTIMATE_FILE = "estimate.json"

#: Kept draws shown (with images) in the HTML report, as a campaign report shows its first 200.
SHOWN = 200

#: Campaign settings of the search alone, not stored with kept draws.
SEARCH_FIELDS = ("budget", "strategy", "mode", "population", "strategy_params", "min_margin", "backend", "workers",
                 "ray_address")

#: The rule stored with kept draws: they were drawn from the natural ranges without a pixel
#: rule, so their replay checks the label pair only.
KEPT_VALIDITY = "none"


@dataclass
class EstimateRun:
    """What :func:`run_estimate` wrote: the result and the folder's files."""

    result: EstimateResult
    out: Path
    files: list[Path]
    seeds: int


def _check_out(out: Path, force: bool) -> None:
    held = [name for name in (ESTIMATE_FILE, CORPUS_FILE) if (out / name).exists()]
    if held and not force:
        raise DiverfuzzError(
            f"--out={str(out)!r} already holds {', '.join(held)}; pass --force to replace it, or choose another --out"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        if force:
            for pattern in (f"{CORPUS_FILE}*", ESTIMATE_FILE, "report.*", "junit.xml"):
                for path in out.glob(pattern):
                    if path.is_file():
                        path.unlink()
    except OSError as exc:
        raise DiverfuzzError(f"--out={str(out)!r} is not writable ({exc.strerror or exc}); choose another folder") from exc


def run_estimate(
    config: CampaignConfig,
    out: str | Path,
    *,
    samples: int = 100,
    severities: Sequence[int] | str = (1, 2, 3, 4, 5),
    keep: bool = False,
    force: bool = False,
    workload: Workload | None = None,
    progress: EstimateProgress | None = None,
) -> EstimateRun:
    """Estimate the divergence probability of the pair ``config`` names, on its first ``config.seeds`` inputs.

    Parameters
    ----------
    config : CampaignConfig
        Models, data, preprocessing, ``seeds`` (how many inputs, from the first),
        ``relations`` (default: every relation of the input kind), ``rng_seed`` and
        ``threads``; search settings are ignored.
    out : path-like
        Output folder (created). One that already holds an estimate or a corpus is refused
        unless ``force``.
    samples, severities : see :func:`~diverfuzz.fuzzer.estimate.sampling.estimate`.
    keep : bool, optional
        Store every disagreeing draw in ``out/corpus.sqlite`` (default False).
    force : bool, optional
        Replace an estimate or corpus already in ``out`` (default False).
    workload : Workload, optional
        Models and data already built (default: :func:`~diverfuzz.fuzzer.campaign.workload.prepare`).
    progress : callable, optional
        ``progress(cells done, cells in all)``.
    """
    check_samples(samples)
    severities = parse_severities(severities)
    config = absolute_config(config)
    out = Path(out)
    _check_out(out, force)
    with torch_threads(config.threads):
        workload = workload or prepare(config)
        count = min(config.seeds, len(workload.x))
        x = workload.x[:count]
        y = None if workload.y is None else workload.y[:count]
        relations = workload.relations or tuple(config.relations or ())
        with relation_threads(config.threads) as pool:
            result = estimate(
                workload.pair, x, y, relations=relations, samples=samples, severities=severities,
                rng_seed=config.rng_seed, keep=keep, batch_rows=batch_rows(x.shape[1:]), pool=pool,
                progress=progress,
            )
    payload = {**result.to_dict(), "samples_per_seed": samples, "seeds": count,
               "relations": list(relations), "workload": workload.description}
    files = [atomic_write_text(out / ESTIMATE_FILE, json.dumps(payload, indent=2, sort_keys=True) + "\n")]
    if keep:
        files += _write_corpus(config, out, workload, result, count, samples)
    else:  # no corpus: the estimate's own pages
        files.append(atomic_write_text(out / "report.html", render_estimate_html(payload)))
        files.append(atomic_write_text(out / "report.md", render_estimate_markdown(payload)))
    return EstimateRun(result, out, files, count)


def _write_corpus(
    config: CampaignConfig, out: Path, workload: Workload, result: EstimateResult, seeds: int, samples: int
) -> list[Path]:
    """Store the kept draws as a campaign corpus (one record per seed), then render its reports."""
    stored = replace(config, validity=KEPT_VALIDITY, seeds=seeds)
    # Search settings did not make these draws: left out, so reports do not show a strategy or a budget.
    record = {k: v for k, v in stored.to_dict().items() if k not in SEARCH_FIELDS}
    by_seed: dict[int, list] = {}
    for d in result.kept:
        by_seed.setdefault(d.seed_index, []).append(d)
    cells = len(result.cells) - 1
    with Corpus.in_folder(out) as corpus:
        corpus.set_meta("fingerprints", workload.pair.fingerprints())
        corpus.set_meta("config", record)
        corpus.set_meta("paths", path_record(stored, out))
        corpus.set_meta("origin", workload.origin or dict(CONFIG_ORIGIN))
        corpus.set_meta("versions", library_versions())
        corpus.set_meta("workload", workload.description)
        corpus.set_meta("estimate", result.records())
        for i in range(seeds):
            found = by_seed.get(i, [])
            corpus.finish_seed(SeedRecord(i, 1 + cells * samples, bool(found), 0.0, 0.0), found)
        corpus.set_meta("state", "finished")
        corpus.set_meta("interrupted", False)
        report = build_report(corpus)
        shown = {row["id"] for row in report["divergences"][:SHOWN]}
        images = {}
        for div_id, d in corpus.divergences():
            if div_id in shown:
                seed = np.ascontiguousarray(workload.x[d.seed_index], dtype=np.float32)
                images[div_id] = DivergenceImages(seed=seed, mutant=d.chain.apply(seed),
                                                  kind="signal" if seed.ndim == 2 else "image")
    written = render_all(report, out, images, ("json", "html", "md"))
    return [out / CORPUS_FILE, *written.values()]


#: Keys ``check(estimate={...})`` takes.
OPTION_KEYS = ("samples", "severities", "relations")


def estimate_options(value: object) -> dict:
    """``check(estimate=...)``'s value as ``{"samples", "severities", "relations"}``.

    ``True`` (100 draws), an int (draws per seed, relation and severity), or a mapping with
    any of :data:`OPTION_KEYS` (``severities`` as ``"1-5"`` or a list; ``relations`` a list of
    names, default: every relation of the input kind).
    """
    if value is True:
        value = {}
    elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = {"samples": int(value)}
    if not isinstance(value, Mapping):
        raise DiverfuzzError(
            f"estimate={value!r}: expected True, the draws per seed and cell (an int), or a dict with keys "
            f"{', '.join(OPTION_KEYS)}, e.g. estimate={{'samples': 100, 'severities': '1-5'}}"
        )
    unknown = sorted(set(value) - set(OPTION_KEYS))
    if unknown:
        raise DiverfuzzError(f"estimate={dict(value)!r}: unknown keys {unknown}; use {', '.join(OPTION_KEYS)}")
    relations = value.get("relations")
    if isinstance(relations, str):
        relations = tuple(r.strip() for r in relations.split(",") if r.strip())
    try:
        samples = check_samples(value.get("samples", 100))
        severities = parse_severities(value.get("severities", "1-5"))
    except DiverfuzzError as exc:
        raise DiverfuzzError(f"estimate={dict(value)!r}: {exc}") from None
    return {"samples": samples, "severities": severities, "relations": None if relations is None else tuple(relations)}


def estimate_workload(workload: Workload, options: object, *, rng_seed: int = 0, threads: int = 1) -> EstimateResult:
    """:func:`~diverfuzz.fuzzer.estimate.sampling.estimate` on every seed of ``workload``
    (``check(estimate=...)``); ``options`` as :func:`estimate_options` reads them."""
    chosen = estimate_options(options)
    shape = tuple(workload.x.shape[1:])
    relations = chosen["relations"] or workload.relations or names_for_kind(infer_kind(shape), channels=int(shape[0]))
    with torch_threads(threads), relation_threads(threads) as pool:
        return estimate(
            workload.pair, workload.x, workload.y, relations=relations, samples=chosen["samples"],
            severities=chosen["severities"], rng_seed=rng_seed, batch_rows=batch_rows(shape), pool=pool,
        )


def attach_estimate(report: dict, out: str | Path, seeds: np.ndarray, result: EstimateResult) -> dict:
    """Add ``result`` to a campaign's ``report`` and folder ``out``: its corpus keeps it (``diverfuzz
    report`` shows it again), ``estimate.json`` is written and ``report.json``/``.html`` are re-rendered."""
    out = Path(out)
    report["estimate"] = result.records()
    atomic_write_text(out / ESTIMATE_FILE, json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n")
    with Corpus.in_folder(out) as corpus:
        corpus.set_meta("estimate", report["estimate"])
        write_reports(report, corpus, seeds, out, ("json", "html"))
    return report


def load_estimate(path: str | os.PathLike[str]) -> dict:
    """Read an ``estimate.json`` (a file, or the folder holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / ESTIMATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DiverfuzzError(f"estimate={str(path)!r} cannot be read as {ESTIMATE_FILE}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("records"), list):
        raise DiverfuzzError(f"estimate={str(path)!r} holds no 'records' list; give a file diverfuzz estimate wrote")
    return data


__all__ = [
    "ESTIMATE_FILE", "EstimateRun", "attach_estimate", "estimate_options", "estimate_workload", "load_estimate",
    "run_estimate",
]
