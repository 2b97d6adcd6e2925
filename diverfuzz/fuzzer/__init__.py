"""The fuzzer: search strategies and the campaigns that run them.

- :mod:`diverfuzz.fuzzer.search`: strategies (genetic, diffchaser, dflare, random), candidate
  evaluation against the budget, shrinking.
- :mod:`diverfuzz.fuzzer.campaign`: a campaign: config schema, workload, the driver
  (:func:`diverfuzz.fuzzer.campaign.driver.run_campaign`), backends, storage, replay,
  report re-rendering.
- :mod:`diverfuzz.fuzzer.sweep`: the precision sweep (one short campaign per format).

Inside, ``sweep`` > ``campaign`` > ``search``; see ``pyproject.toml``'s contracts.
"""
