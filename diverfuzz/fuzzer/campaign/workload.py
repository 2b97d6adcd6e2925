"""Turn a campaign config into models and seed data."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.defenses import defended_reference
from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.models.data import load_data
from diverfuzz.models.examples import EXAMPLES
from diverfuzz.models.loading import load_model, validate_inputs
from diverfuzz.models.pair import ModelPair, is_probabilities
from diverfuzz.models.precision import build_counterpart
from diverfuzz.models.precision.spec import parse_precision, policy_runtime
from diverfuzz.models.preprocess import parse_size, preprocess_from_text
from diverfuzz.models.preprocessed import with_preprocess
from diverfuzz.models.runtimes import resolve_device
from diverfuzz.models.runtimes.base import runs_one_at_a_time
from diverfuzz.models.runtimes.litert import TfliteModel
from diverfuzz.models.runtimes.onnx import OnnxModel
from diverfuzz.relations import REGISTRY, RelationError, infer_kind, names_for_kind

#: Inputs used to calibrate static quantization when the user supplies data.
CALIBRATION_SIZE = 512
#: What a campaign's models and data are made from (the keys of ``Workload.origin``).
ROLES = ("reference", "candidate", "data")
#: ``Workload.origin`` values: rebuilt from the config, or an in-memory object no command can rebuild.
FROM_CONFIG, IN_MEMORY = "config", "object"
#: ``origin`` of a workload :func:`prepare` built from its config.
CONFIG_ORIGIN = {role: FROM_CONFIG for role in ROLES}


@dataclass
class Workload:
    """The model pair and the data a campaign draws its seeds from."""

    pair: ModelPair
    x: np.ndarray
    y: np.ndarray | None
    description: dict
    kind: str = "image"
    relations: tuple[str, ...] = ()
    probe: "ModelProbe | None" = None
    #: How each of :data:`ROLES` was given (:data:`FROM_CONFIG` or :data:`IN_MEMORY`); None: all in memory
    #: (see :mod:`diverfuzz.fuzzer.campaign.rebuild`).
    origin: dict | None = None


@dataclass
class SeedData:
    """The seed inputs a config names, their labels, and the calibration set."""

    x: np.ndarray
    y: np.ndarray | None
    calibration: np.ndarray
    description: str
    bundled: object | None = None  # the example's ExampleData when one was loaded
    calibration_description: str = ""


def load_seeds(config: CampaignConfig) -> SeedData:
    """The seeds of ``config``: ``--data``, or the bundled example's test split.

    Static quantization is calibrated on ``--calibration``, else on the
    example's training split, or on the first :data:`CALIBRATION_SIZE`
    inputs of ``--data``.
    """
    example = EXAMPLES[config.example]
    bundled = example.load_data() if config.data is None or config.model is None else None
    if config.data is None:
        x, y = bundled.x_test, bundled.y_test
        seeds = SeedData(
            x, y, bundled.x_train, f"{example.data_description}, {len(x)} inputs", bundled,
            f"training split of the bundled {config.example} example, {len(bundled.x_train)} inputs",
        )
    else:
        x, y = _load(config)
        calibration = x[:CALIBRATION_SIZE]
        seeds = SeedData(
            x, y, calibration, config.data, bundled,
            f"first {len(calibration)} inputs of --data {config.data}: the seeds themselves "
            "(pass --calibration FILE to calibrate on held-out inputs)",
        )
    if config.calibration is not None:
        calibration = load_calibration(config, tuple(x.shape[1:]))
        seeds = replace(seeds, calibration=calibration,
                        calibration_description=f"--calibration {config.calibration}, {len(calibration)} inputs")
    return seeds


def load_calibration(config: CampaignConfig, input_shape: tuple[int, ...]) -> np.ndarray:
    """The inputs of ``--calibration`` (read like ``--data``), checked against the seeds' shape."""
    size = parse_size(config.size) if config.size is not None else None
    try:
        calibration, _ = load_data(config.calibration, normalize=config.normalize, size=size)
    except DiverfuzzError as exc:  # the loader names --data: name the option it read
        raise DiverfuzzError(str(exc).replace("--data", "--calibration")) from exc
    if tuple(calibration.shape[1:]) != input_shape:
        raise DiverfuzzError(
            f"--calibration={config.calibration!r}: inputs of shape {tuple(calibration.shape[1:])}, but the seeds "
            f"have shape {input_shape}; give calibration inputs shaped like the seeds"
        )
    return calibration


