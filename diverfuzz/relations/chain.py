"""Chains of relation steps: plain data that is stored, replayed and shrunk."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from .registry import REGISTRY, get_relation
from .relation import RelationError, check_input


@dataclass(frozen=True)
class Step:
    """One relation with concrete parameter values (plain data).

    Parameters
    ----------
    relation : str
        Registry name.
    params : Mapping[str, float | int]
        All parameters of the relation, validated and stored read-only as
        plain Python numbers (so they round-trip through JSON exactly).
    """

    relation: str
    params: Mapping[str, float | int]

    def __post_init__(self) -> None:
        rel = get_relation(self.relation)
        if not isinstance(self.params, Mapping):
            raise RelationError(
                f"params={self.params!r}: expected a mapping of param name to number"
            )
        self._set(rel.validate(self.params))

    def _set(self, params: dict[str, float | int]) -> None:
        object.__setattr__(self, "params", MappingProxyType(params))
        # Zeros spelled by repr keep -0.0 and 0.0 (equal as numbers) apart.
        values = tuple(params.values())  # in the relation's parameter order (validate's)
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_hash", hash((self.relation, values)))
        object.__setattr__(self, "_key", (self.relation, tuple(repr(v) if v == 0 else v for v in values)))

    @classmethod
    def checked(cls, relation: str, params: dict[str, float | int]) -> "Step":
        """A step from parameters that :meth:`Relation.validate` would return unchanged.

        For callers that build parameters from a relation's own ranges
        (:meth:`Relation.from_unit`: every name, plain Python numbers, in range), such as
        decoding a genome: the same step as ``Step(relation, params)``, without validating
        again. ``params`` is kept (not copied).
        """
        step = object.__new__(cls)
        object.__setattr__(step, "relation", relation)
        step._set(params)
        return step

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Step):
            return NotImplemented
        # Both hold every parameter of their relation in its order, so equal relations
        # compare their values in order (0.0 == -0.0, as the dicts did).
        return self is other or (self.relation == other.relation and self._values == other._values)

    @property
    def is_identity(self) -> bool:
        """Whether the step is a no-op (:meth:`Relation.is_identity`); computed once per step."""
        found = self.__dict__.get("_identity")
        if found is None:
            found = get_relation(self.relation).is_identity(self.params)
            object.__setattr__(self, "_identity", found)
        return found

    def __repr__(self) -> str:
        return f"Step({self.relation!r}, {dict(self.params)!r})"

    @property
    def key(self) -> tuple:
        """Hashable key, equal for two steps exactly when they compute the same thing.

        ``(relation, values)``, with zeros spelled by ``repr`` so that ``-0.0``
        and ``0.0`` (equal as numbers) stay apart. Used to cache mutants by
        value (:class:`~diverfuzz.fuzzer.search.prefix_cache.PrefixCache`).
        """
        return self._key

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Apply this step to ``x`` (see :meth:`Relation.apply`)."""
        return get_relation(self.relation).apply(x, **self.params)

    def to_dict(self) -> dict:
        """``{"relation": name, "params": {...}}`` with plain Python numbers."""
        return {"relation": self.relation, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, d: Mapping) -> Step:
        """Build a step from :meth:`to_dict` output, validating names and ranges."""
        if not isinstance(d, Mapping) or set(d) != {"relation", "params"}:
            raise RelationError(
                f"step={d!r}: expected a dict with exactly the keys 'relation' and 'params'"
            )
        return cls(d["relation"], d["params"])


