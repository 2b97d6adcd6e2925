"""Where results are kept, behind one interface for replay.

- :mod:`diverfuzz.fuzzer.campaign.storage.corpus`: the campaign corpus (SQLite, WAL): every
  seed and divergence of a campaign, its config and fingerprints; resume.
- :mod:`diverfuzz.fuzzer.campaign.storage.regression`: the regression corpus of ``check()``
  and the pytest plugin (plain JSON the user commits).

Both hand replay the same record, :class:`~diverfuzz.fuzzer.campaign.storage.stored.StoredDivergence`,
through their ``stored(...)`` method; :func:`diverfuzz.fuzzer.campaign.replay.replay_stored`
re-executes and re-judges it the same way for both.
"""
