"""Turn a campaign config into models and seed data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fuzzer.config import CampaignConfig
from fuzzer.errors import DiverfuzzError
from fuzzer.loading import load_factory, load_npz, validate_inputs
from fuzzer.precision import build_counterpart
from fuzzer.target import ModelPair

#: Inputs used to calibrate static quantization when the user supplies data.
CALIBRATION_SIZE = 512


@dataclass
class Workload:
    """The model pair and the data a campaign draws its seeds from."""

    pair: ModelPair
    x: np.ndarray
    y: np.ndarray | None
    description: dict


def prepare(config: CampaignConfig) -> Workload:
    """Build the model pair and load the seed data that ``config`` names.

    Without ``--data`` the seeds come from the digits test split and static
    quantization is calibrated on the digits training split; with ``--data``
    it is calibrated on the first :data:`CALIBRATION_SIZE` inputs of the file.
    """
    description: dict = {}
    calibration = None
    if config.data is None:
        from fuzzer.examples.digits import load_digits_data

        digits = load_digits_data()
        x, y = digits.x_test, digits.y_test
        calibration = digits.x_train
        description["data"] = "scikit-learn load_digits, test split (30%, 541 real 8x8 images)"
    else:
        x, y = load_npz(config.data)
        description["data"] = config.data
    if config.model is None:
        from fuzzer.examples.digits import trained_digits_cnn

        reference = trained_digits_cnn(0)
        description["model"] = "bundled digits CNN (trained from seed 0)"
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
    return Workload(ModelPair(reference, candidate), x, y, description)


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


def seed_input(workload: Workload, index: int) -> np.ndarray:
    x, _ = validate_inputs(workload.x[index : index + 1])
    return x[0]