@dataclass(frozen=True)
class Chain:
    """An ordered sequence of steps, applied left to right.

    Parameters
    ----------
    steps : tuple of Step
        May be empty (the chain then returns a copy of its input).

    Examples
    --------
    >>> import numpy as np
    >>> c = Chain((Step("brightness", {"delta": 0.1}),))
    >>> Chain.from_json(c.to_json()) == c
    True
    >>> c.apply(np.zeros((1, 8, 8), np.float32)).max()
    np.float32(0.1)
    """

    steps: tuple[Step, ...] = ()

    def __post_init__(self) -> None:
        steps = tuple(self.steps)
        for s in steps:
            if not isinstance(s, Step):
                raise RelationError(f"steps contains {s!r}: expected Step instances")
        object.__setattr__(self, "steps", steps)

    def __len__(self) -> int:
        return len(self.steps)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Apply every step in order; returns a new float32 array.

        ``x`` is a ``(C, H, W)`` image or spectral cube or a ``(C, T)``
        signal; every step checks that its relation supports that kind.
        """
        out = check_input(x).copy()
        for s in self.steps:
            out = s.apply(out)
        return out

    def to_list(self) -> list[dict]:
        """``[{"relation": ..., "params": {...}}, ...]``."""
        return [s.to_dict() for s in self.steps]

    @classmethod
    def from_list(cls, items: Sequence[Mapping]) -> Chain:
        """Inverse of :meth:`to_list`; validates every step."""
        if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
            raise RelationError(f"chain={items!r}: expected a list of step dicts")
        return cls(tuple(Step.from_dict(d) for d in items))

    def to_json(self) -> str:
        """Canonical JSON text (``json.dumps(self.to_list(), sort_keys=True)``)."""
        return json.dumps(self.to_list(), sort_keys=True)

    @classmethod
    def from_json(cls, s: str) -> Chain:
        """Inverse of :meth:`to_json`."""
        try:
            items = json.loads(s)
        except (TypeError, json.JSONDecodeError) as exc:
            raise RelationError(f"chain JSON could not be parsed: {exc}") from None
        return cls.from_list(items)


_BATCH_MAX_SIZE = 16384
"""Inputs of more elements than this (e.g. 3x224x224 images) are applied one row per
task when :func:`apply_steps` is given a thread pool; smaller ones always go through
each relation's ``batch_func`` a group at a time."""


@functools.lru_cache(maxsize=1)
def _apply_rank() -> dict[str, int]:
    """Relation name -> its place in the order :func:`apply_steps` runs waiting groups in.

    The natural search space's chain order (:func:`diverfuzz.relations.natural.natural_order`:
    geometric relations first, then the registry's), so a population of its chains needs one
    call per relation.
    """
    from .natural import natural_order  # natural imports this module

    return {name: r for r, name in enumerate(natural_order(REGISTRY))}


def apply_batch(chains: Sequence[Chain], x: np.ndarray) -> np.ndarray:
    """Apply each chain to the same seed ``x``, the whole population at once.

    Parameters
    ----------
    chains : sequence of Chain
        ``N`` chains (may be empty).
    x : np.ndarray
        Seed: ``(C, H, W)`` image or spectral cube, or ``(C, T)`` signal,
        values in ``[0, 1]``.

    Returns
    -------
    np.ndarray
        ``(N,) + x.shape`` float32, identical (``np.array_equal``) to
        stacking ``c.apply(x)``.

    Notes
    -----
    The seed is validated once (every relation output is already float32
    in ``[0, 1]``), then :func:`apply_steps` advances the chains in lock
    step.
    """
    x32 = check_input(x)
    for chain in chains:
        if not isinstance(chain, Chain):
            raise RelationError(f"chains contains {chain!r}: expected Chain instances")
    out = np.empty((len(chains),) + x32.shape, dtype=np.float32)
    out[...] = x32
    return apply_steps(out, [chain.steps for chain in chains])


