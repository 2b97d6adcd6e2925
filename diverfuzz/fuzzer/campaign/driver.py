"""A campaign: every seed x one strategy x a per-seed budget, recorded as it goes."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable

import numpy as np

from diverfuzz import __version__
from diverfuzz.common.errors import DiverfuzzError, ModelError
from diverfuzz.fuzzer.campaign import summary
from diverfuzz.fuzzer.campaign.backends import get_backend
from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.fuzzer.campaign.rebuild import (
    MEMORY_ORIGIN,
    absolute_config,
    locate,
    path_record,
)
from diverfuzz.fuzzer.campaign.seed import SeedOutcome, search_setup
from diverfuzz.fuzzer.campaign.storage.corpus import CORPUS_FILE, Corpus
from diverfuzz.fuzzer.campaign.summary import record_seed, record_selection
from diverfuzz.fuzzer.campaign.workload import Workload, prepare, select_seeds
from diverfuzz.models.pair import torch_threads
from diverfuzz.relations.natural import geometric_steps
from diverfuzz.relations.relation import RelationError
from diverfuzz.reports import DivergenceImages, render_all

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"

#: Called after each seed with (seeds done, seeds total, divergences so far,
#: search queries so far).
ProgressFn = Callable[[int, int, int, int], None]


def library_versions() -> dict[str, str]:
    """Versions of everything that can change a campaign's numbers."""
    out = {"python": platform.python_version(), "diverfuzz": __version__}
    for dist in ("torch", "torchao", "numpy", "deap", "scikit-image", "scikit-learn"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


@dataclass
class CampaignResult:
    report: dict
    out: Path
    interrupted: bool


def _check_writable(out: Path) -> None:
    """Fail before any work when ``out`` cannot hold the corpus and reports."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".diverfuzz-write-probe-{os.getpid()}"
        probe.write_bytes(b"\0" * 65536)  # a corpus page or two must fit
        probe.unlink()
    except OSError as exc:
        raise DiverfuzzError(
            f"--out={str(out)!r} is not writable ({exc.strerror or exc}); choose another folder or free some space"
        ) from exc


def stored_for_resume(out: str | Path) -> tuple[dict, dict | None]:
    """``(config, paths record)`` of the campaign in ``out``, to continue it with ``--resume``.

    Raises a one-line :class:`DiverfuzzError` when ``out`` holds no campaign
    (a mistyped folder must not start a new one).
    """
    out = Path(out)
    if not (out / CORPUS_FILE).is_file():
        raise DiverfuzzError(
            f"--resume: --out={str(out)!r} holds no campaign (no {CORPUS_FILE}); check the folder name, "
            "or leave out --resume to start a new campaign there"
        )
    with Corpus.in_folder(out) as corpus:
        stored, paths = corpus.get_meta("config"), corpus.get_meta("paths")
    if stored is None:
        raise DiverfuzzError(
            f"--resume: the campaign in --out={str(out)!r} never started (it stopped before its models and data "
            "were ready); leave out --resume to start it again"
        )
    return stored, paths


def campaign_state(out: str | Path) -> str | None:
    """``"running"`` (started, never finished: still running, or killed), ``"interrupted"``, ``"finished"``,
    or None (no campaign, or a corpus written before the state was stored)."""
    if not (Path(out) / CORPUS_FILE).is_file():
        return None
    with Corpus.in_folder(out) as corpus:
        return corpus.get_meta("state")


def _open_corpus(config: CampaignConfig, out: Path, resume: bool, force: bool = False) -> Corpus:
    if resume and force:
        raise DiverfuzzError("--resume and --force exclude each other: continue the campaign in --out, or replace it")
    if resume:
        stored_for_resume(out)  # before anything is created in a mistyped folder
    _check_writable(out)
    if force:
        _remove_campaign(out)
    corpus = Corpus.in_folder(out)
    stored = corpus.get_meta("config")
    if stored is None:
        # The config is stored once the workload is built (see run_campaign),
        # so a run that fails on a bad model or data blocks no corrected rerun.
        return corpus
    if not resume:
        corpus.close()
        raise DiverfuzzError(
            f"--out={str(out)!r} already holds a campaign; pass --resume to continue it, "
            "--force to replace it, or choose another --out"
        )
    # Compared with its files located (the folder may have moved with them) and
    # paths made absolute (corpora of older versions stored them as given).
    previous = absolute_config(CampaignConfig.from_dict(locate(stored, corpus.get_meta("paths"), out, strict=False)[0]))
    if previous.resume_key() != config.resume_key():
        diff = {
            k: (previous.resume_key().get(k), v)
            for k, v in config.resume_key().items()
            if previous.resume_key().get(k) != v
        }
        corpus.close()
        raise DiverfuzzError(
            f"--resume: the campaign in {str(out)!r} was run with other settings "
            f"(stored vs given: {diff}); rerun with the same settings or another --out"
        )
    return corpus


def _remove_campaign(out: Path) -> None:
    """Delete the campaign files in ``out`` (corpus and reports), nothing else."""
    for pattern in (f"{CORPUS_FILE}*", "report.*", "junit.xml", "supervisors.json"):
        for path in out.glob(pattern):
            if path.is_file():
                path.unlink()


def run_campaign(
    config: CampaignConfig,
    out: str | Path,
    *,
    resume: bool = False,
    force: bool = False,
    workload: Workload | None = None,
    progress: ProgressFn | None = None,
) -> CampaignResult:
    """Fuzz ``config.seeds`` seeds and write the corpus and reports to ``out``.

    Parameters
    ----------
    config : CampaignConfig
        What to fuzz and how.
    out : path-like
        Output folder: ``corpus.sqlite``, ``report.json``, ``report.html``.
    resume : bool, optional
        Continue the campaign already in ``out``, skipping finished seeds.
    force : bool, optional
        Replace a campaign already in ``out`` (its corpus and reports are
        deleted first). Excludes ``resume``.
    workload : Workload, optional
        Models and data already built (default: built from ``config``).
    progress : callable, optional
        Called after each seed as ``progress(done, total, divergences, queries)``.

    Returns
    -------
    CampaignResult
        The report dict (``report.json``'s content) and whether the run was
        interrupted (Ctrl-C). Everything found before an interruption is
        stored and reported.
    """
    # Absolute paths: the stored config must name the same files from any folder.
    config = absolute_config(config)
    with torch_threads(config.threads):
        return _run(config, Path(out), resume, workload, progress, force)


def _run(
    config: CampaignConfig,
    out: Path,
    resume: bool,
    workload: Workload | None,
    progress: ProgressFn | None,
    force: bool = False,
) -> CampaignResult:
    started = time.perf_counter()
    # Checked before anything is written: a missing Ray or an in-memory
    # workload a worker cannot rebuild fails at once.
    backend = get_backend(config, workload_given=workload is not None)
    missing = _missing_folders(out)
    corpus = _open_corpus(config, out, resume, force)
    # A new campaign that fails before its first seed is fuzzed leaves nothing
    # behind (no corpus that blocks the corrected rerun, no folder it created).
    fresh, fuzzing = corpus.get_meta("config") is None, False
    interrupted = False
    base_wall = float(corpus.get_meta("wall_seconds") or 0.0)  # of earlier runs (resume)
    try:
        workload = workload or prepare(config)
        _record_start(corpus, config, out, workload)
        selection = select_seeds(workload, config.seeds)
        record_selection(corpus, selection)
        search_setup(config, workload)  # a bad relation set fails here, before any worker starts
        finished = corpus.finished_seeds()
        found = sum(1 for _ in corpus.divergences())
        total = len(selection.indices)
        done = sum(1 for i in selection.indices if int(i) in finished)
        queries = sum(r.queries for r in corpus.seed_records())
        if progress:
            progress(done, total, found, queries)
        pending = [int(i) for i in selection.indices if int(i) not in finished]

        def store(outcome: SeedOutcome) -> None:
            # The driver alone writes the corpus, one seed per transaction, as
            # outcomes arrive (in any order: each seed's results depend on its
            # index only).
            record_seed(corpus, outcome)  # first: a seed re-run after a crash overwrites its counters
            nonlocal done, found, queries
            corpus.finish_seed(outcome.record, outcome.divergences)
            if outcome.error is not None:
                raise (ModelError if outcome.model_error else DiverfuzzError)(outcome.error)
            done += 1
            found += len(outcome.divergences)
            queries += outcome.record.queries
            corpus.set_meta("wall_seconds", base_wall + time.perf_counter() - started)
            if progress:
                progress(done, total, found, queries)

        fuzzing = True
        try:
            backend.run(config, workload, pending, store)
        except KeyboardInterrupt:
            interrupted = True
        except DiverfuzzError as failure:
            # A model that raises mid-campaign: report what was found, then fail
            # with the original error (even if the reports cannot be written,
            # e.g. on a full disk: the corpus already holds every result).
            try:
                _finish(corpus, workload, out, started, interrupted=True, base_wall=base_wall)
            except Exception as report_error:  # noqa: BLE001 - the first failure is the one to show
                raise failure from report_error
            raise
        report = _finish(corpus, workload, out, started, interrupted=interrupted, base_wall=base_wall)
        return CampaignResult(report, out, interrupted)
    except BaseException:
        if fresh and not fuzzing:
            corpus.close()
            _discard_unstarted(out, missing)
        raise
    finally:
        corpus.close()


def _record_start(corpus: Corpus, config: CampaignConfig, out: Path, workload: Workload) -> None:
    """Store what the campaign runs with (a resume must run the same models) and mark it unfinished."""
    fingerprints = workload.pair.fingerprints()
    stored = corpus.get_meta("fingerprints")
    if stored is not None and stored != fingerprints:
        raise DiverfuzzError(
            f"--resume: the models differ from those the campaign in {str(out)!r} ran with "
            f"(fingerprints {stored} vs {fingerprints})"
        )
    corpus.set_meta("fingerprints", fingerprints)
    corpus.set_meta("config", config.to_dict())
    corpus.set_meta("paths", path_record(config, out))
    corpus.set_meta("origin", workload.origin or MEMORY_ORIGIN)
    corpus.set_meta("versions", library_versions())
    corpus.set_meta("workload", workload.description)
    # Until _finish says otherwise, the campaign is unfinished: a run killed
    # (SIGKILL, a crash, a lost machine) never reads as finished.
    corpus.set_meta("state", "running")
    corpus.set_meta("interrupted", True)


def _missing_folders(out: Path) -> list[Path]:
    """``out`` and its ancestors that do not exist yet (deepest first): what this run would create."""
    missing = []
    folder = out.absolute()
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _discard_unstarted(out: Path, created: list[Path]) -> None:
    """Remove what a run that never fuzzed a seed wrote: its corpus (no report is written
    before the first seed), and the folders it created if they are empty."""
    try:
        for path in out.glob(f"{CORPUS_FILE}*"):
            if path.is_file():
                path.unlink()
        for folder in created:
            folder.rmdir()
    except OSError:  # a folder the user filled meanwhile, or a read-only one: leave it
        pass


def _finish(
    corpus: Corpus, workload: Workload, out: Path, started: float, *, interrupted: bool, base_wall: float = 0.0
) -> dict:
    wall = base_wall + time.perf_counter() - started
    corpus.set_meta("wall_seconds", wall)
    corpus.set_meta("interrupted", interrupted)
    corpus.set_meta("state", "interrupted" if interrupted else "finished")
    report = build_report(corpus, interrupted=interrupted)
    write_reports(report, corpus, workload.x, out)
    return report


def build_report(corpus: Corpus, *, interrupted: bool | None = None) -> dict:
    """The campaign record (``report.json``, schema version 1) from a corpus.

    ``interrupted`` defaults to what the last run stored. See
    :func:`diverfuzz.fuzzer.campaign.summary.build_report`.
    """
    return summary.build_report(corpus, interrupted=interrupted)


def write_reports(
    report: dict, corpus: Corpus, seeds: np.ndarray | None, out: Path, formats: tuple[str, ...] = ("json", "html")
) -> dict[str, Path]:
    """Write the report ``formats`` (json, html, md, junit) to ``out``; returns the files by format.

    ``seeds`` is the campaign's seed data: HTML shows each divergence's seed,
    mutant (rebuilt from the chain) and their difference (not needed without html).
    """
    images = {}
    if "html" in formats:
        for div_id, d in corpus.divergences():
            seed = np.ascontiguousarray(seeds[d.seed_index], dtype=np.float32)
            kind = "signal" if seed.ndim == 2 else "image"
            images[div_id] = DivergenceImages(seed=seed, mutant=d.chain.apply(seed), kind=kind,
                                              moved=_moved_seed(d, seed))
    return render_all(report, out, images, formats)


def _moved_seed(d, seed: np.ndarray) -> np.ndarray | None:
    """The seed moved by the chain's geometric steps alone (what the natural rule compares the mutant with).

    None under a metric rule (no ``pixel_validity``: the rule compared the mutant with the
    seed itself), when the chain has no geometric step, or when a relation has no natural
    range (a custom one).
    """
    if getattr(d, "pixel_validity", None) is None:
        return None
    try:
        moved = geometric_steps(d.chain)
    except RelationError:
        return None
    return moved.apply(seed) if moved.steps else None
