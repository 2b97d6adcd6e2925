"""The models side: the model pair under test and where its models come from.

- :mod:`diverfuzz.models.pair`: :class:`~diverfuzz.models.pair.ModelPair` (reference and
  candidate, batched logits, fingerprints) and ``torch_threads``.
- :mod:`diverfuzz.models.loading`: model factories (``FILE.py:FUNC``) and seed data files.
- :mod:`diverfuzz.models.precision`: counterparts built from a reference by a precision spec.
- :mod:`diverfuzz.models.training`: the one training loop and the weights cache.
- :mod:`diverfuzz.models.examples`: the bundled example models and data.

Kept free of imports so that ``diverfuzz.models.precision.spec`` can be read
without torch.
"""