def apply_steps(
    out: np.ndarray,
    steps: Sequence[Sequence[Step]],
    *,
    on_step: Callable[[int, int, np.ndarray], None] | None = None,
    checked: set[str] | None = None,
    pool: Executor | None = None,
) -> np.ndarray:
    """Apply ``steps[i]`` to ``out[i]`` for every row, in place, in lock step.

    Parameters
    ----------
    out : np.ndarray
        ``(N,) + shape`` float32 stack of valid inputs (values in
        ``[0, 1]``, e.g. a seed or relation outputs; not re-validated).
        Overwritten with the results.
    steps : sequence of sequence of Step
        ``N`` step lists (may differ in length; may be empty).
    on_step : callable, optional
        ``on_step(i, k, image)`` is called once row ``i`` has gone through
        its step ``k`` (0-based), each row's steps in order (the rows'
        calls may interleave in any order), with ``image`` a view of
        ``out[i]`` (copy it to keep it: later steps overwrite it). Default
        None.
    checked : set of str, optional
        Names of the relations already checked against inputs of this
        shape (see Notes); updated in place. Default None: an empty set.
    pool : concurrent.futures.Executor, optional
        Threads to apply the rows' steps in, on inputs of more than
        ``_BATCH_MAX_SIZE`` elements; each row goes through its steps in
        one task (a relation's ``func`` is its ``batch_func`` on one row, so
        the results are the same). Default None:
        in this thread. The results are the same.

    Returns
    -------
    np.ndarray
        ``out``, each row identical (``np.array_equal``) to applying its
        steps one after the other with :meth:`Step.apply`.

    Notes
    -----
    Rows whose next step uses the same relation form a group, and the
    group of the relation earliest in the natural search order (geometric
    relations first, then the registry's) runs first, so chains in that
    order (every chain of a natural search space) share one call per
    relation whatever their lengths; each relation checks the kind and channel count of the input
    once per call, or once for all calls sharing ``checked`` (with the
    message of :meth:`Relation.apply`). Identity steps are
    skipped, and relations with a ``batch_func`` (every image relation)
    transform the whole group in one call, each row with its own
    parameters. A relation's ``func`` is its ``batch_func`` on one row, and
    ``batch_func`` computes each row independently of the others, so
    results are bit-for-bit those of :meth:`Chain.apply`.
    """
    shape = out.shape[1:]
    checked = set() if checked is None else checked
    if pool is not None and len(steps) > 1 and out[0].size > _BATCH_MAX_SIZE:
        return _apply_rows_in(pool, out, steps, on_step, checked)
    rank = _apply_rank()
    pos = [0] * len(steps)
    identity = [[step.is_identity for step in row] for row in steps]

    def advance(i: int) -> None:
        """Move row ``i`` past its identity steps (reporting them to ``on_step``)."""
        while pos[i] < len(steps[i]) and identity[i][pos[i]]:
            if on_step is not None:
                on_step(i, pos[i], out[i])
            pos[i] += 1

    for i in range(len(steps)):
        advance(i)
    while True:
        waiting: dict[str, list[int]] = {}
        for i, row in enumerate(steps):
            if pos[i] < len(row):
                waiting.setdefault(row[pos[i]].relation, []).append(i)
        if not waiting:
            break
        # Each row still goes through its own steps in order; which waiting group runs
        # first changes nothing in any row, and the earliest relation of the search
        # order lets rows that reach a relation at different positions share one call.
        name = min(waiting, key=lambda n: rank.get(n, len(rank)))
        rows = waiting[name]
        rel = REGISTRY[name]
        if name not in checked:  # kind and channel count, with the message of Relation.apply
            rel.check(out[rows[0]])
            checked.add(name)
        params = [steps[i][pos[i]].params for i in rows]
        if rel.batch_func is not None:
            if len(rows) == len(out):  # every row: no gather, no scatter
                out[...] = rel._finish(rel.batch_func(out, params), out.shape)
            else:
                idx = np.asarray(rows)
                out[idx] = rel._finish(rel.batch_func(out[idx], params), (len(rows),) + shape)
        else:
            for i, p in zip(rows, params):
                out[i] = rel._finish(rel.func(out[i].copy(), **p), shape)
        for i in rows:
            if on_step is not None:
                on_step(i, pos[i], out[i])
            pos[i] += 1
            advance(i)
    return out


def _apply_rows_in(
    pool: Executor,
    out: np.ndarray,
    steps: Sequence[Sequence[Step]],
    on_step: Callable[[int, int, np.ndarray], None] | None,
    checked: set[str],
) -> np.ndarray:
    """:func:`apply_steps` with one task per row in ``pool`` (large inputs only: ``func``, never ``batch_func``).

    Relations are pure functions of their input and parameters (seeded
    noise included), so a row's result does not depend on the thread that
    computes it. The kind and channel check runs first, in lock-step order
    (relations keep the shape, so checking the rows' first images is the
    same check), and ``on_step`` gets copies of the step images afterwards,
    in the order the lock-step loop calls it.
    """
    shape = out.shape[1:]
    depth = max(len(row) for row in steps)
    active = [[not s.is_identity for s in row] for row in steps]
    for k in range(depth):
        for i, row in enumerate(steps):
            if k < len(row) and active[i][k] and row[k].relation not in checked:
                REGISTRY[row[k].relation].check(out[i])
                checked.add(row[k].relation)

    def run(i: int) -> list[np.ndarray]:
        images = []
        for k, step in enumerate(steps[i]):
            if active[i][k]:
                rel = REGISTRY[step.relation]
                out[i] = rel._finish(rel.func(out[i].copy(), **dict(step.params)), shape)
            if on_step is not None:
                images.append(out[i].copy())
        return images

    done = [task.result() for task in [pool.submit(run, i) for i in range(len(steps))]]
    if on_step is not None:
        for k in range(depth):
            for i, images in enumerate(done):
                if k < len(images):
                    on_step(i, k, images[k])
    return out
