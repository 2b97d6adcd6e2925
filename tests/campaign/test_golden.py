"""The golden campaign: a fixed --rng-seed gives the same divergences (chains,
labels, queries) as the stored golden run.

``python tests/campaign/test_golden.py`` rewrites ``data/golden_campaign.json``.
Do that only for a change meant to alter what the search finds, and say so
in the commit message; a refactoring must leave the file as it is.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).with_name("data") / "golden_campaign.json"
ARGS = ["--seeds", "12", "--budget", "150", "--rng-seed", "7"]
KEYS = ("seed_index", "chain", "minimal_chain", "reference_label", "candidate_label", "queries")


def golden_record(report: dict) -> dict:
    """The part of ``report.json`` the golden file pins: divergences and counts."""
    return {
        "args": ARGS,
        "summary": {k: report["summary"][k] for k in ("seeds", "seeds_with_divergence", "queries")},
        "divergences": [{k: d[k] for k in KEYS} for d in report["divergences"]],
    }


def run_golden(out: Path) -> dict:
    from diverfuzz.entry.cli import main

    code = main(["run", *ARGS, "--out", str(out), "--quiet"])
    if code != 0:
        raise SystemExit(f"golden campaign exited {code}")
    return golden_record(json.loads((out / "report.json").read_text()))


@pytest.mark.slow
def test_bundled_campaign_matches_golden_record(tmp_path):
    expected = json.loads(GOLDEN.read_text())
    got = run_golden(tmp_path / "out")
    assert got["summary"] == expected["summary"]
    assert len(got["divergences"]) == len(expected["divergences"])
    for g, e in zip(got["divergences"], expected["divergences"]):
        assert g == e, f"seed {e['seed_index']}: divergence differs from the golden record"


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        record = run_golden(Path(tmp) / "golden")
    GOLDEN.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN} ({len(record['divergences'])} divergences)", file=sys.stderr)
