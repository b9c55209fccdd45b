"""The semantic validation of a simulation config (``msr check``; ``msr compute`` runs it first)."""

from multiscale_run.validation.checks import check_simulation, semantic_problems, semantic_warnings

__all__ = ["check_simulation", "semantic_problems", "semantic_warnings"]
