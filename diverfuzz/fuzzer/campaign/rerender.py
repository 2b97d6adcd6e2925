"""``diverfuzz report DIR``: re-render any report format from a campaign's corpus."""

from __future__ import annotations

from pathlib import Path

from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.fuzzer.campaign.driver import build_report, write_reports
from diverfuzz.fuzzer.campaign.storage.corpus import Corpus
from diverfuzz.fuzzer.campaign.workload import seed_data

FORMATS = ("html", "json", "md", "junit")


def rerender(out: str | Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Rebuild the campaign record from ``out``'s corpus and write ``formats``.

    Needs the campaign's seed data (the bundled example's, or its ``--data``
    file) for the HTML images, but no model.
    """
    out = Path(out)
    corpus, stored = Corpus.of_campaign(out)
    with corpus:
        config = CampaignConfig.from_dict(stored)
        report = build_report(corpus)
        seeds = seed_data(config) if "html" in formats else None
        written = write_reports(report, corpus, seeds, out, formats)
    return [written[f] for f in formats]
