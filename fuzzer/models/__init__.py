"""The models side: the model pair under test and where its models come from.

- :mod:`fuzzer.models.pair`: :class:`~fuzzer.models.pair.ModelPair` (reference and
  candidate, batched logits, fingerprints) and ``torch_threads``.
- :mod:`fuzzer.models.loading`: model factories (``FILE.py:FUNC``) and seed data files.
- :mod:`fuzzer.models.precision`: counterparts built from a reference by a precision spec.
- :mod:`fuzzer.models.training`: the one training loop and the weights cache.
- :mod:`fuzzer.models.examples`: the bundled example models and data.

Kept free of imports so that ``fuzzer.models.precision.spec`` can be read
without torch.
"""
