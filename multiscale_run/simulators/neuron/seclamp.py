"""SONATA's voltage clamp (``input_type`` ``voltage_clamp``, module ``seclamp``): its parameters,
checked without NEURON. NEURON's SEClamp holds ``voltage`` (mV) through ``series_resistance``
(MΩ, default 0.01) at the soma centre from t = 0 for ``duration`` ms (until tstop without one); a
SEClamp cannot start late, so ``delay`` must be 0 (as libsonata requires), and the multi-level
``voltage_levels``/``duration_levels`` are refused by name."""

from __future__ import annotations

import math

from multiscale_run.errors import UserError


def _number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def seclamp_problems(spec: dict) -> list[tuple[str, str]]:
    """(parameter, what is wrong) of a seclamp input."""
    out = []
    if "voltage" not in spec:
        out.append(("voltage", "seclamp needs voltage (mV)"))
    elif not _number(spec["voltage"]):
        out.append(("voltage", f"voltage must be a number, got {spec['voltage']!r}"))
    for key in ("series_resistance", "duration"):
        if key in spec and not (_number(spec[key]) and spec[key] > 0):
            out.append((key, f"{key} must be a number > 0, got {spec[key]!r}"))
    if spec.get("delay", 0) != 0:
        out.append(("delay", f"a SEClamp starts at t = 0: delay must be 0, got {spec['delay']!r}"))
    for key in ("voltage_levels", "duration_levels"):
        if spec.get(key):
            out.append((key, f"{key} (a multi-level voltage clamp) is not supported"))
    return out


def seclamp_parameters(spec: dict, tstop_ms: float, where: str) -> tuple[float, float, float]:
    """(voltage mV, series resistance MΩ, duration ms) of a seclamp input; the first problem
    raises a UserError at ``where``.<parameter>."""
    problems = seclamp_problems(spec)
    if problems:
        key, message = problems[0]
        raise UserError(message, path=f"{where}.{key}")
    duration = float(spec.get("duration", tstop_ms))
    return float(spec["voltage"]), float(spec.get("series_resistance", 0.01)), duration
