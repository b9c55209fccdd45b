"""Which elements a configured report holds: the one rule the recorders and the generated SONATA
``reports`` section share (docs/reports.md).

A report without an operator takes a segment variable at the somata (``soma``) and any other
variable on its own elements (``identity``); an operator maps the variable to its destination
space.
"""

from __future__ import annotations

from collections.abc import Mapping

from multiscale_run.spaces import Space

#: report population of the global spaces (their "nodes" are the elements themselves)
GLOBAL_POPULATION = {Space.TET: "tets", Space.VESSEL: "vasculature", Space.ENDFOOT: "endfeet"}


def report_operator(entry: Mapping, variable_space: Space) -> str:
    """The operator of report ``entry``: the configured one, else ``soma`` for a segment variable,
    else ``identity``."""
    return entry.get("operator") or ("soma" if variable_space is Space.SEGMENT else "identity")


def report_space(operator: str, variable_space: Space) -> Space | None:
    """The space of a report's elements (``None`` for an unknown operator)."""
    if operator == "soma":
        return Space.NEURON
    if operator == "identity":
        return variable_space
    from multiscale_run.coupling.operator_specs import OPERATORS

    spec = OPERATORS.get(operator)
    return spec.dest if spec is not None else None
