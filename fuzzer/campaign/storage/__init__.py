"""Where results are kept, behind one interface for replay.

- :mod:`fuzzer.campaign.storage.corpus`: the campaign corpus (SQLite, WAL): every
  seed and divergence of a campaign, its config and fingerprints; resume.
- :mod:`fuzzer.campaign.storage.regression`: the regression corpus of ``check()``
  and the pytest plugin (plain JSON the user commits).

Both hand replay the same record, :class:`~fuzzer.campaign.storage.stored.StoredDivergence`,
through their ``stored(...)`` method; :func:`fuzzer.campaign.replay.replay_stored`
re-executes and re-judges it the same way for both.
"""
