"""Oracles: what counts as a divergence, and how close an input is to one."""

from diverfuzz.oracles.divergence import TopOneDisagreement, softmax
from diverfuzz.oracles.fitness import MarginFitness
from diverfuzz.oracles.triage import Triage, triage, triage_divergences

__all__ = ["TopOneDisagreement", "MarginFitness", "Triage", "softmax", "triage", "triage_divergences"]
