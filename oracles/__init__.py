"""Oracles: what counts as a divergence, and how close an input is to one."""

from oracles.divergence import TopOneDisagreement, softmax
from oracles.fitness import MarginFitness

__all__ = ["TopOneDisagreement", "MarginFitness", "softmax"]
