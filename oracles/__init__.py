"""Oracles: what counts as a divergence, and how close an input is to one."""

from oracles.divergence import TopOneDisagreement, softmax
from oracles.fitness import MarginFitness
from oracles.triage import Triage, triage, triage_divergences

__all__ = ["TopOneDisagreement", "MarginFitness", "Triage", "softmax", "triage", "triage_divergences"]
