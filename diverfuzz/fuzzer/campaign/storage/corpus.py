"""The campaign record: an SQLite file (WAL mode) in the output folder.

Each finished seed and each divergence is committed as soon as it is known,
so an interrupted campaign (Ctrl-C, a crash, a killed job) keeps everything
found so far and ``--resume`` continues from the first unfinished seed.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.campaign.storage.stored import StoredDivergence
from diverfuzz.fuzzer.search.evaluate import Divergence
from diverfuzz.relations import Chain

CORPUS_FILE = "corpus.sqlite"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS seeds (
    seed_index INTEGER PRIMARY KEY,
    queries INTEGER NOT NULL,
    diverged INTEGER NOT NULL,
    best_fitness REAL NOT NULL,
    wall_seconds REAL NOT NULL,
    finished_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS divergences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seed_index INTEGER NOT NULL,
    chain TEXT NOT NULL,
    reference_label INTEGER NOT NULL,
    candidate_label INTEGER NOT NULL,
    reference_probs TEXT NOT NULL,
    candidate_probs TEXT NOT NULL,
    fitness REAL NOT NULL,
    validity TEXT NOT NULL,
    queries INTEGER NOT NULL,
    found_at TEXT NOT NULL
);
"""

#: Columns added after schema version 1 shipped: added on open when missing,
#: NULL (unknown) in divergences stored before them.
_ADDED_COLUMNS = (
    ("minimal_chain", "TEXT"),
    ("minimal_distance", "REAL"),
    ("shrink_queries", "INTEGER"),
    ("cluster_size", "INTEGER"),
    ("triage", "TEXT"),
    ("pixel_validity", "TEXT"),
    ("geometry", "TEXT"),
)


@dataclass(frozen=True)
class SeedRecord:
    seed_index: int
    queries: int
    diverged: bool
    best_fitness: float
    wall_seconds: float


def _json_safe(value: float) -> Any:
    return value if value == value and abs(value) != float("inf") else str(value)


