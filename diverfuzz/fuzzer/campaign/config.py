"""Campaign configuration: the one schema of every campaign setting.

Each :class:`CampaignConfig` field is declared once, with its type, range,
choices and help text (:class:`Option`, in the field's metadata). From that
one declaration:

- ``diverfuzz run`` builds its options (:func:`config_options`, used by
  :mod:`diverfuzz.entry.cli`);
- config files (``--config campaign.toml``) are checked key by key
  (:func:`check_value`, used by :mod:`diverfuzz.fuzzer.campaign.config_file`);
- ``check()`` and Python callers get the same validation when they build a
  :class:`CampaignConfig` (``__post_init__``).

Plain dataclasses with one validator rather than pydantic: the config is a
frozen record stored as JSON in the corpus and compared on resume, the rules
are few, and an extra dependency would buy little. Importing this module
loads neither torch nor DEAP (import-linter's "Reading a config" contract).
"""

from __future__ import annotations

from dataclasses import Field, asdict, dataclass, field, fields
from typing import Any

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.search.names import STRATEGIES
from diverfuzz.models.precision.spec import FORMS as PRECISION_FORMS
from diverfuzz.models.precision.spec import parse_precision
from diverfuzz.models.preprocess import LAYOUTS, parse_size, preprocess_from_text
from diverfuzz.relations import DEFAULT_VALIDITY, REGISTRY, RelationError, Validity
from diverfuzz.relations.validity import METRICS, OPS

#: Bundled examples (see :mod:`diverfuzz.models.examples`).
EXAMPLES = ("digits", "spectral", "signal", "mnist", "har", "resnet20", "pines", "effnet")
KINDS = ("image", "spectral", "signal")
#: ``--mode`` values (see :class:`diverfuzz.fuzzer.search.evaluate.SeedEvaluator`).
MODES = ("first", "many", "natural")
#: Defenses ``--defense`` accepts, with what each is (see :data:`diverfuzz.defenses.DEFENSES`).
DEFENSE_DESCRIPTIONS = {
    "pixeldp": "PixelDP noise layer",
    "distillation": "defensive distillation",
    "smoothing": "randomized smoothing",
}
DEFENSE_NAMES = tuple(DEFENSE_DESCRIPTIONS)
#: Where seeds are fuzzed (see :mod:`diverfuzz.fuzzer.campaign.backends`).
BACKENDS = ("local", "process", "ray")
#: ``--device`` values: ``auto`` is CUDA when torch sees a GPU.
DEVICES = ("auto", "cpu", "cuda")
#: Settings that say where a campaign runs, not what it finds (left out of ``resume_key``).
EXECUTION_FIELDS = ("backend", "workers", "ray_address")


#: Value kinds an option can have: its command-line parser and what a file may hold.
OPTION_KINDS = ("int", "float", "str", "bool", "names")


@dataclass(frozen=True)
class Option:
    """How one config field is given and checked (kept in the field's metadata).

    Parameters
    ----------
    kind : str
        One of :data:`OPTION_KINDS`: ``int``, ``float``, ``str``, ``bool``
        (a flag), ``names`` (a comma-separated list on the command line, a
        list in a file, a tuple in the config).
    help : str
        The command line's help text.
    metavar : str, optional
        Placeholder in the help text.
    choices : tuple of str, optional
        The accepted values.
    minimum : int or float, optional
        The smallest accepted value (numbers only).
    """

    kind: str
    help: str
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    minimum: int | float | None = None


def parse_strategy_params(text: str | None) -> dict[str, Any]:
    """``"bisect=16,screen=4"`` -> ``{"bisect": 16, "screen": 4}`` (None or empty -> ``{}``).

    Values are read as ``int``, then ``float``, then ``true``/``false``,
    else kept as text. Raises :class:`DiverfuzzError` for an item without
    ``=`` or a name given twice; whether the strategy has such a field is
    checked when the strategy is built.
    """
    out: dict[str, Any] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, eq, raw = (part.strip() for part in item.partition("="))
        if not eq or not name or not raw:
            raise DiverfuzzError(f"--strategy-params={text!r}: expected NAME=VALUE items separated by commas")
        if name in out:
            raise DiverfuzzError(f"--strategy-params={text!r}: {name!r} is given twice")
        value: Any = raw
        for cast in (int, float):
            try:
                value = cast(raw)
                break
            except ValueError:
                continue
        else:
            value = {"true": True, "false": False}.get(raw.lower(), raw)
        out[name] = value
    return out


