"""The registry of every relation, in the documented order, and name lookups."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from . import (
    corruptions,
    filters,
    geometric,
    noise,
    occlusion,
    photometric,
    pixel,
    signal,
    spectral,
)
from .relation import KINDS, Relation, RelationError


def _build_registry() -> Mapping[str, Relation]:
    groups = (
        photometric.RELATIONS,
        noise.RELATIONS,
        geometric.RELATIONS,
        occlusion.RELATIONS,
        filters.RELATIONS,
        noise.SENSOR_RELATIONS,
        corruptions.RELATIONS,
        spectral.RELATIONS,
        signal.RELATIONS,
        pixel.RELATIONS,
    )
    table: dict[str, Relation] = {}
    for group in groups:
        for relation in group:
            if relation.name in table:
                raise RelationError(f"duplicate relation name {relation.name!r}")
            table[relation.name] = relation
    return MappingProxyType(table)


REGISTRY: Mapping[str, Relation] = _build_registry()
"""Read-only mapping ``name -> Relation`` in the documented registry order."""

#: Pixel-level mutation operators of the DiffChaser / DFlare baselines
#: (:mod:`diverfuzz.relations.pixel`): registered so their steps replay, but not
#: natural distortions, so :func:`names_for_kind` (the default search space)
#: leaves them out.
BASELINE_OPERATORS: frozenset[str] = frozenset(r.name for r in pixel.RELATIONS)


def get_relation(name: str) -> Relation:
    """Look a relation up by name.

    Raises
    ------
    RelationError
        If ``name`` is unknown; the message lists the known names.
    """
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise RelationError(
            f"relation={name!r} is unknown; known relations: {', '.join(REGISTRY)}"
        ) from None



def names_for_kind(kind: str, *, channels: int | None = None) -> tuple[str, ...]:
    """Names of the relations that support ``kind``, in registry order.

    Parameters
    ----------
    kind : str
        ``"image"``, ``"spectral"`` or ``"signal"``.
    channels : int, optional
        Channel count ``C`` of the inputs. Relations restricted to some
        channel counts (``channel_shift``: RGB only) are included only when
        they accept ``channels``. Default None: they are left out, so every
        name returned works on every input of ``kind``.

    Raises
    ------
    RelationError
        If ``kind`` is not one of ``"image"``, ``"spectral"``, ``"signal"``.

    Examples
    --------
    >>> names_for_kind("signal")[:2]
    ('jitter', 'scaling')
    >>> "channel_shift" in names_for_kind("image"), "channel_shift" in names_for_kind("image", channels=3)
    (False, True)
    """
    if kind not in KINDS:
        raise RelationError(f"kind={kind!r} is unknown; accepted kinds: image, spectral, signal")
    return tuple(
        name
        for name, rel in REGISTRY.items()
        if name not in BASELINE_OPERATORS
        and kind in rel.kinds
        and (rel.channels is None if channels is None else rel.accepts_channels(channels))
    )
