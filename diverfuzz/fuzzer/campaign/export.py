"""``diverfuzz export DIR``: a campaign's divergences as files for a bug tracker or a training set.

For each divergence: the seed, the mutant and their difference as PNGs,
and, for all of them, one ``divergences.npz`` of arrays, labels and chains.
Like ``diverfuzz report``, this needs the corpus and the campaign's seed
data (the bundled example's, or its ``--data``), but no model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.fuzzer.campaign.driver import build_report
from diverfuzz.fuzzer.campaign.storage.corpus import Corpus
from diverfuzz.fuzzer.campaign.workload import seed_data
from diverfuzz.reports.images import array_to_png, difference_image, signal_plot_png

FORMATS = ("png", "npz")
#: Where the files go by default, inside the campaign folder.
EXPORT_FOLDER = "export"
NPZ_FILE = "divergences.npz"


@dataclass
class ExportResult:
    """What :func:`export` wrote: the folder, the number of divergences, and every file."""

    folder: Path
    divergences: int
    files: list[Path] = field(default_factory=list)


def export(out: str | Path, formats: tuple[str, ...] = FORMATS, folder: str | Path | None = None) -> ExportResult:
    """Write the divergences of the campaign in ``out`` to ``folder`` (default ``out/export``).

    Each divergence's mutant is its seed transformed by the chain that replay
    re-executes: the minimal chain when the divergence was shrunk, else the
    chain the search found.

    ``png`` writes, per divergence ``ID`` of seed ``S``,
    ``divergence-ID-seedS-seed.png``, ``-mutant.png`` and ``-difference.png``
    (the largest change over channels, scaled so the largest is white, as in
    the HTML report); a signal ``(C, T)`` gets one ``-plot.png`` instead
    (seed grey, mutant red). Images keep their size; three channels give an
    RGB PNG, one a grey one, other counts the grey mean over channels.

    ``npz`` writes ``divergences.npz``, one row per divergence in the
    report's order: ``seed``, ``mutant`` and ``difference`` (mutant minus
    seed, unscaled) as float32 ``(N, *input_shape)``; ``id``,
    ``seed_index``, ``reference_label``, ``candidate_label`` and
    ``true_label`` (-1 without labels) as int64; ``chain`` (the replayed
    chain), ``found_chain``, ``validity`` and ``triage`` as JSON strings.
    It loads with ``np.load`` without pickling.

    Files of an earlier export in ``folder`` are replaced.
    """
    out = Path(out)
    folder = Path(folder) if folder is not None else out / EXPORT_FOLDER
    corpus, stored = Corpus.of_campaign(out)
    with corpus:
        config = CampaignConfig.from_dict(stored)
        rows = build_report(corpus)["divergences"]  # the report's order, with true labels
        by_id = dict(corpus.divergences())
    found = [(row["id"], by_id[row["id"]]) for row in rows]
    labels = {row["seed_index"]: row["true_label"] for row in rows if "true_label" in row}
    x = seed_data(config)
    seeds = np.stack([np.ascontiguousarray(x[d.seed_index], np.float32) for _, d in found]) if found else (
        np.zeros((0, *x.shape[1:]), np.float32)
    )
    mutants = np.stack([(d.minimal_chain or d.chain).apply(seed) for (_, d), seed in zip(found, seeds)]) if found else (
        np.zeros_like(seeds)
    )
    folder.mkdir(parents=True, exist_ok=True)
    for stale in (*folder.glob("divergence-*.png"), folder / NPZ_FILE):
        if stale.is_file():
            stale.unlink()
    result = ExportResult(folder, len(found))
    if "png" in formats:
        for (div_id, d), seed, mutant in zip(found, seeds, mutants):
            stem = folder / f"divergence-{div_id:04d}-seed{d.seed_index}"
            if seed.ndim == 2:  # a (C, T) signal
                pictures = {"plot": signal_plot_png(seed, mutant)}
            else:
                pictures = {
                    "seed": array_to_png(seed),
                    "mutant": array_to_png(mutant),
                    "difference": array_to_png(difference_image(seed, mutant)),
                }
            for part, png in pictures.items():
                path = stem.with_name(f"{stem.name}-{part}.png")
                path.write_bytes(png)
                result.files.append(path)
    if "npz" in formats:
        path = folder / NPZ_FILE
        np.savez_compressed(
            path,
            seed=seeds,
            mutant=mutants.astype(np.float32),
            difference=(mutants - seeds).astype(np.float32),
            id=np.array([i for i, _ in found], dtype=np.int64),
            seed_index=np.array([d.seed_index for _, d in found], dtype=np.int64),
            reference_label=np.array([d.reference_label for _, d in found], dtype=np.int64),
            candidate_label=np.array([d.candidate_label for _, d in found], dtype=np.int64),
            true_label=np.array([labels.get(d.seed_index, -1) for _, d in found], dtype=np.int64),
            chain=_strings([(d.minimal_chain or d.chain).to_json() for _, d in found]),
            found_chain=_strings([d.chain.to_json() for _, d in found]),
            validity=_strings([json.dumps(d.validity, sort_keys=True) for _, d in found]),
            triage=_strings([json.dumps(d.triage, sort_keys=True) for _, d in found]),
        )
        result.files.append(path)
    return result


def _strings(values: list[str]) -> np.ndarray:
    """A unicode array (loads without pickle), empty when there is nothing."""
    return np.array(values, dtype=str) if values else np.zeros(0, dtype="<U1")
