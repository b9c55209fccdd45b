"""Value checks: per-variable bounds with a response (exclude the neuron, or abort the run).

Bounds follow the config keys: ``lb`` (v > lb), ``leb`` (v >= leb), ``hb`` (v < hb), ``heb``
(v <= heb). NaN and Inf always fail. A failing element on the segment or neuron space names
its neuron; on the global tet or vessel spaces there is no neuron to exclude, so any failure
there aborts.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass

import numpy as np

from multiscale_run.errors import SimulationAborted
from multiscale_run.spaces import Space

log = logging.getLogger(__name__)


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
    name_of=None,
) -> tuple[list[Exclusion], str | None]:
    """Apply one check to a variable's values on this rank.

    ``already`` marks local neurons excluded before (they are not checked again); ``name_of``
    names a neuron by its id in an abort message (``neuron <id>`` without it). Returns the new
    exclusions and, for an abort, a message.
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
            (name_of or _neuron)(int(node_ids[neuron_index[first]]))
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


def _neuron(node_id: int) -> str:
    return f"neuron {node_id}"


class ValueGuard:
    """The configured checks of a run on this rank, by simulator, and the neurons excluded so far.

    ``node_ids`` are this rank's neurons, ``neuron_of_segment`` the owner of each local segment
    (``None`` without NEURON), ``name_of`` how a message names a neuron by its id (e.g.
    ``population P node N`` for a gid; ``neuron <id>`` without it).
    """

    def __init__(
        self, entries: list[dict], node_ids: np.ndarray, neuron_of_segment: np.ndarray | None, name_of=None
    ):
        self.node_ids = node_ids
        self.name_of = name_of or _neuron
        self.neuron_of_segment = neuron_of_segment
        self.excluded = np.zeros(len(node_ids), dtype=bool)
        self.exclusions: list[Exclusion] = []
        self._checks_of: dict[str, list[ValueCheck]] = {}  # by simulator, for the hot loop
        for entry in entries:
            chk = ValueCheck.from_config(entry)
            self._checks_of.setdefault(chk.simulator, []).append(chk)

    def watches(self, name: str) -> bool:
        """Whether simulator ``name`` has value checks."""
        return name in self._checks_of

    def check(self, name: str, sim, t_ms: float, parallel) -> np.ndarray | None:
        """Check simulator ``name`` after it advanced (collective when it has checks).

        Raises :class:`SimulationAborted` on every rank when any rank's abort check failed; returns
        the local indices of newly excluded neurons, or ``None``.
        """
        checks = self._checks_of.get(name)
        if not checks:  # no collective either: nothing to agree on
            return None
        abort = None
        new: list[Exclusion] = []
        for chk in checks:
            var = sim.variables()[chk.variable]
            found, message = evaluate(
                chk,
                sim.get(chk.variable),
                var.space,
                t_ms,
                self.node_ids,
                self.neuron_of_segment,
                self.excluded,
                self.name_of,
            )
            new.extend(found)
            abort = abort or message
        if parallel.any(abort is not None):
            messages = [m for m in parallel.allgather(abort) if m]
            raise SimulationAborted(messages[0])
        if not new:
            return None
        local = np.flatnonzero(np.isin(self.node_ids, [e.node_id for e in new]))
        self.excluded[local] = True
        for e in new:
            log.warning(
                "excluding %s at t=%g ms: %s.%s = %g (%s)",
                self.name_of(e.node_id),
                e.time_ms,
                e.simulator,
                e.variable,
                e.value,
                e.reason,
            )
        self.exclusions.extend(new)
        return local

    def save_state(self) -> dict[str, np.ndarray]:
        """The excluded neurons and the record of each exclusion."""
        rows = [asdict(e) for e in self.exclusions]
        return {"excluded": self.excluded.copy(), "exclusions": np.array(json.dumps(rows))}

    def restore_state(self, state: dict[str, np.ndarray]) -> None:
        self.excluded = state["excluded"].copy()
        self.exclusions = [Exclusion(**row) for row in json.loads(str(state["exclusions"]))]

    @property
    def excluded_segments(self) -> np.ndarray | None:
        return None if self.neuron_of_segment is None else self.excluded[self.neuron_of_segment]
