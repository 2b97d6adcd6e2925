"""The strategy names, importable without DEAP or torch (config validation uses them)."""

STRATEGIES = ("genetic", "random", "diffchaser", "dflare")
