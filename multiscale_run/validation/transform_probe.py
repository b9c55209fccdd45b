"""``msr check`` evaluates every coupling transform on representative values of its source.

Parsing a transform proves it safe, not that it computes: ``log(vals - 1e9)``, ``1/0``, an
overflow or ``vals if vals else 0`` parse fine and fail at the first coupling. The probe values of
``src.src_variable`` are its initial value where the config fixes one (NEURON's initial
concentrations and v_init, STEPS's species conc_0_mM, the J15 initial state with its overrides,
blood flow_ratio 1) and every bound a value check declares for that variable (its declared range);
a variable with neither is probed at 1. There are always at least two values, so that a
condition on the values (``vals if vals > 0 else 0``) is found ambiguous.
"""

from __future__ import annotations

import numpy as np

from multiscale_run.config.model import Config
from multiscale_run.config.problems import Problem


def initial_value(config: Config, simulator: str, variable: str) -> float | None:
    """The value ``simulator.variable`` starts from, when the config alone determines it."""
    section = config.simulator(simulator)
    if simulator == "neuron":
        if variable == "v":
            return float(config.conditions.get("v_init", -65.0))
        value = section.get("initial_concentrations_mM", {}).get(variable)
        return None if value is None else float(value)
    if simulator == "steps" and variable.endswith("_conc"):
        species = section.get("species", {}).get(variable.removesuffix("_conc"), {})
        value = species.get("conc_0_mM")
        return None if value is None else float(value)
    if simulator == "metabolism":
        from multiscale_run.metabolism.parameters import INITIAL_STATE

        value = section.get("initial_state", {}).get(variable, INITIAL_STATE.get(variable))
        return None if value is None else float(value)
    if simulator == "bloodflow" and variable == "flow_ratio":
        return 1.0
    return None


def probe_values(config: Config, simulator: str, variable: str) -> np.ndarray:
    """Initial value and declared bounds of ``simulator.variable`` (1 when nothing is known)."""
    values = [initial_value(config, simulator, variable)]
    for chk in config.checks:
        if chk["simulator"] == simulator and chk["variable"] == variable:
            values.extend(chk.get(bound) for bound in ("lb", "leb", "hb", "heb"))
    known = sorted({v for v in values if v is not None}) or [1.0]
    # at least two elements, like any population: a condition on the values is then seen to be
    # ambiguous even if the variable has a single known value
    return np.asarray(known * 2 if len(known) == 1 else known, dtype=np.float64)


def transform_problem(config: Config, coupling: dict, transform, where: str) -> Problem | None:
    """A problem if ``transform`` fails on the probe values of the coupling's source."""
    from multiscale_run.coupling.transform import TransformError

    values = probe_values(config, coupling["src"], coupling["src_variable"])
    try:
        transform(vals=values, dt_ms=config.dt_ms(coupling["dest"]))
    except TransformError as exc:
        shown = ", ".join(f"{v:g}" for v in values)
        return config.problem(
            where,
            f"{exc} for {coupling['src']}.{coupling['src_variable']} = [{shown}] "
            "(its initial value and declared bounds)",
            "a transform that is finite over the source's values",
        )
    return None
