"""Deprecated alias of :mod:`fuzzer.entry.check` (``fuzzer.check.check`` stays importable)."""

import warnings

from fuzzer.entry.check import CheckResult, check

warnings.warn(
    "fuzzer.check moved to fuzzer.entry.check; import check from there", DeprecationWarning, stacklevel=2
)

__all__ = ["CheckResult", "check"]
