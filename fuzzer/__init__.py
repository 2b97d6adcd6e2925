"""diverfuzz engine: model pairs, precision counterparts, search, campaigns.

The public entry points are :func:`fuzzer.campaign.driver.run_campaign` and the
``diverfuzz`` command line (:mod:`fuzzer.entry.cli`).
"""

__version__ = "0.1.0"
