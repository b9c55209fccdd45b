"""Value checks: per-variable bounds with a response (exclude the neuron, or abort the run).

Bounds follow the config keys: ``lb`` (v > lb), ``leb`` (v >= leb), ``hb`` (v < hb), ``heb``
(v <= heb). NaN and Inf always fail. A failing element on the segment or neuron space names
its neuron; on the global tet or vessel spaces there is no neuron to exclude, so any failure
there aborts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multiscale_run.spaces import Space


@dataclass(frozen=True)
class ValueCheck:
    simulator: str
    variable: str
    response: str  # "exclude_neuron" | "abort"
    lb: float | None = None
    leb: float | None = None
    hb: float | None = None
    heb: float | None = None

    @classmethod
    def from_config(cls, entry: dict) -> ValueCheck:
        return cls(
            **{k: entry.get(k) for k in ("simulator", "variable", "response", "lb", "leb", "hb", "heb")}
        )

    def failing(self, values: np.ndarray) -> np.ndarray:
        """Boolean mask of the values that break the bounds (or are not finite)."""
        bad = ~np.isfinite(values)
        with np.errstate(invalid="ignore"):
            if self.lb is not None:
                bad |= ~(values > self.lb)
            if self.leb is not None:
                bad |= ~(values >= self.leb)
            if self.hb is not None:
                bad |= ~(values < self.hb)
            if self.heb is not None:
                bad |= ~(values <= self.heb)
        return bad

    def reason(self, value: float) -> str:
        if not np.isfinite(value):
            return "not finite"
        parts = []
        if self.lb is not None and not value > self.lb:
            parts.append(f"<= lb {self.lb:g}")
        if self.leb is not None and not value >= self.leb:
            parts.append(f"< leb {self.leb:g}")
        if self.hb is not None and not value < self.hb:
            parts.append(f">= hb {self.hb:g}")
        if self.heb is not None and not value <= self.heb:
            parts.append(f"> heb {self.heb:g}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Exclusion:
    """A neuron decoupled by a value check (one row of excluded_neurons.csv)."""

    node_id: int
    time_ms: float
    simulator: str
    variable: str
    value: float
    reason: str


def evaluate(
    check: ValueCheck,
    values: np.ndarray,
    space: Space,
    t_ms: float,
    node_ids: np.ndarray,
    neuron_of_segment: np.ndarray | None,
    already: np.ndarray,
) -> tuple[list[Exclusion], str | None]:
    """Apply one check to a variable's values on this rank.

    ``already`` marks local neurons excluded before (they are not checked again). Returns the
    new exclusions and, for an abort, a message.
    """
    bad = check.failing(np.asarray(values, dtype=np.float64))
    if space is Space.SEGMENT and neuron_of_segment is not None:
        bad &= ~already[neuron_of_segment]
        neuron_index = neuron_of_segment
    elif space is Space.NEURON:
        bad &= ~already
        neuron_index = np.arange(len(values))
    else:
        neuron_index = None
    if not bad.any():
        return [], None
    first = int(np.flatnonzero(bad)[0])
    value = float(values[first])
    if check.response == "abort" or neuron_index is None:
        where = (
            f"neuron {int(node_ids[neuron_index[first]])}"
            if neuron_index is not None
            else f"{space.value} {first}"
        )
        return [], (
            f"value check failed at t={t_ms:g} ms: {check.simulator}.{check.variable} = {value:g} "
            f"({check.reason(value)}) on {where}"
        )
    exclusions = []
    for local in np.unique(neuron_index[bad]):
        element = int(np.flatnonzero(bad & (neuron_index == local))[0])
        v = float(values[element])
        exclusions.append(
            Exclusion(int(node_ids[local]), t_ms, check.simulator, check.variable, v, check.reason(v))
        )
    return exclusions, None
