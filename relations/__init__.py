"""Label-preserving transformations (metamorphic relations) and validity.

Inputs are channel-first float32 arrays ``(C, H, W)`` with values in
``[0, 1]``; every relation returns a new array of the same shape and dtype,
clipped to ``[0, 1]``. A :class:`Chain` of :class:`Step` s is plain data that
round-trips through JSON. ``relations.strategies`` holds Hypothesis
strategies (imported separately so Hypothesis stays optional at run time).
"""

from .base import (
    REGISTRY,
    Chain,
    ParamSpec,
    Relation,
    RelationError,
    Step,
    apply_batch,
    check_image,
    get_relation,
)
from .validity import (
    DEFAULT_VALIDITY,
    METRICS,
    Validity,
    evaluate_batch,
    l0,
    l2,
    linf,
    metrics,
    psnr,
    ssim,
)

__all__ = [
    "REGISTRY",
    "Chain",
    "ParamSpec",
    "Relation",
    "RelationError",
    "Step",
    "apply_batch",
    "check_image",
    "get_relation",
    "DEFAULT_VALIDITY",
    "METRICS",
    "Validity",
    "evaluate_batch",
    "l0",
    "l2",
    "linf",
    "metrics",
    "psnr",
    "ssim",
]
