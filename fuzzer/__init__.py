"""diverfuzz engine, one sub-package per concern (layers, highest first):

- :mod:`fuzzer.entry`: entry points: the ``diverfuzz`` CLI, :func:`fuzzer.entry.check.check`,
  the pytest plugin, the precision sweep, supervisor evaluation, report re-rendering.
- :mod:`fuzzer.campaign`: a campaign: config schema, workload, the driver
  (:func:`fuzzer.campaign.driver.run_campaign`), backends, storage, replay.
- :mod:`fuzzer.search`: strategies (genetic, diffchaser, dflare, random), candidate
  evaluation against the budget, shrinking.
- :mod:`fuzzer.models`: the model pair, model files and runtimes, precision counterparts,
  the one training loop, the bundled examples.
- :mod:`fuzzer.errors`, :mod:`fuzzer.atomic`: the error types and atomic writes every layer uses.

``relations``, ``oracles``, ``defenses`` and ``reports`` are packages of their
own; ``pyproject.toml``'s import-linter contract gives the full layer order.
"""

__version__ = "0.1.0"
