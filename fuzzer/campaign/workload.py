"""Turn a campaign config into models and seed data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fuzzer.campaign.config import CampaignConfig
from fuzzer.errors import DiverfuzzError
from defenses import defended_reference
from fuzzer.models.examples import EXAMPLES
from fuzzer.models.loading import load_factory, load_npz, validate_inputs
from fuzzer.models.precision import build_counterpart
from fuzzer.models.pair import ModelPair
from relations import REGISTRY, infer_kind, names_for_kind

#: Inputs used to calibrate static quantization when the user supplies data.
CALIBRATION_SIZE = 512


@dataclass
class Workload:
    """The model pair and the data a campaign draws its seeds from."""

    pair: ModelPair
    x: np.ndarray
    y: np.ndarray | None
    description: dict
    kind: str = "image"
    relations: tuple[str, ...] = ()


def prepare(config: CampaignConfig) -> Workload:
    """Build the model pair and load the seed data that ``config`` names.

    Without ``--data`` the seeds come from the bundled example's test split
    and static quantization is calibrated on its training split; with
    ``--data`` it is calibrated on the first :data:`CALIBRATION_SIZE` inputs
    of the file. The relation set is ``config.relations``, or every relation
    of the input kind (``config.kind``, or inferred from the input shape).
    """
    example = EXAMPLES[config.example]
    description: dict = {}
    calibration = None
    bundled = None
    if config.data is None or config.model is None:
        bundled = example.load_data()
    if config.data is None:
        x, y = bundled.x_test, bundled.y_test
        calibration = bundled.x_train
        description["data"] = example.data_description
    else:
        x, y = load_npz(config.data, normalize=config.normalize)
        description["data"] = config.data
    if config.defense is not None:
        reference = defended_reference(config.defense, bundled, seed=0)
        description["model"] = f"{example.model_description}, defended by {config.defense}"
    elif config.model is None:
        reference = example.load_model(0, bundled)
        description["model"] = example.model_description
    else:
        reference = load_factory(config.model, option="--model")
        description["model"] = config.model
    if calibration is None:
        calibration = x[:CALIBRATION_SIZE]
    if config.candidate is not None:
        candidate = load_factory(config.candidate, option="--candidate")
        description["candidate"] = config.candidate
    else:
        candidate = build_counterpart(config.precision, reference, calibration)
        description["candidate"] = f"{config.precision} counterpart of the reference"
    kind, relation_names = search_relations(config, x.shape[1:])
    description["kind"] = kind if config.kind else f"{kind} (inferred from shape {tuple(x.shape[1:])})"
    description["relations"] = ", ".join(relation_names)
    pair = ModelPair(reference, candidate, labels=(description["model"], description["candidate"]))
    return Workload(pair, x, y, description, kind, relation_names)


def seed_data(config: CampaignConfig) -> np.ndarray:
    """The seed inputs ``config`` names, without building any model."""
    if config.data is not None:
        return load_npz(config.data, normalize=config.normalize)[0]
    return EXAMPLES[config.example].load_data().x_test


def search_relations(config: CampaignConfig, input_shape: tuple[int, ...]) -> tuple[str, tuple[str, ...]]:
    """The input kind and the relations a campaign searches over.

    ``config.kind`` or the kind inferred from one input's shape; then
    ``config.relations``, or every relation that declares that kind.
    """
    kind = config.kind or infer_kind(tuple(input_shape))
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
    return kind, names


@dataclass(frozen=True)
class SeedSelection:
    """Seeds to fuzz: inputs both models label identically (and correctly, when labels exist)."""

    indices: np.ndarray
    disagreeing_initially: int
    screened: int


def select_seeds(workload: Workload, count: int) -> SeedSelection:
    """Screen every input once and keep the first ``count`` eligible ones.

    Inputs the two models already disagree on are excluded and counted
    (they are divergences without any transformation).
    """
    ref, cand = workload.pair.logits(workload.x)
    _check_deterministic(workload, ref, cand)
    ref_label, cand_label = ref.argmax(axis=1), cand.argmax(axis=1)
    agree = ref_label == cand_label
    eligible = agree if workload.y is None else agree & (ref_label == workload.y)
    indices = np.flatnonzero(eligible)[:count]
    if len(indices) == 0:
        raise DiverfuzzError(
            "no eligible seeds: the models agree (and are correct) on none of the inputs; "
            "check that --data matches the models"
        )
    return SeedSelection(indices, int((~agree).sum()), len(workload.x))


#: Inputs re-run to check that both models answer the same twice.
DETERMINISM_PROBE = 64


def _check_deterministic(workload: Workload, ref: np.ndarray, cand: np.ndarray) -> None:
    """Refuse models that answer the same batch differently twice.

    A divergence found on a non-deterministic model cannot be replayed and
    may be noise (dropout left on, unseeded sampling, PixelDP without a
    fixed seed).
    """
    probe = workload.x[:DETERMINISM_PROBE]
    ref2, cand2 = workload.pair.logits(probe)
    for role, first, second in (("reference", ref, ref2), ("candidate", cand, cand2)):
        if not np.array_equal(first[: len(probe)], second):
            delta = float(np.abs(first[: len(probe)] - second).max())
            raise DiverfuzzError(
                f"the {role} model is not deterministic: the same inputs gave logits differing by up to "
                f"{delta:.3g} on a second run; seed its randomness (dropout in eval mode, fixed noise seeds) "
                "so divergences can be replayed"
            )


def seed_input(workload: Workload, index: int) -> np.ndarray:
    x, _ = validate_inputs(workload.x[index : index + 1])
    return x[0]
