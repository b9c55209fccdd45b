"""The connection manager: applies couplings (set / sum / merge) right after their destination advances.

For a coupling with operator ``M`` (dest space × src space) and transform ``f``:

* ``set``:   ``dest = f(M · src)``
* ``sum``:   ``dest = dest + f(M · src)``
* ``merge``: ``v = M · src + dest − v_prev``; ``v`` is written to the destination and, through the
  operator's write-back ``W`` (e.g. a per-neuron value to all of that neuron's segments), to the
  source; ``v_prev := v``. Both sides evolve the quantity with their own processes; the merge
  adds both deltas. Merges take no transform: ``v`` is written to both sides, so both must hold
  the same unit.

When the source space is rank-local and the destination global (e.g. segment currents into
tets), ``M · src`` is summed over ranks. Excluded neurons are left out: their values in the
destination are kept, and they contribute nothing to global destinations. Destination elements
that the operator maps nothing to (an empty row, e.g. a segment outside the mesh) keep their
own value under ``set`` and ``merge`` rather than receiving 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from multiscale_run.coupling import conversions
from multiscale_run.coupling.transform import Transform, TransformError
from multiscale_run.errors import UserError
from multiscale_run.parallel import Parallel
from multiscale_run.spaces import Space, Variable

if TYPE_CHECKING:
    import scipy.sparse as sp


class Endpoint(Protocol):
    """What a coupling sees of a simulator: named arrays on element spaces (every adapter is one)."""

    def variables(self) -> Mapping[str, Variable]: ...

    def get(self, variable: str) -> np.ndarray: ...

    def set(self, variable: str, values: np.ndarray) -> None: ...


@dataclass(frozen=True)
class Coupling:
    """A coupling as declared in the config (``multiscale_run.couplings[i]``)."""

    name: str
    src: str
    dest: str
    src_variable: str
    dest_variable: str
    operator: str
    action: str
    transform: Transform | None = None
    ndts: int | None = None
    #: (config file, JSON path) of the transform, named when it fails at run time
    origin: tuple[str, str] = ("", "")

    @classmethod
    def from_config(cls, entry: dict, origin: tuple[str, str] = ("", "")) -> Coupling:
        name = (
            entry.get("name")
            or f"{entry['src']}.{entry['src_variable']}->{entry['dest']}.{entry['dest_variable']}"
        )
        text = entry.get("transform", "")
        return cls(
            name=name,
            src=entry["src"],
            dest=entry["dest"],
            src_variable=entry["src_variable"],
            dest_variable=entry["dest_variable"],
            operator=entry["operator"],
            action=entry["action"],
            transform=conversions.transform(text) if text else None,
            ndts=entry.get("ndts"),
            origin=origin,
        )


@dataclass
class _Bound:
    """A coupling with its operators and state, ready to run."""

    coupling: Coupling
    matrix: sp.csr_matrix | None  # None: identity
    writeback: sp.csr_matrix | None  # merge only; None with identity
    src_space: Space
    dest_space: Space
    previous: np.ndarray | None = None  # merge: v_prev
    #: destination elements the operator gives no value (e.g. a segment outside the mesh): they
    #: keep their own value instead of receiving 0
    unmapped: np.ndarray | None = None


class ConnectionManager:
    """Runs the configured couplings between live simulators."""

    def __init__(
        self,
        couplings: list[Coupling],
        simulators: Mapping[str, Endpoint],
        operators: dict[str, sp.csr_matrix | None],
        parallel: Parallel,
    ):
        """``operators`` maps every operator name used (and merge write-backs) to its matrix."""
        from multiscale_run.coupling.operator_specs import OPERATORS

        self.parallel = parallel
        self.simulators = simulators
        self._bound: list[_Bound] = []
        for c in couplings:
            src_var = simulators[c.src].variables()[c.src_variable]
            dest_var = simulators[c.dest].variables()[c.dest_variable]
            matrix = None if c.operator == "identity" else operators[c.operator]
            writeback = None
            if c.action == "merge" and c.operator != "identity":
                writeback = operators[OPERATORS[c.operator].writeback]
            unmapped = None
            if matrix is not None and c.action != "sum":
                import scipy.sparse as sp  # a run without operators does not import it

                unmapped = np.diff(sp.csr_matrix(matrix).indptr) == 0
                unmapped = unmapped if unmapped.any() else None
            self._bound.append(_Bound(c, matrix, writeback, src_var.space, dest_var.space, unmapped=unmapped))
        self._into: dict[str, list[_Bound]] = {}  # by destination, in config order, for the hot loop
        for b in self._bound:
            self._into.setdefault(b.coupling.dest, []).append(b)
        self._excluded: dict[Space, np.ndarray] = {}

    @property
    def couplings(self) -> list[Coupling]:
        return [b.coupling for b in self._bound]

    def exclude(self, neuron_mask: np.ndarray, segment_mask: np.ndarray | None) -> None:
        """Leave these local neurons (and their segments) out of every coupling from now on."""
        self._excluded[Space.NEURON] = np.asarray(neuron_mask, dtype=bool)
        if segment_mask is not None:
            self._excluded[Space.SEGMENT] = np.asarray(segment_mask, dtype=bool)

    def _mapped(self, b: _Bound) -> np.ndarray:
        values = self.simulators[b.coupling.src].get(b.coupling.src_variable)
        mask = self._excluded.get(b.src_space)
        if mask is not None and b.dest_space.is_global and mask.any():
            values = np.where(mask, 0.0, values)
        mapped = values if b.matrix is None else b.matrix @ values
        if b.dest_space.is_global and not b.src_space.is_global:
            mapped = self.parallel.sum(mapped)
        return np.asarray(mapped, dtype=np.float64)

    def _keep_excluded(self, b: _Bound, new: np.ndarray, old: np.ndarray) -> np.ndarray:
        if b.unmapped is not None:
            new = np.where(b.unmapped, old, new)
        mask = self._excluded.get(b.dest_space)
        return np.where(mask, old, new) if mask is not None and mask.any() else new

    def initialize(self) -> None:
        """First exchange at t = 0: merges start as sets (there is no previous value yet)."""
        for b in self._bound:
            if b.coupling.action == "merge":
                dest = self.simulators[b.coupling.dest]
                value = self._keep_excluded(b, self._mapped(b), dest.get(b.coupling.dest_variable))
                dest.set(b.coupling.dest_variable, value)
                b.previous = value

    def run(self, b: _Bound, dest_dt_ms: float) -> None:
        c = b.coupling
        dest = self.simulators[c.dest]
        mapped = self._mapped(b)
        if c.action == "merge":
            current = dest.get(c.dest_variable)
            merged = mapped + current - b.previous
            merged = self._keep_excluded(b, merged, current)
            dest.set(c.dest_variable, merged)
            src = self.simulators[c.src]
            back = np.asarray(merged if b.writeback is None else b.writeback @ merged)
            mask = self._excluded.get(b.src_space)
            if mask is not None and mask.any():  # excluded neurons' segments keep their values
                back = np.where(mask, src.get(c.src_variable), back)
            src.set(c.src_variable, back)
            b.previous = merged
            return
        if c.transform is not None:
            try:
                mapped = c.transform(vals=mapped, dt_ms=dest_dt_ms)
            except TransformError as exc:
                raise UserError(f"coupling {c.name!r}: {exc}", *c.origin) from None
        if c.action == "set" and not self._needs_current(b):
            dest.set(c.dest_variable, mapped)
            return
        current = dest.get(c.dest_variable)
        new = mapped if c.action == "set" else current + mapped
        dest.set(c.dest_variable, self._keep_excluded(b, new, current))

    def _needs_current(self, b: _Bound) -> bool:
        """Whether some destination elements keep their value (unmapped or excluded)."""
        mask = self._excluded.get(b.dest_space)
        return b.unmapped is not None or (mask is not None and bool(mask.any()))

    def save_state(self) -> dict[str, np.ndarray]:
        """Each merge's previous value (``v_prev``), by the coupling's position in the config."""
        bound = enumerate(self._bound)
        return {f"{i}/previous": b.previous.copy() for i, b in bound if b.previous is not None}

    def restore_state(self, state: dict[str, np.ndarray]) -> None:
        for i, b in enumerate(self._bound):
            if f"{i}/previous" in state:
                b.previous = state[f"{i}/previous"].copy()

    def couples(self, name: str) -> bool:
        """Whether a coupling reads from or writes into simulator ``name``."""
        return any(name in (b.coupling.src, b.coupling.dest) for b in self._bound)

    def due(self, dest: str, step_index: int) -> list[_Bound]:
        """Couplings into ``dest`` that run at base-step index ``step_index`` (in units of run.dt)."""
        into = self._into.get(dest, ())
        return [b for b in into if b.coupling.ndts is None or step_index % b.coupling.ndts == 0]
