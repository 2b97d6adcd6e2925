"""torchao weight-only counterparts: int8 per channel and int4 per group (Linear layers)."""

from __future__ import annotations

import copy
from typing import Collection

import numpy as np
import torch

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.precision.int8 import _quiet_torchao, linear_filter

INT4_GROUP_SIZE = 32


def _quantize(name: str, model: torch.nn.Module, config, filter_fn) -> torch.nn.Module:
    with _quiet_torchao():
        from torchao.quantization import quantize_

    counterpart = copy.deepcopy(model).eval()
    try:
        with _quiet_torchao():
            quantize_(counterpart, config, filter_fn=filter_fn)
    except Exception as exc:
        raise DiverfuzzError(
            f"--precision={name!r} could not quantize the model: {type(exc).__name__}: {exc}".replace("\n", " ")
        ) from exc
    return counterpart


def int8_weight(model: torch.nn.Module, calibration: np.ndarray, *, keep: Collection[str] = ()) -> torch.nn.Module:
    """int8 per-channel weights, float32 activations (torchao ``Int8WeightOnlyConfig``).

    Only ``nn.Linear`` layers are quantized (torchao's default filter), not
    those named in ``keep``; ``calibration`` is unused.
    """
    with _quiet_torchao():
        from torchao.quantization import Int8WeightOnlyConfig

    return _quantize("int8-weight", model, Int8WeightOnlyConfig(), linear_filter(keep))


def int4_weight(model: torch.nn.Module, calibration: np.ndarray, *, keep: Collection[str] = ()) -> torch.nn.Module:
    """int4 weights, one scale per group of 32 inputs, float32 activations.

    Runs torchao's ``IntxWeightOnlyConfig(weight_dtype=torch.int4,
    granularity=PerGroup(32))``, which works on CPU (the int4 values are
    unpacked to int8 and dequantized before the matmul); torchao's
    ``Int4WeightOnlyConfig`` kernels need CUDA or a packed CPU layout.
    Only ``nn.Linear`` layers whose input size is a multiple of 32 are
    quantized, not those named in ``keep``; ``calibration`` is unused.
    """
    with _quiet_torchao():
        from torchao.quantization import IntxWeightOnlyConfig
        from torchao.quantization.granularity import PerGroup

    def divisible(module: torch.nn.Module, fqn: str) -> bool:
        return isinstance(module, torch.nn.Linear) and module.in_features % INT4_GROUP_SIZE == 0 and fqn not in keep

    with _quiet_torchao():
        from torchao.quantization import quantize_

    counterpart = copy.deepcopy(model).eval()
    config = IntxWeightOnlyConfig(weight_dtype=torch.int4, granularity=PerGroup(INT4_GROUP_SIZE))
    try:
        with _quiet_torchao():
            quantize_(counterpart, config, filter_fn=divisible)
    except Exception as exc:
        raise DiverfuzzError(
            f"--precision='int4-weight' could not quantize the model: {type(exc).__name__}: {exc}".replace("\n", " ")
        ) from exc
    return counterpart
