"""Example ``--model`` / ``--candidate`` factories: a user-made counterpart.

``diverfuzz`` builds int8/fp16/bf16 counterparts itself (``--precision``);
when you deploy a variant it cannot build, give both models as zero-argument
factories instead::

    diverfuzz run --model examples/custom_pair.py:reference \\
                  --candidate examples/custom_pair.py:candidate \\
                  --data digits_test.npz --seeds 20

(``python examples/make_npz.py digits_test.npz`` writes the data file.)

The reference is the bundled digits CNN (trained once from seed 0, then
loaded from the diverfuzz cache). The candidate is what a user might ship to
a small device: the same network with the 30% smallest-magnitude weights of
every layer set to zero (one-shot magnitude pruning without fine-tuning,
Han et al., "Learning both Weights and Connections for Efficient Neural
Networks", NeurIPS 2015). Biases are kept. On the digits test split it loses
about 0.4 points of accuracy and changes 4 of 540 labels, so most inputs
are eligible seeds and divergences have to be searched for.
"""

from __future__ import annotations

import torch

from diverfuzz.models.examples.digits import DigitsCNN, trained_digits_cnn

#: Fraction of each layer's weights set to zero in the candidate.
PRUNE_FRACTION = 0.3


def reference() -> DigitsCNN:
    """The full-precision bundled digits CNN."""
    return trained_digits_cnn(0)


def prune_smallest(model: torch.nn.Module, fraction: float = PRUNE_FRACTION) -> torch.nn.Module:
    """Zero the ``fraction`` smallest-magnitude weights of every layer, in place.

    Parameters
    ----------
    model : torch.nn.Module
        Model whose ``*.weight`` parameters are pruned (biases are kept).
    fraction : float
        Share of each weight tensor to zero, in ``[0, 1)`` (default 0.3).
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction={fraction!r} must lie in [0, 1)")
    with torch.no_grad():
        for name, weight in model.named_parameters():
            k = int(fraction * weight.numel())
            if not name.endswith("weight") or k == 0:
                continue
            threshold = weight.abs().flatten().kthvalue(k).values
            weight[weight.abs() <= threshold] = 0.0
    return model


def candidate() -> DigitsCNN:
    """The bundled digits CNN with 30% of each layer's weights pruned."""
    return prune_smallest(trained_digits_cnn(0)).eval()