def load_reference(config: CampaignConfig, seeds: SeedData) -> tuple[object, str]:
    """The reference ``config`` names (``--model``, a defended or the bundled
    example model), wrapped in the preprocessing it expects, and its description."""
    example = EXAMPLES[config.example]
    device = resolve_device(config.device)
    preprocess = preprocess_from_text(config.input_range, config.mean, config.std, config.layout)
    preprocess.check_channels(int(seeds.x.shape[1]))
    if config.defense is not None:
        reference = defended_reference(config.defense, seeds.bundled, seed=0)
        description = f"{example.model_description}, defended by {config.defense}"
    elif config.model is None:
        reference = example.load_model(0, seeds.bundled)
        description = example.model_description
    else:
        reference = load_model(config.model, option="--model", device=device, threads=config.threads)
        description = config.model
    # Relations act on [0, 1] channel-first inputs; the wrapper gives the model what it expects.
    return with_preprocess(reference, preprocess), description


def prepare(config: CampaignConfig) -> Workload:
    """Build the model pair and load the seed data that ``config`` names.

    Seeds and calibration come from :func:`load_seeds`, the reference from
    :func:`load_reference`; the counterpart is ``--candidate`` or built with
    ``--precision``. The relation set is ``config.relations``, or every
    relation of the input kind (``config.kind``, or inferred from the input shape).
    """
    seeds = load_seeds(config)
    x, y, calibration = seeds.x, seeds.y, seeds.calibration
    # The kind and relations need only the data's shape: check them before any model is loaded.
    kind, relation_names = search_relations(config, x.shape[1:])
    device = resolve_device(config.device)
    preprocess = preprocess_from_text(config.input_range, config.mean, config.std, config.layout)
    reference, model_description = load_reference(config, seeds)
    description: dict = {"data": seeds.description, "model": model_description}
    if config.candidate is not None:
        candidate = load_model(config.candidate, option="--candidate", device=device, threads=config.threads)
        candidate = with_preprocess(candidate, preprocess)
        description["candidate"] = config.candidate
    else:
        if not _is_torch(reference) and not (
            onnx_precision(config.precision) and isinstance(getattr(reference, "model", reference), OnnxModel)
        ):
            raise DiverfuzzError(
                f"--precision={config.precision!r} builds the counterpart from a PyTorch reference, but "
                f"--model={config.model!r} runs in {type(getattr(reference, 'model', reference)).__name__}; "
                "export the counterpart yourself and pass it as --candidate (an .onnx reference takes onnx-int8 or onnx-fp16)"
            )
        candidate = build_counterpart(config.precision, reference, calibration, device=device, threads=config.threads)
        description["candidate"] = f"{config.precision} counterpart of the reference"
        description["calibration"] = seeds.calibration_description
    description["kind"] = kind if config.kind else f"{kind} (inferred from shape {tuple(x.shape[1:])})"
    description["relations"] = ", ".join(relation_names)
    pair = ModelPair(
        reference, candidate, batch_size=batch_rows(x.shape[1:]),
        labels=(description["model"], description["candidate"]), device=device,
    )
    workload = Workload(pair, x, y, description, kind, relation_names, origin=dict(CONFIG_ORIGIN))
    # Every path that builds models from a config (campaign, workers, replay)
    # finds batch-dependent models here and runs them one input at a time.
    probe_models(workload)
    return workload


#: Input values (floats) per model batch: 2**22 keeps a 224x224 RGB batch at 27 inputs.
BATCH_VALUES = 1 << 22


def onnx_precision(spec: str) -> bool:
    """Whether ``spec`` is run by ONNX Runtime (``onnx-int8``, ``onnx-fp16``, or a policy applying ``onnx-int8``)."""
    if spec.startswith("onnx-"):
        return True
    if not spec.lower().endswith((".json", ".toml")):
        return False
    runtime = policy_runtime(parse_precision(spec))
    return runtime is not None and runtime.kind == "onnx"


