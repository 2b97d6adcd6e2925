"""``diverfuzz report DIR``: re-render any report format from a campaign's corpus."""

from __future__ import annotations

from pathlib import Path

from diverfuzz.fuzzer.campaign.driver import build_report, write_reports
from diverfuzz.fuzzer.campaign.rebuild import open_stored
from diverfuzz.fuzzer.campaign.storage.corpus import Corpus
from diverfuzz.fuzzer.campaign.workload import seed_data

FORMATS = ("html", "json", "md", "junit")


def rerender(out: str | Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Rebuild the campaign record from ``out``'s corpus and write ``formats``.

    Needs the campaign's seed data (the bundled example's, or its ``--data``
    file, found as :func:`diverfuzz.fuzzer.campaign.rebuild.locate` finds it;
    ``check()`` stores its seeds in the folder) for the HTML images, but no
    model. Seeds given in memory and not stored are refused in one line
    rather than drawn from another data set.
    """
    out = Path(out)
    corpus, stored = Corpus.of_campaign(out)
    with corpus:
        html = "html" in formats
        campaign = open_stored(out, corpus, stored, roles=("data",) if html else ())
        report = build_report(corpus)
        seeds = seed_data(campaign.config) if html else None
        written = write_reports(report, corpus, seeds, out, formats)
    return [written[f] for f in formats]
