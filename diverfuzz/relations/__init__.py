"""Label-preserving transformations (metamorphic relations) and validity.

Inputs are channel-first float32 arrays with values in ``[0, 1]``: images
and spectral cubes ``(C, H, W)``, signals ``(C, T)`` (the three *kinds*;
:func:`infer_kind` guesses one from a shape, :func:`names_for_kind` lists
the relations for one). Every relation returns a new array of the same
shape and dtype, clipped to ``[0, 1]``. A :class:`Chain` of :class:`Step` s is plain data that
round-trips through JSON. ``diverfuzz.relations.strategies`` holds Hypothesis
strategies (imported separately so Hypothesis stays optional at run time).
"""

from .chain import Chain, Step, apply_batch, apply_steps
from .registry import REGISTRY, get_relation, names_for_kind
from .relation import (
    KINDS,
    ParamSpec,
    Relation,
    RelationError,
    check_image,
    check_input,
    infer_kind,
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
    "apply_steps",
    "check_image",
    "check_input",
    "get_relation",
    "infer_kind",
    "names_for_kind",
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