def option(default: Any, kind: str, *, help: str, **extra: Any) -> Any:
    """A dataclass field declaring one campaign option (see :class:`Option`)."""
    return field(default=default, metadata={"option": Option(kind, help, **extra)})


def config_options() -> list[tuple[str, Option, Any]]:
    """Every campaign option as ``(field name, Option, default)``, in declaration order."""
    return [(f.name, f.metadata["option"], f.default) for f in fields(CampaignConfig)]


def flag(name: str) -> str:
    """The command-line spelling of field ``name`` (``rng_seed`` -> ``--rng-seed``)."""
    return "--" + name.replace("_", "-")


def check_value(name: str, value: Any) -> Any:
    """Check one option's value against its declaration; returns it normalised.

    ``names`` values may be a comma-separated string or a list; they come
    back as a tuple. Raises :class:`DiverfuzzError` naming ``--option=value``,
    what is accepted, and (for an unknown name) the known options.
    """
    declared = {f.name: f for f in fields(CampaignConfig)}
    if name not in declared:
        known = ", ".join(sorted(flag(n)[2:] for n in declared))
        raise DiverfuzzError(f"unknown option {name.replace('_', '-')!r}; known: {known}")
    spec_field: Field = declared[name]
    spec: Option = spec_field.metadata["option"]
    if value is None and spec_field.default is None:
        return None
    where = f"{flag(name)}={value!r}"
    if spec.kind == "int":
        if not isinstance(value, int) or isinstance(value, bool) or (spec.minimum is not None and value < spec.minimum):
            raise DiverfuzzError(f"{where} must be an integer >= {spec.minimum}")
    elif spec.kind == "float":
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
            raise DiverfuzzError(f"{where} must be a number")
        if spec.minimum is not None and value < spec.minimum:
            raise DiverfuzzError(f"{where} must be >= {spec.minimum}")
        value = float(value)
    elif spec.kind == "bool":
        if not isinstance(value, bool):
            raise DiverfuzzError(f"{where} must be true or false")
    elif spec.kind == "names":
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise DiverfuzzError(f"{where}: expected a list of names")
        if not value:
            raise DiverfuzzError(f"{where}: empty list")
        value = tuple(value)
    elif not isinstance(value, str):
        raise DiverfuzzError(f"{where} must be a string")
    if spec.choices is not None and value not in spec.choices:
        raise DiverfuzzError(f"{where} is unknown; choose one of {', '.join(spec.choices)}")
    return value


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
        Named counterpart (:data:`diverfuzz.models.precision.PRECISIONS`), default ``int8-static``.
    data : str or None
        ``.npz`` with ``x`` (and optional ``y``); None for the digits test split.
    calibration : str or None
        Inputs (``.npz``, ``.npy`` or an image folder, like ``data``) that
        calibrate a counterpart built with ``precision``; None for the bundled
        example's training split, or the first 512 inputs of ``data``.
    seeds : int
        Seeds to fuzz (>= 1, default 100).
    budget : int
        Model-pair queries per seed (>= 1, default 500).
    strategy : str
        One of :data:`diverfuzz.fuzzer.search.STRATEGIES`: ``genetic`` (default),
        ``random``, ``diffchaser``, ``dflare``.
    rng_seed : int
        The one seed every random choice flows from (>= 0, default 0).
    validity : str
        Validity constraint (default ``diverfuzz.relations.DEFAULT_VALIDITY``, ``"natural"``:
        the natural distortion model; ``"natural:S"`` picks severity S in 1-5; metric
        clauses such as ``"ssim>=0.6"`` judge the mutant against the seed).
    min_margin : float
        Count only divergences where the reference's top-1 minus top-2 probability on the
        mutant is at least this, in ``[0, 1)`` (default 0: every disagreement); the
        genetic search's fitness then pursues such decisive divergences.
    population : int
        GA population / random-search batch size (>= 2, default 10; measured best for genetic by bench/effectiveness.py).
    strategy_params : str or None
        Field overrides of the strategy, ``"NAME=VALUE,..."`` (default None:
        the strategy's defaults), e.g. ``"bisect=16,screen=4"`` for the
        genetic search (see :class:`diverfuzz.fuzzer.search.genetic.GeneticSearch`).
        Values are read as integers, numbers, ``true``/``false`` or text;
        unknown names are refused before any seed runs.
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
        Threads per worker (>= 1, default 1): torch's and ONNX Runtime's
        intra-op threads for inference, and threads applying relations and
        validity metrics to a batch's mutants on inputs of more than 16,384
        values (e.g. 3x224x224 images; smaller inputs gain nothing). The
        relations and metrics are the same with any count; inference kernels
        may round differently with another intra-op count (so the count is
        recorded and replay uses it).
    normalize : bool
        Min-max scale ``data`` into [0, 1] (one min and max over the whole
        array) instead of refusing values outside it.
    defense : str or None
        Replace the bundled reference by its defended version (``pixeldp``
        or ``distillation``, see :mod:`diverfuzz.defenses`); the counterpart is then
        built from the defended reference.
    backend : str
        Where seeds are fuzzed: ``local`` (default; this process),
        ``process`` (a local process pool) or ``ray`` (Ray actors, see
        :mod:`diverfuzz.fuzzer.campaign.backends`). Results do not depend on it.
    workers : int
        Seeds fuzzed at once (>= 1, default 1): threads of this process
        sharing the models (``local``), worker processes (``process``) or
        Ray actors (``ray``).
    ray_address : str or None
        Address of a running Ray cluster (``backend="ray"`` only); None
        starts a local Ray instance.
    size : str or None
        ``"H,W"``: resize the images of a ``data`` folder (default: keep their size).
    device : str
        ``auto`` (default: CUDA when torch sees a GPU), ``cpu`` or ``cuda``.
    input_range, mean, std, layout : str or None, str
        Preprocessing applied inside the model wrapper (see
        :mod:`diverfuzz.models.preprocess`): ``"0,255"``, per-channel
        ``"0.485,0.456,0.406"``, ``nchw`` (default) or ``nhwc``.
    """

    model: str | None = option(
        None, "str", metavar="FILE.py:FUNC|FILE",
        help="reference model: a factory FILE.py:FUNC, or a model file .onnx, .tflite, .pt2 (torch.export) "
        "or .pt (TorchScript) (default: bundled digits CNN)",
    )
    candidate: str | None = option(
        None, "str", metavar="FILE.py:FUNC|FILE",
        help="counterpart model: a factory or a model file like --model (excludes --precision)",
    )
    precision: str = option(
        "int8-static", "str", metavar="NAME",
        help="build the counterpart from the reference: " + ", ".join(PRECISION_FORMS)
        + ", or a per-layer policy FILE.json|FILE.toml (e.g. float:e5m2:sr, fixed:16.14:sr, int4:weights, mca:t=11)",
    )
    data: str | None = option(
        None, "str", metavar="FILE.npz|FILE.npy|DIR",
        help="seeds: .npz with x float32 (N, C, H, W) in [0, 1] and optional y, .npy with x, or a folder of "
        "PNG/JPEG images labelled by sub-folder",
    )
    calibration: str | None = option(
        None, "str", metavar="FILE.npz|FILE.npy|DIR",
        help="held-out inputs, shaped like --data, that calibrate a counterpart built with --precision "
        "(int8-static, onnx-int8, intN activations); default: the bundled example's training split, "
        "or the first 512 inputs of --data, the very inputs then fuzzed",
    )
    size: str | None = option(None, "str", metavar="H,W", help="resize the images of a --data folder to H,W")
    device: str = option(
        "auto", "str", choices=DEVICES, help="where models run: auto (CUDA when present, default), cpu, cuda"
    )
    input_range: str | None = option(
        None, "str", metavar="LO,HI",
        help="the range the model's inputs span, e.g. 0,255; [0, 1] inputs are scaled to it inside the model wrapper",
    )
    mean: str | None = option(
        None, "str", metavar="M[,M...]", help="per-channel mean the model wrapper subtracts (after --input-range; with --std)"
    )
    std: str | None = option(None, "str", metavar="S[,S...]", help="per-channel std the model wrapper divides by")
    layout: str = option(
        "nchw", "str", choices=LAYOUTS,
        help="the model's input layout: nhwc models get channel-last tensors from the wrapper "
        "(relations always act on channel-first inputs)",
    )
    seeds: int = option(100, "int", minimum=1, metavar="N", help="seeds to fuzz")
    budget: int = option(500, "int", minimum=1, metavar="Q", help="model-pair queries per seed")
    strategy: str = option("genetic", "str", choices=STRATEGIES, help="search strategy")
    rng_seed: int = option(0, "int", minimum=0, metavar="S", help="seed of every random choice")
    validity: str = option(
        DEFAULT_VALIDITY, "str", metavar="EXPR",
        help="mutant constraint: natural (default; natural:S for severity S in 1-5, e.g. 'natural:3 and ssim>=0.9'), "
        f"or clauses METRIC OP VALUE against the seed joined by 'and', with METRIC one of {', '.join(METRICS)} "
        f"and OP one of {', '.join(OPS)} (e.g. 'ssim>=0.8 and linf<=0.3'), or none",
    )
    min_margin: float = option(
        0.0, "float", minimum=0.0, metavar="M",
        help="count only decisive divergences: the reference's top-1 minus top-2 probability on the input is >= M "
        "(in [0, 1); default 0: every disagreement)",
    )
    population: int = option(10, "int", minimum=2, metavar="P", help="GA population / random batch")
    strategy_params: str | None = option(
        None, "str", metavar="K=V[,K=V...]",
        help="strategy field overrides, e.g. bisect=16,screen=4 for genetic (default: the strategy's defaults)",
    )
    example: str = option(
        "digits", "str", choices=EXAMPLES,
        help="bundled model/data for what --model/--data leave out: digits (real images), "
        "spectral, signal (both synthetic)",
    )
    kind: str | None = option(None, "str", choices=KINDS, help="input kind (default: inferred from shape)")
    relations: tuple[str, ...] | None = option(
        None, "names", metavar="NAME,...", help="relations to search, comma-separated (default: all of the kind)"
    )
    threads: int = option(1, "int", minimum=1, metavar="T", help="threads per worker: inference, and relations on large inputs")
    defense: str | None = option(
        None, "str", choices=DEFENSE_NAMES,
        help="fuzz the bundled digits model with a defense: "
        + ", ".join(f"{name} ({what})" for name, what in DEFENSE_DESCRIPTIONS.items()),
    )
    normalize: bool = option(
        False, "bool",
        help="min-max scale --data into [0, 1] (one min and max over the whole array) instead of refusing it",
    )
    mode: str = option(
        "first", "str", choices=MODES,
        help="first: stop a seed at its first divergence (default); many: search to the budget, keep distinct ones; "
        "natural: search to the budget, keep the most natural (highest-PSNR) divergence",
    )
    backend: str = option(
        "local", "str", choices=BACKENDS,
        help="where seeds run: local (default, this process), process (local process pool), "
        "ray (Ray actors; pip install 'diverfuzz[ray]'); results do not depend on it",
    )
    workers: int = option(
        1, "int", minimum=1, metavar="N",
        help="seeds at a time: threads of this process (local), worker processes (process) or Ray actors (ray)",
    )
    ray_address: str | None = option(
        None, "str", metavar="ADDR",
        help="join this Ray cluster (auto, HOST:PORT, ray://HOST:PORT) instead of starting a local one",
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, check_value(f.name, getattr(self, f.name)))
        # Rules that relate several settings, or need a parser of their own.
        if self.ray_address is not None and self.backend != "ray":
            raise DiverfuzzError(
                f"--ray-address={self.ray_address!r} needs --backend ray (got --backend {self.backend})"
            )
        if self.candidate is None:
            parse_precision(self.precision)  # raises DiverfuzzError("--precision='...': ...")
        elif self.calibration is not None:
            raise DiverfuzzError(
                f"--calibration={self.calibration!r} calibrates a counterpart built with --precision; "
                "--candidate is used as it is: drop one of them"
            )
        preprocess_from_text(self.input_range, self.mean, self.std, self.layout)  # one-line errors
        if self.size is not None:
            parse_size(self.size)
        parse_strategy_params(self.strategy_params)
        if self.defense is not None and (self.model is not None or self.example != "digits"):
            raise DiverfuzzError(
                f"--defense={self.defense!r} retrains the bundled digits model; "
                "it cannot be combined with --model or another --example"
            )
        if self.relations is not None:
            unknown = [r for r in self.relations if r not in REGISTRY]
            if unknown:
                raise DiverfuzzError(
                    f"--relations={','.join(self.relations)!r}: unknown {unknown}; available: {', '.join(REGISTRY)}"
                )
        try:
            Validity.parse(self.validity)
        except RelationError as exc:
            raise DiverfuzzError(f"--validity={self.validity!r}: {exc}") from exc
        if not self.min_margin < 1.0:
            raise DiverfuzzError(f"--min-margin={self.min_margin!r} must be in [0, 1), e.g. 0.05")

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
