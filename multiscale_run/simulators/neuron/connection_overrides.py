"""SONATA ``connection_overrides``: changes to the synapses from a ``source`` node set onto a
``target`` node set, applied in config order (a later override wins where both set a value):

- ``weight``: factor on the edges' weight (BBP: on the conductance);
- ``synapse_delay_override``: the synaptic delay (ms) instead of the edges';
- ``synapse_configure``: hoc statements run on each synapse, ``%s`` standing for it (e.g.
  ``%s.e_GABAA = -80``); every matching override's, in order;
- ``spont_minis``: spontaneous releases at this rate (Hz) on each synapse, drawn as neurodamus
  draws them (:func:`~multiscale_run.simulators.neuron.random_streams.minis_times`), delivered
  with the synapse's weight.

- ``delay`` (ms): SONATA, "adjustments from weight of this connection_override are applied
  after the specified delay has elapsed": the ``weight`` factor acts from t = delay on (an
  event at that time sets the NetCons' weights, the spontaneous minis' included). At any time a
  synapse's factor is that of the last override in config order that matches it and acts by
  then. Such an override may set only ``weight``: its other keys are refused by name.

Refused by name: ``modoverride`` and the neuromodulation keys.
"""

from __future__ import annotations

import math

#: SONATA keys msr refuses (key: why)
REFUSED = {
    "modoverride": "synapse helper overrides (modoverride) are not supported",
    "neuromodulation_dtc": "neuromodulatory projections are not supported",
    "neuromodulation_strength": "neuromodulatory projections are not supported",
}


def override_list(overrides) -> list[tuple[str, dict]]:
    """(JSON path, override) of the ``connection_overrides`` list, in order."""
    return [(f"connection_overrides[{i}]", spec) for i, spec in enumerate(overrides or [])]


def _number(value, low: float, strict: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    return value > low if strict else value >= low


def override_problems(spec) -> list[tuple[str, str]]:
    """(key, what is wrong) of one connection override."""
    if not isinstance(spec, dict):
        return [("", f"a connection override is an object, got {spec!r}")]
    out = [
        (k, f"{k} needs a node set name") for k in ("source", "target") if not isinstance(spec.get(k), str)
    ]
    for key, strict in (("weight", False), ("synapse_delay_override", True), ("spont_minis", False)):
        if key in spec and spec[key] is not None and not _number(spec[key], 0.0, strict):
            out.append((key, f"{key} must be a number {'>' if strict else '>='} 0, got {spec[key]!r}"))
    delay = spec.get("delay", 0)
    if delay is not None and not _number(delay, 0.0, False):
        out.append(("delay", f"delay must be a number >= 0 (ms), got {delay!r}"))
    elif delay:
        if spec.get("weight") is None:
            out.append(
                ("delay", "an override with a delay changes the weight from then on: it needs a weight")
            )
        out += [
            (key, f"{key} cannot act from a time on (SONATA's delay applies to the weight only)")
            for key in ("synapse_delay_override", "synapse_configure", "spont_minis")
            if spec.get(key) is not None
        ]
    configure = spec.get("synapse_configure")
    if configure is not None and not (isinstance(configure, str) and "%s" in configure):
        out.append(("synapse_configure", f"synapse_configure must be hoc code with %s, got {configure!r}"))
    out += [(key, why) for key, why in REFUSED.items() if spec.get(key) is not None]
    return out
