"""Campaign configuration: validated once, stored with the corpus, compared on resume."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from fuzzer.errors import DiverfuzzError
from fuzzer.models.precision import parse_precision
from fuzzer.search import STRATEGIES
from relations import DEFAULT_VALIDITY, REGISTRY, RelationError, Validity

#: Bundled examples (see :mod:`fuzzer.models.examples`).
EXAMPLES = ("digits", "spectral", "signal")
KINDS = frozenset({"image", "spectral", "signal"})
#: Defenses ``--defense`` accepts (see :data:`defenses.DEFENSES`).
DEFENSE_NAMES = ("pixeldp", "distillation")
#: Where seeds are fuzzed (see :mod:`fuzzer.campaign.backends`).
BACKENDS = ("local", "process", "ray")
#: Settings that say where a campaign runs, not what it finds (left out of ``resume_key``).
EXECUTION_FIELDS = ("backend", "workers", "ray_address")


@dataclass(frozen=True)
class CampaignConfig:
    """Everything that defines a campaign's results.

    Parameters
    ----------
    model : str or None
        ``FILE.py:FUNC`` returning the reference model; None for the bundled
        digits CNN.
    candidate : str or None
        ``FILE.py:FUNC`` returning the counterpart; None to build it with
        ``precision``.
    precision : str
        Named counterpart (:data:`fuzzer.models.precision.PRECISIONS`), default ``int8-static``.
    data : str or None
        ``.npz`` with ``x`` (and optional ``y``); None for the digits test split.
    seeds : int
        Seeds to fuzz (>= 1, default 100).
    budget : int
        Model-pair queries per seed (>= 1, default 500).
    strategy : str
        One of :data:`fuzzer.search.STRATEGIES`: ``genetic`` (default),
        ``random``, ``diffchaser``, ``dflare``.
    rng_seed : int
        The one seed every random choice flows from (>= 0, default 0).
    validity : str
        Validity constraint against the seed (default ``relations.DEFAULT_VALIDITY``).
    population : int
        GA population / random-search batch size (>= 2, default 10; measured best for genetic by bench/effectiveness.py).
    example : str
        Bundled example used for whatever ``model`` / ``data`` leave out:
        ``digits`` (default; real images), ``spectral`` (synthetic
        hyperspectral patches) or ``signal`` (synthetic activity windows).
    kind : str or None
        Input kind (``image``, ``spectral``, ``signal``) choosing the relation
        set; None to infer it from the data's shape.
    relations : tuple of str or None
        Relations to search (in chain order); None for every relation of the kind.
    mode : str
        ``first`` (default): stop each seed at its first divergence;
        ``many``: search to the budget, keeping distinct divergences (clusters).
    threads : int
        Intra-op torch threads for inference (>= 1, default 1: campaign
        batches are small, and results must not depend on the machine).
    normalize : bool
        Min-max scale ``data`` into [0, 1] (one min and max over the whole
        array) instead of refusing values outside it.
    defense : str or None
        Replace the bundled reference by its defended version (``pixeldp``
        or ``distillation``, see :mod:`defenses`); the counterpart is then
        built from the defended reference.
    backend : str
        Where seeds are fuzzed: ``local`` (default; this process),
        ``process`` (a local process pool) or ``ray`` (Ray actors, see
        :mod:`fuzzer.campaign.backends`). Results do not depend on it.
    workers : int
        Worker processes / Ray actors (>= 1, default 1); ``local`` takes 1.
    ray_address : str or None
        Address of a running Ray cluster (``backend="ray"`` only); None
        starts a local Ray instance.
    """

    model: str | None = None
    candidate: str | None = None
    precision: str = "int8-static"
    data: str | None = None
    seeds: int = 100
    budget: int = 500
    strategy: str = "genetic"
    rng_seed: int = 0
    validity: str = DEFAULT_VALIDITY
    population: int = 10
    example: str = "digits"
    kind: str | None = None
    relations: tuple[str, ...] | None = None
    threads: int = 1
    defense: str | None = None
    normalize: bool = False
    mode: str = "first"
    backend: str = "local"
    workers: int = 1
    ray_address: str | None = None

    def __post_init__(self) -> None:
        for name, low in (
            ("seeds", 1), ("budget", 1), ("rng_seed", 0), ("population", 2), ("threads", 1), ("workers", 1)
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise DiverfuzzError(f"--{name.replace('_', '-')}={value!r} must be an integer >= {low}")
        if self.strategy not in STRATEGIES:
            raise DiverfuzzError(f"--strategy={self.strategy!r} is unknown; choose one of {', '.join(STRATEGIES)}")
        if self.backend not in BACKENDS:
            raise DiverfuzzError(f"--backend={self.backend!r} is unknown; choose one of {', '.join(BACKENDS)}")
        if self.backend == "local" and self.workers != 1:
            raise DiverfuzzError(
                f"--workers={self.workers} needs --backend process or ray (--backend local runs one seed at a time)"
            )
        if self.ray_address is not None and self.backend != "ray":
            raise DiverfuzzError(
                f"--ray-address={self.ray_address!r} needs --backend ray (got --backend {self.backend})"
            )
        if self.mode not in ("first", "many"):
            raise DiverfuzzError(f"--mode={self.mode!r} is unknown; choose first or many")
        if self.candidate is None:
            parse_precision(self.precision)  # raises DiverfuzzError("--precision='...': ...")
        if self.example not in EXAMPLES:
            raise DiverfuzzError(f"--example={self.example!r} is unknown; choose one of {', '.join(EXAMPLES)}")
        if self.defense is not None:
            if self.defense not in DEFENSE_NAMES:
                raise DiverfuzzError(f"--defense={self.defense!r} is unknown; choose one of {', '.join(DEFENSE_NAMES)}")
            if self.model is not None or self.example != "digits":
                raise DiverfuzzError(
                    f"--defense={self.defense!r} retrains the bundled digits model; "
                    "it cannot be combined with --model or another --example"
                )
        if self.kind is not None and self.kind not in KINDS:
            raise DiverfuzzError(f"--kind={self.kind!r} is unknown; choose one of {', '.join(sorted(KINDS))}")
        if self.relations is not None:
            if isinstance(self.relations, str) or not all(isinstance(r, str) for r in self.relations):
                raise DiverfuzzError(f"--relations={self.relations!r}: expected a list of relation names")
            object.__setattr__(self, "relations", tuple(self.relations))
            unknown = [r for r in self.relations if r not in REGISTRY]
            if unknown or not self.relations:
                raise DiverfuzzError(
                    f"--relations={','.join(self.relations)!r}: unknown {unknown or 'empty list'}; "
                    f"available: {', '.join(REGISTRY)}"
                )
        try:
            Validity.parse(self.validity)
        except RelationError as exc:
            raise DiverfuzzError(f"--validity={self.validity!r}: {exc}") from exc

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["relations"] is not None:
            d["relations"] = list(d["relations"])
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "CampaignConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise DiverfuzzError(f"config has unknown keys {sorted(unknown)}; known: {sorted(known)}")
        data = dict(data)
        if data.get("relations") is not None:
            data["relations"] = tuple(data["relations"])
        return cls(**data)

    def resume_key(self) -> dict:
        """The settings a resumed campaign must share (all but the seed count and
        where the seeds run: backend, workers and Ray address change no result)."""
        key = self.to_dict()
        for name in ("seeds", *EXECUTION_FIELDS):
            key.pop(name)
        if self.candidate is not None:
            key.pop("precision")
        return key
