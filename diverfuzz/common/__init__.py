"""The ground floor every layer may use: the error types (:mod:`diverfuzz.common.errors`)
and atomic file writes (:mod:`diverfuzz.common.atomic`). Imports nothing of diverfuzz."""