class Corpus:
    """Read and write one campaign's SQLite record.

    Parameters
    ----------
    path : path-like
        The SQLite file (created with its tables if missing).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(str(self.path))
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            have = {row[1] for row in self._db.execute("PRAGMA table_info(divergences)")}
            with self._db:
                for column, sql_type in _ADDED_COLUMNS:
                    if column not in have:
                        self._db.execute(f"ALTER TABLE divergences ADD COLUMN {column} {sql_type}")
        except sqlite3.DatabaseError as exc:
            raise DiverfuzzError(f"corpus={str(self.path)!r} is not a diverfuzz corpus: {exc}") from exc
        stored = self.get_meta("schema_version")
        if stored is None:
            self.set_meta("schema_version", SCHEMA_VERSION)
        elif stored != SCHEMA_VERSION:
            raise DiverfuzzError(
                f"corpus={str(self.path)!r} has schema_version={stored}, this diverfuzz reads {SCHEMA_VERSION}"
            )

    @classmethod
    def in_folder(cls, out: str | Path) -> "Corpus":
        return cls(Path(out) / CORPUS_FILE)

    @classmethod
    def of_campaign(cls, out: str | Path) -> tuple["Corpus", dict]:
        """Open the corpus of the campaign already in folder ``out`` and return it
        with its stored config (a dict for ``CampaignConfig.from_dict``)."""
        out = Path(out)
        if not (out / CORPUS_FILE).is_file():
            raise DiverfuzzError(f"DIR={str(out)!r} holds no {CORPUS_FILE}; give the --out folder of a campaign")
        corpus = cls.in_folder(out)
        stored = corpus.get_meta("config")
        if stored is None:
            corpus.close()
            raise DiverfuzzError(f"DIR={str(out)!r}: the corpus has no campaign config (the campaign never started)")
        return corpus, stored

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Corpus":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- metadata -----------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value, sort_keys=True)),
            )

    # -- seeds and divergences ----------------------------------------------
    def finish_seed(self, record: SeedRecord, divergence: Divergence | Sequence[Divergence] | None) -> None:
        """Store a finished seed and its divergence(s) (if any) in one transaction."""
        if divergence is None:
            found: Sequence[Divergence] = ()
        elif isinstance(divergence, Divergence):
            found = (divergence,)
        else:
            found = tuple(divergence)
        try:
            self._store(record, found)
        except sqlite3.Error as exc:  # disk full, read-only file, I/O error
            seeds = self._db.execute("SELECT COUNT(*) FROM seeds").fetchone()[0]
            divs = self._db.execute("SELECT COUNT(*) FROM divergences").fetchone()[0]
            raise DiverfuzzError(
                f"writing seed {record.seed_index} to {str(self.path)!r} failed ({exc}); "
                f"{seeds} finished seeds and {divs} divergences saved before it are intact: "
                "free space, then continue with --resume"
            ) from exc

    def _store(self, record: SeedRecord, found: Sequence[Divergence]) -> None:
        with self._db:
            for d in found:
                self._db.execute(
                    "INSERT INTO divergences (seed_index, chain, reference_label, candidate_label, "
                    "reference_probs, candidate_probs, fitness, validity, queries, found_at, "
                    "minimal_chain, minimal_distance, shrink_queries, cluster_size, triage, pixel_validity, geometry) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        d.seed_index,
                        d.chain.to_json(),
                        d.reference_label,
                        d.candidate_label,
                        json.dumps(list(d.reference_probs)),
                        json.dumps(list(d.candidate_probs)),
                        d.fitness,
                        json.dumps({k: _json_safe(v) for k, v in d.validity.items()}),
                        d.queries,
                        d.found_at,
                        None if d.minimal_chain is None else d.minimal_chain.to_json(),
                        d.minimal_distance,
                        d.shrink_queries,
                        d.cluster_size,
                        None if d.triage is None else json.dumps(d.triage, sort_keys=True),
                        None if d.pixel_validity is None
                        else json.dumps({k: _json_safe(v) for k, v in d.pixel_validity.items()}),
                        None if d.geometry is None else json.dumps(d.geometry),
                    ),
                )
            self._db.execute(
                "INSERT OR REPLACE INTO seeds VALUES (?, ?, ?, ?, ?, datetime('now'))",
                (
                    record.seed_index,
                    record.queries,
                    int(record.diverged),
                    record.best_fitness,
                    record.wall_seconds,
                ),
            )

    def finished_seeds(self) -> set[int]:
        return {row[0] for row in self._db.execute("SELECT seed_index FROM seeds")}

    def seed_records(self) -> list[SeedRecord]:
        rows = self._db.execute(
            "SELECT seed_index, queries, diverged, best_fitness, wall_seconds FROM seeds ORDER BY seed_index"
        )
        return [SeedRecord(r[0], r[1], bool(r[2]), r[3], r[4]) for r in rows]

    def stored(self, ids: set[int] | None = None) -> list[StoredDivergence]:
        """Every divergence (or those with ``ids``) as replay takes it: the
        minimal chain when it was shrunk, else the chain found."""
        return [
            StoredDivergence(f"divergence {i}", d.seed_index, d.minimal_chain or d.chain, d.reference_label, d.candidate_label)
            for i, d in self.divergences()
            if ids is None or i in ids
        ]

    def divergences(self) -> Iterator[tuple[int, Divergence]]:
        """``(id, divergence)`` pairs in the order they were found."""
        rows = self._db.execute(
            "SELECT id, seed_index, chain, reference_label, candidate_label, reference_probs, "
            "candidate_probs, fitness, validity, queries, found_at, minimal_chain, minimal_distance, "
            "shrink_queries, cluster_size, triage, pixel_validity, geometry FROM divergences ORDER BY id"
        )
        for r in rows.fetchall():
            validity = {k: float(v) for k, v in json.loads(r[8]).items()}
            yield r[0], Divergence(
                seed_index=r[1],
                chain=Chain.from_json(r[2]),
                reference_label=r[3],
                candidate_label=r[4],
                reference_probs=tuple(json.loads(r[5])),
                candidate_probs=tuple(json.loads(r[6])),
                fitness=r[7],
                validity=validity,
                queries=r[9],
                found_at=r[10],
                minimal_chain=None if r[11] is None else Chain.from_json(r[11]),
                minimal_distance=r[12],
                shrink_queries=r[13] or 0,
                cluster_size=r[14] or 1,
                triage=None if r[15] is None else json.loads(r[15]),
                pixel_validity=None if r[16] is None else {k: float(v) for k, v in json.loads(r[16]).items()},
                geometry=None if r[17] is None else json.loads(r[17]),
            )

    def is_empty(self) -> bool:
        return self._db.execute("SELECT COUNT(*) FROM seeds").fetchone()[0] == 0 and self.get_meta("config") is None
