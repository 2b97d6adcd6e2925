"""diverfuzz: finds natural inputs where a DNN and its reduced-precision counterpart disagree.

One import package; every folder directly under it is one layer, and imports only go
down (``pyproject.toml``'s import-linter contract is the authority). Highest first:

- :mod:`diverfuzz.entry`: entry points that parse, call and print: the ``diverfuzz`` CLI,
  :func:`diverfuzz.entry.check.check`, the pytest plugin.
- :mod:`diverfuzz.supervisors`: uncertainty monitors and their evaluation on a campaign.
- :mod:`diverfuzz.fuzzer`: search strategies (``search/``), campaigns (``campaign/``: config,
  workload, driver, backends, corpus, replay), the precision sweep.
- :mod:`diverfuzz.defenses` | :mod:`diverfuzz.reports`: defended models; JSON, HTML,
  Markdown and JUnit reports.
- :mod:`diverfuzz.oracles`: what a divergence is, fitness, MCA triage.
- :mod:`diverfuzz.models`: the model pair, model files and runtimes, precision
  counterparts, the one training loop, the bundled examples.
- :mod:`diverfuzz.relations`: metamorphic input transformations, validity rules.
- :mod:`diverfuzz.common`: the error types and atomic writes every layer uses.

This module imports nothing, so ``import diverfuzz.relations`` loads no torch.
"""

__version__ = "0.1.0"
