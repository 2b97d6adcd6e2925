"""What every store hands to replay: one stored divergence, store-independent."""

from __future__ import annotations

from dataclasses import dataclass

from diverfuzz.relations import Chain


@dataclass(frozen=True)
class StoredDivergence:
    """A divergence as stored: enough to re-execute and re-judge it.

    Parameters
    ----------
    key : str
        How messages name it in its store (``divergence 3``, ``entry 0``).
    seed_index : int
        Index of its seed in the campaign's seed data.
    chain : Chain
        The chain that is stored and replayed: the minimal chain when the
        divergence was shrunk, else the chain the search found.
    reference_label, candidate_label : int
        The label pair recorded when it was found.
    """

    key: str
    seed_index: int
    chain: Chain
    reference_label: int
    candidate_label: int