def batch_rows(input_shape: tuple[int, ...]) -> int:
    """Inputs per model batch: at most 1024, fewer for large inputs so screening
    a large data set does not hold a thousand 224x224 activations at once."""
    return int(max(1, min(1024, BATCH_VALUES // max(1, int(np.prod(input_shape))))))


def _load(config: CampaignConfig) -> tuple[np.ndarray, np.ndarray | None]:
    """``--data`` (``.npz``, ``.npy`` or an image folder, resized to ``--size``)."""
    size = parse_size(config.size) if config.size is not None else None
    return load_data(config.data, normalize=config.normalize, size=size)


def _is_torch(reference: object) -> bool:
    """Whether precision builders can take the reference (not an ONNX or LiteRT file model)."""
    return not isinstance(getattr(reference, "model", reference), (OnnxModel, TfliteModel))


def seed_data(config: CampaignConfig) -> np.ndarray:
    """The seed inputs ``config`` names, without building any model."""
    if config.data is not None:
        return _load(config)[0]
    return EXAMPLES[config.example].load_data().x_test


def search_relations(config: CampaignConfig, input_shape: tuple[int, ...]) -> tuple[str, tuple[str, ...]]:
    """The input kind and the relations a campaign searches over.

    ``config.kind`` or the kind inferred from one input's shape; then
    ``config.relations``, or every relation that declares that kind.
    """
    kind = config.kind or infer_kind(tuple(input_shape))
    if config.kind and KIND_NDIM[kind] != len(input_shape):
        inferred = infer_kind(tuple(input_shape)) if len(input_shape) in (2, 3) else None
        raise DiverfuzzError(
            f"--kind={kind!r} takes {KIND_LAYOUT[kind]} inputs, but the data's inputs have shape "
            f"{tuple(input_shape)}"
            + (f" ({inferred} inputs); leave --kind out to infer it, or pass --kind {inferred}" if inferred else "")
        )
    channels = int(input_shape[0])
    names = tuple(config.relations or names_for_kind(kind, channels=channels))
    if not names:
        raise DiverfuzzError(f"--kind={kind!r}: no relation applies to this kind of input")
    for name in names:
        relation = REGISTRY[name]
        if kind not in relation.kinds or not relation.accepts_channels(channels):
            raise DiverfuzzError(
                f"--relations: {name!r} does not apply to {kind} inputs of shape {tuple(input_shape)} "
                f"(it takes {', '.join(sorted(relation.kinds))}"
                + (f" with C in {list(relation.channels)}" if relation.channels else "")
                + f"); relations for this input: {', '.join(names_for_kind(kind, channels=channels))}"
            )
    if config.kind or config.relations:
        _try_relations(f"--kind={kind!r}" if config.kind else "--relations", kind, names, tuple(input_shape))
    return kind, names


#: Dimensions (without the batch axis) and layout of each input kind.
KIND_NDIM = {"image": 3, "spectral": 3, "signal": 2}
KIND_LAYOUT = {"image": "(C, H, W)", "spectral": "(C, H, W)", "signal": "(C, T)"}


def _try_relations(option: str, kind: str, names: tuple[str, ...], input_shape: tuple[int, ...]) -> None:
    """Apply every relation once to a grey input of ``input_shape``: a relation that cannot
    take such inputs (``band_loss`` on one band) fails here in one line, before any seed."""
    x = np.full(input_shape, 0.5, dtype=np.float32)
    for name in names:
        relation = REGISTRY[name]
        try:
            relation.func(relation.check(x), **relation.from_unit([0.75] * len(relation.params)))
        except RelationError as exc:
            raise DiverfuzzError(
                f"{option}: relation {name!r} cannot transform inputs of shape {input_shape}: {exc}"
                + ("" if kind == infer_kind(input_shape) else f"; leave --kind out to infer {infer_kind(input_shape)!r}")
            ) from None


#: Inputs run twice to check that both models answer the same batch the same way.
DETERMINISM_PROBE = 64
#: Inputs run beside two different sets of companions to detect batch dependence.
BATCH_PROBE = 8


@dataclass(frozen=True)
class ModelProbe:
    """What probing the pair found before any seed is fuzzed.

    Attributes
    ----------
    batch_dependent : tuple of str
        Roles whose output for an input changed with the other inputs of
        its batch (same batch size); they are run one input at a time.
    queries : int
        Model-pair evaluations (one input through both models) the probe spent.
    warnings : tuple of str
        Sentences for ``summary.warnings``.
    """

    batch_dependent: tuple[str, ...] = ()
    queries: int = 0
    warnings: tuple[str, ...] = ()


def probe_models(workload: Workload) -> ModelProbe:
    """Refuse non-deterministic models; run batch-dependent ones one input at a time.

    Two questions, asked apart (issue 14 item 4). *Non-determinism*: the
    first :data:`DETERMINISM_PROBE` inputs are run twice as the same batch;
    any difference is refused (a divergence on such a model may be noise and
    cannot be replayed). *Batch dependence*: the first :data:`BATCH_PROBE`
    inputs are run beside two different sets of companions in batches of the
    same size (so kernels that block by batch size cannot differ); a model
    whose rows then differ (e.g. ``torch.ao.quantization.quantize_dynamic``,
    whose activation scales come from the whole batch) is accepted, and
    ``workload.pair`` runs it one input at a time from then on, so every
    result is a function of its input alone and replays exactly.
    *Probabilities*: a model whose outputs on the probe inputs are all rows of
    non-negative values summing to 1 (:func:`~diverfuzz.models.pair.is_probabilities`:
    it ends in softmax) is read as returning probabilities; ``workload.pair``
    turns them into log-probabilities from then on (``ModelPair.probabilities``),
    so reports show the model's own probabilities, not a softmax of them, and a
    warning says so once.
    Sets ``workload.probe`` and returns it; a second call returns it again.
    """
    if workload.probe is not None:
        return workload.probe
    pair = workload.pair
    before = pair.queries
    x = np.ascontiguousarray(workload.x, dtype=np.float32)
    probe = x[:DETERMINISM_PROBE]
    first, second = pair.logits(probe), pair.logits(probe)
    if first[0].ndim == 2 and first[0].shape[1] == 1:
        raise DiverfuzzError(
            "the models return a single output per input (logits of shape (N, 1)): their top-1 labels can never "
            "differ, so no divergence can exist; return one logit per class (for a sigmoid score z, "
            "torch.cat([-z, z], dim=1))"
        )
    for role, a, b in zip(("reference", "candidate"), first, second):
        if not np.array_equal(a, b):
            delta = float(np.abs(a - b).max())
            raise DiverfuzzError(
                f"the {role} model is not deterministic: the same inputs gave logits differing by up to "
                f"{delta:.3g} on a second run; seed its randomness (dropout in eval mode, fixed noise seeds) "
                "so divergences can be replayed"
            )
    softmaxed = tuple(role for role, out in zip(("reference", "candidate"), first) if is_probabilities(out))
    notes: tuple[str, ...] = ()
    if softmaxed:
        pair.probabilities = tuple(sorted(set(pair.probabilities) | set(softmaxed)))
        notes = (_probability_note(softmaxed, len(probe)),)
    rows = probe[:BATCH_PROBE]
    # Same batch size, other companions: only a model whose rows read the rest of the batch changes.
    alone, mixed = pair.logits(np.concatenate([rows, rows])), pair.logits(np.concatenate([rows, 1.0 - rows]))
    dependent = tuple(
        role
        for role, a, b in zip(("reference", "candidate"), alone, mixed)
        if len(rows) and not np.array_equal(a[: len(rows)], b[: len(rows)])
    )
    warnings = notes
    if dependent:
        pair.batch_dependent = tuple(sorted(set(pair.batch_dependent) | set(dependent)))
        who = " and ".join(f"the {role} model" for role in dependent)
        warnings += (
            f"{who} gives an input different outputs depending on the other inputs in its batch "
            "(e.g. dynamic quantization computes activation scales per batch); it is run one input "
            "at a time so every divergence replays exactly, which makes this run slower",
        )
    fixed = tuple(role for role in ("reference", "candidate") if runs_one_at_a_time(getattr(pair, role)))
    if fixed:
        who = " and ".join(f"the {role} model" for role in fixed)
        warnings += (
            f"{who} {'has' if len(fixed) == 1 else 'have'} a fixed batch of one input (exported without a dynamic "
            f"batch dimension, the exporters' default): {'it is' if len(fixed) == 1 else 'they are'} run one input "
            "at a time, which makes this run slower",
        )
    workload.probe = ModelProbe(dependent, pair.queries - before, warnings)
    return workload.probe


def _probability_note(roles: tuple[str, ...], inputs: int) -> str:
    """The one sentence saying which models return probabilities and how they are read."""
    both = len(roles) > 1
    who = "both models" if both else f"the {roles[0]} model"
    return (
        f"{who} {'return' if both else 'returns'} probabilities, not logits (on all {inputs} probe inputs every "
        f"output row is non-negative and sums to 1: {'they end' if both else 'it ends'} in softmax); they are read "
        "as log-probabilities, so reported probabilities and margins are the models' own, not a second softmax "
        "of them"
    )


@dataclass(frozen=True)
class SeedSelection:
    """Seeds to fuzz: inputs both models label identically (and correctly, when labels exist).

    Attributes
    ----------
    indices : ndarray of int
        The seeds to fuzz, in data order.
    disagreeing_initially : int
        ``len(clean_disagreements)``.
    screened : int
        Inputs screened: the data in order, up to the chunk that held the last seed
        chosen (all of it when fewer seeds than asked were eligible).
    clean_disagreements : tuple of int
        Inputs the two models already label differently, among the first
        ``checked`` inputs: divergences without any transformation.
    checked : int
        Inputs examined to pick ``indices``: up to the last one chosen (all
        inputs when fewer seeds than asked were eligible).
    screening_queries : int
        Model-pair evaluations spent probing and screening.
    batch_dependent : tuple of str
        See :class:`ModelProbe`.
    warnings : tuple of str
        Degenerate-run warnings (labels outside the models' outputs,
        identical logits, batch dependence).
    labels : dict of int to int
        True label of every chosen seed and clean disagreement (empty
        without labels).
    """

    indices: np.ndarray
    disagreeing_initially: int
    screened: int
    clean_disagreements: tuple[int, ...] = ()
    checked: int = 0
    screening_queries: int = 0
    batch_dependent: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    labels: dict = field(default_factory=dict)


def label_warnings(y: np.ndarray | None, classes: int) -> list[str]:
    """Why labels ``y`` cannot be judged against models with ``classes`` outputs (empty when they can)."""
    out = []
    if classes == 1:
        out.append("the models return a single output: their top-1 labels can never differ")
    if y is None or len(y) == 0:
        return out
    y = np.asarray(y)
    outside = (y < 0) | (y >= classes)
    if outside.any():
        values = ", ".join(str(int(v)) for v in np.unique(y[outside])[:5])
        out.append(
            f"{int(outside.sum())} of {len(y)} labels lie outside the models' output range 0..{classes - 1} "
            f"(values {values}{', ...' if len(np.unique(y[outside])) > 5 else ''}): those inputs are never "
            "fuzzed and no model can be right on them; check that the labels match the models"
        )
    distinct = len(np.unique(y))
    if classes < distinct:
        out.append(
            f"the models have {classes} outputs, fewer than the {distinct} distinct labels in the data: "
            "they cannot predict every class; check that --data matches the models"
        )
    return out


#: Fewest inputs screened per model call while choosing seeds (twice the seeds asked for when
#: that is more): most inputs are eligible, so one call usually finds them all, and on a model
#: run one input at a time (a fixed-batch ``.tflite``) every input screened beyond them costs as
#: much as a search query.
SCREEN_CHUNK = 32


def select_seeds(workload: Workload, count: int) -> SeedSelection:
    """Probe the models, then screen the inputs in order until ``count`` eligible ones are found.

    Inputs the two models already disagree on are not fuzzed: they are
    divergences without any transformation, returned as
    ``clean_disagreements`` (among the inputs examined) so that verdicts
    count them. With labels, inputs both models get wrong alike are skipped.
    Screening goes in chunks of ``max(SCREEN_CHUNK, 2 * count)`` inputs and
    stops at the chunk where the ``count``-th eligible input turns up, so 20
    seeds from 50,000 images do not cost 50,000 screening queries; the seeds
    chosen are the first ``count`` eligible ones, as with screening everything.
    """
    pair = workload.pair
    before = pair.queries
    probe = probe_models(workload)
    chunk = max(SCREEN_CHUNK, 2 * count)
    refs, cands, found, screened = [], [], 0, 0
    while not refs or (screened < len(workload.x) and found < count):
        part = workload.x[screened : screened + chunk]
        r, c = pair.logits(part)
        y_part = None if workload.y is None else workload.y[screened : screened + len(part)]
        refs.append(r)
        cands.append(c)
        found += int(_eligible(r.argmax(axis=1), c.argmax(axis=1), y_part).sum())
        screened += len(part)
    ref, cand = (np.concatenate(parts) for parts in (refs, cands))
    y = None if workload.y is None else workload.y[:screened]
    classes = int(ref.shape[1])
    warnings = list(probe.warnings) + label_warnings(workload.y, classes)
    if len(ref) and np.array_equal(ref, cand):
        warnings.append(
            f"the reference and candidate gave identical logits on all {len(ref)} screened inputs: "
            "the candidate may be the reference itself (was the precision spec applied?), and "
            "divergences are unlikely to exist"
        )
    ref_label, cand_label = ref.argmax(axis=1), cand.argmax(axis=1)
    agree = ref_label == cand_label
    eligible = _eligible(ref_label, cand_label, y)
    indices = np.flatnonzero(eligible)[:count]
    if len(indices) == 0:
        raise DiverfuzzError(_no_seeds_message(y, agree, ref_label, classes))
    if len(indices) < count:
        warnings.append(
            f"{count} seeds were asked for, but only {len(indices)} of the {len(workload.x)} inputs are eligible "
            f"(both models agree{'' if workload.y is None else ' and are right'}): {len(indices)} seeds are fuzzed"
        )
    checked = screened if len(indices) < count else int(indices[-1]) + 1
    clean = tuple(int(i) for i in np.flatnonzero(~agree[:checked]))
    labels = {}
    if y is not None:
        labels = {int(i): int(y[i]) for i in (*indices.tolist(), *clean)}
    return SeedSelection(
        indices,
        len(clean),
        screened,
        clean,
        checked,
        probe.queries + pair.queries - before,
        probe.batch_dependent,
        tuple(warnings),
        labels,
    )


def _eligible(ref_label: np.ndarray, cand_label: np.ndarray, y: np.ndarray | None) -> np.ndarray:
    """Inputs a campaign may fuzz: both models give the same label (the true one, with labels)."""
    agree = ref_label == cand_label
    return agree if y is None else agree & (ref_label == y)


def _no_seeds_message(y: np.ndarray | None, agree: np.ndarray, ref_label: np.ndarray, classes: int) -> str:
    n = len(agree)
    head = f"no eligible seeds: the models agree on {int(agree.sum())} of {n} inputs"
    if y is None:
        return head + "; check that --data matches the models"
    outside = int(((y < 0) | (y >= classes)).sum())
    if outside == n:
        return (
            f"no eligible seeds: every label lies outside the models' output range 0..{classes - 1} "
            f"(labels span {int(y.min())}..{int(y.max())}); check that the labels match the models"
        )
    right = int((agree & (ref_label == y)).sum())
    return (
        head + f", and the reference is right on {right} of those (agreeing and right is required)"
        + (f"; {outside} labels lie outside the models' output range 0..{classes - 1}" if outside else "")
        + "; check that --data and its labels match the models"
    )


def seed_input(workload: Workload, index: int) -> np.ndarray:
    x, _ = validate_inputs(workload.x[index : index + 1])
    return x[0]
