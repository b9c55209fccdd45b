"""SONATA's voltage clamp (``input_type`` ``voltage_clamp``, module ``seclamp``): its parameters,
checked without NEURON. NEURON's SEClamp holds ``voltage`` (mV) through ``series_resistance``
(MΩ, default 0.01) at the soma centre from t = 0 for ``duration`` ms (until tstop without one),
then each of ``voltage_levels`` (mV) in order for its ``duration_levels`` (ms): the SONATA
simulation config's multi-level clamp, whose first level is ``voltage``/``duration``. As libsonata
reads them, the two lists have the same length and durations are >= 0 (a level of 0 ms is held
for no time); a SEClamp cannot start late, so ``delay`` must be 0 (libsonata requires it too)."""

from __future__ import annotations

import math

from multiscale_run.errors import UserError

_LEVELS = ("voltage_levels", "duration_levels")


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
    lists = {key: spec.get(key, []) for key in _LEVELS}
    for key, values in lists.items():
        if not isinstance(values, list):
            out.append((key, f"{key} must be a list of numbers, got {values!r}"))
            continue
        for i, value in enumerate(values):
            if not _number(value) or (key == "duration_levels" and value < 0):
                what = "a number >= 0 (ms)" if key == "duration_levels" else "a number (mV)"
                out.append((f"{key}[{i}]", f"{key}[{i}] must be {what}, got {value!r}"))
    if all(isinstance(v, list) for v in lists.values()):
        sizes = [len(v) for v in lists.values()]
        if sizes[0] != sizes[1]:
            what = f"voltage_levels has {sizes[0]} levels, duration_levels {sizes[1]}: one duration per level"
            out.append(("duration_levels", what))
        if sizes[0] and "duration" not in spec:
            out.append(("duration", "a seclamp with voltage_levels needs duration (ms), the first level's"))
    return out


def seclamp_levels(spec: dict, tstop_ms: float, where: str) -> tuple[list[tuple[float, float]], float]:
    """([(voltage mV, duration ms), ...] in order, levels of 0 ms left out; series resistance MΩ)
    of a seclamp input; the first problem raises a UserError at ``where``.<parameter>."""
    problems = seclamp_problems(spec)
    if problems:
        key, message = problems[0]
        raise UserError(message, path=f"{where}.{key}")
    first = (float(spec["voltage"]), float(spec.get("duration", tstop_ms)))
    more = zip(spec.get("voltage_levels", []), spec.get("duration_levels", []), strict=True)
    levels = [first, *((float(v), float(d)) for v, d in more if d > 0)]
    return levels, float(spec.get("series_resistance", 0.01))
