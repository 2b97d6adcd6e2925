"""The regression corpus: divergences of one checked pair, as plain JSON the user commits.

Like Hypothesis's example database it is replayed first on every later run
(:func:`diverfuzz.fuzzer.campaign.replay.replay_stored`); unlike the campaign corpus
(:mod:`diverfuzz.fuzzer.campaign.storage.corpus`) it holds only what replay needs: the
seed (by index and digest), the chain that is replayed, and the label pair.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from diverfuzz.common.atomic import atomic_write_text
from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.campaign.storage.stored import StoredDivergence
from diverfuzz.relations import Chain, RelationError

REGRESSION_VERSION = 1


def safe_name(name: str) -> str:
    """``name`` as a file or folder name: runs of other characters become ``_`` (at most 120 characters)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[:120] or "pair"


def seed_digest(x: np.ndarray) -> str:
    """A short SHA-256 of one seed's float32 bytes: entries replay only on the same seed."""
    return hashlib.sha256(np.ascontiguousarray(x, dtype=np.float32).tobytes()).hexdigest()[:16]


@dataclass
class RegressionEntry:
    """A divergence stored for replay: its seed (index and digest), chain and label pair."""

    seed_index: int
    seed_digest: str
    chain: list[dict]
    reference_label: int
    candidate_label: int

    def to_dict(self) -> dict:
        return {
            "seed_index": self.seed_index,
            "seed_digest": self.seed_digest,
            "chain": self.chain,
            "reference_label": self.reference_label,
            "candidate_label": self.candidate_label,
        }


class RegressionCorpus:
    """Divergences of one checked pair, kept in ``DIR/NAME.json`` (commit it).

    Entries whose seed no longer exists (other data, other index) are kept
    but skipped on replay.
    """

    def __init__(self, directory: str | Path, name: str) -> None:
        self.path = Path(directory) / f"{safe_name(name)}.json"
        self.entries: list[RegressionEntry] = []
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                if data.get("version") != REGRESSION_VERSION:
                    raise ValueError(f"version={data.get('version')!r}, expected {REGRESSION_VERSION}")
                self.entries = [RegressionEntry(**e) for e in data["divergences"]]
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise DiverfuzzError(
                    f"regression corpus {str(self.path)!r} is not readable ({exc}); delete it to start afresh"
                ) from exc

    def stored(self, x: np.ndarray) -> list[StoredDivergence]:
        """The entries whose seed is in ``x`` (same index, same digest), ready to replay."""
        out = []
        for number, e in enumerate(self.entries):
            if not (0 <= e.seed_index < len(x)) or seed_digest(x[e.seed_index]) != e.seed_digest:
                continue
            try:
                chain = Chain.from_list(e.chain)
            except RelationError as exc:
                raise DiverfuzzError(f"regression corpus {str(self.path)!r}: bad chain {e.chain}: {exc}") from exc
            out.append(StoredDivergence(f"entry {number}", e.seed_index, chain, e.reference_label, e.candidate_label))
        return out

    def add(self, entries: Sequence[RegressionEntry]) -> int:
        """Add the entries not stored yet (same seed digest and chain); returns how many were new."""
        known = {(e.seed_digest, json.dumps(e.chain, sort_keys=True)) for e in self.entries}
        added = 0
        for e in entries:
            key = (e.seed_digest, json.dumps(e.chain, sort_keys=True))
            if key not in known:
                known.add(key)
                self.entries.append(e)
                added += 1
        return added

    def save(self) -> None:
        text = json.dumps(
            {"version": REGRESSION_VERSION, "divergences": [e.to_dict() for e in self.entries]},
            indent=2,
            sort_keys=True,
        )
        atomic_write_text(self.path, text + "\n")
