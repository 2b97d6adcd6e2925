"""Campaign configuration: validated once, stored with the corpus, compared on resume."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from fuzzer.errors import DiverfuzzError
from fuzzer.precision import PRECISIONS
from fuzzer.search import STRATEGIES
from relations import DEFAULT_VALIDITY, RelationError, Validity


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
        Named counterpart (:data:`fuzzer.precision.PRECISIONS`), default ``int8-static``.
    data : str or None
        ``.npz`` with ``x`` (and optional ``y``); None for the digits test split.
    seeds : int
        Seeds to fuzz (>= 1, default 100).
    budget : int
        Model-pair queries per seed (>= 1, default 500).
    strategy : str
        ``genetic`` (default) or ``random``.
    rng_seed : int
        The one seed every random choice flows from (>= 0, default 0).
    validity : str
        Validity constraint against the seed (default ``relations.DEFAULT_VALIDITY``).
    population : int
        GA population / random-search batch size (>= 2, default 20).
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
    population: int = 20

    def __post_init__(self) -> None:
        for name, low in (("seeds", 1), ("budget", 1), ("rng_seed", 0), ("population", 2)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise DiverfuzzError(f"--{name.replace('_', '-')}={value!r} must be an integer >= {low}")
        if self.strategy not in STRATEGIES:
            raise DiverfuzzError(f"--strategy={self.strategy!r} is unknown; choose one of {', '.join(STRATEGIES)}")
        if self.candidate is None and self.precision not in PRECISIONS:
            raise DiverfuzzError(f"--precision={self.precision!r} is unknown; choose one of {', '.join(PRECISIONS)}")
        try:
            Validity.parse(self.validity)
        except RelationError as exc:
            raise DiverfuzzError(f"--validity={self.validity!r}: {exc}") from exc

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "CampaignConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise DiverfuzzError(f"config has unknown keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)

    def resume_key(self) -> dict:
        """The settings a resumed campaign must share (all but the seed count)."""
        key = self.to_dict()
        key.pop("seeds")
        if self.candidate is not None:
            key.pop("precision")
        return key
