"""Deprecated alias of :mod:`fuzzer.models.precision` (documented names stay importable)."""

import warnings

from fuzzer.models.precision.affine import binarize, fake_quantize, quantize_int, ternarize
from fuzzer.models.precision.build import PRECISIONS, build_counterpart
from fuzzer.models.precision.fixed import quantize_fixed
from fuzzer.models.precision.minifloat import quantize_float
from fuzzer.models.precision.spec import PrecisionSpec, parse_precision

warnings.warn(
    "fuzzer.precision moved to fuzzer.models.precision; import from there", DeprecationWarning, stacklevel=2
)

__all__ = [
    "PRECISIONS",
    "PrecisionSpec",
    "binarize",
    "build_counterpart",
    "fake_quantize",
    "parse_precision",
    "quantize_fixed",
    "quantize_float",
    "quantize_int",
    "ternarize",
]
