"""One rank's whole run state, taken at a base step and put back into a freshly set-up run.

The state is named arrays under prefixes: ``clock/`` (base step, time), ``sim/<name>/`` (each
simulator's :meth:`~multiscale_run.simulators.base.Simulator.save_state`), ``couplings/`` (merge
values), ``checks/`` (excluded neurons) and ``reports/`` (frames on disk per report; the soma
samples not yet written are NEURON's state). :class:`Checkpointer` decides when the run takes one.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from multiscale_run.checkpoints.compat import circuit_fingerprint
from multiscale_run.checkpoints.settings import CheckpointSettings
from multiscale_run.checkpoints.store import CHECKPOINT_DIR, write_snapshot
from multiscale_run.interrupt import AGREE_EVERY
from multiscale_run.provenance import now
from multiscale_run.simulators.base import checkpointable

if TYPE_CHECKING:
    from multiscale_run.simulation import Simulation

log = logging.getLogger(__name__)


def _prefixed(prefix: str, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {f"{prefix}{key}": value for key, value in state.items()}


def part(state: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The entries under ``prefix``, without it."""
    return {key.removeprefix(prefix): value for key, value in state.items() if key.startswith(prefix)}


def capture(sim: Simulation, step: int) -> dict[str, np.ndarray]:
    """This rank's state after base step ``step`` (collective: the reports are flushed)."""
    state = {"clock/step": np.int64(step), "clock/t_ms": np.float64(sim.t_ms)}
    for name, simulator in sim.simulators.items():
        state |= _prefixed(f"sim/{name}/", simulator.save_state())
    state |= _prefixed("couplings/", sim.manager.save_state())
    state |= _prefixed("checks/", sim.guard.save_state())
    state |= _prefixed("reports/", sim.reports.save_state())
    return state


def restore(sim: Simulation, state: dict[str, np.ndarray]) -> int:
    """Put a captured state back into ``sim`` (set up, reports not yet built); returns its step."""
    for name, simulator in sim.simulators.items():
        simulator.restore_state(part(state, f"sim/{name}/"))
    sim.manager.restore_state(part(state, "couplings/"))
    sim.guard.restore_state(part(state, "checks/"))
    if sim.guard.excluded.any():
        sim.manager.exclude(sim.guard.excluded, sim.guard.excluded_segments)
    sim.t_ms = float(state["clock/t_ms"])
    return int(state["clock/step"])


class Checkpointer:
    """Takes the run's snapshots when they are due (every rank decides alike)."""

    def __init__(self, settings: CheckpointSettings, sim: Simulation):
        self.settings = settings
        self.sim = sim
        self.root = Path(sim.config.output_dir) / CHECKPOINT_DIR
        self._wall_mark = time.monotonic()
        self._circuit: dict[str, str] | None = None
        self.last: Path | None = None
        self.last_step = sim.start_step if sim.start_step else None
        # a run with a simulator that cannot save its state takes no snapshot (msr check warns)
        self.able = all(checkpointable(s) for s in sim.simulators.values())

    def after_step(self, step: int, t_prev_ms: float, t_ms: float) -> None:
        if self.settings.due_by_time(t_prev_ms, t_ms) or self._due_by_wall(step):
            self.take(step)

    def _due_by_wall(self, step: int) -> bool:
        minutes = self.settings.every_minutes
        if not minutes:
            return False
        parallel = self.sim.parallel
        if parallel.size > 1 and step % AGREE_EVERY:
            return False  # ranks agree on rank 0's clock every AGREE_EVERY steps only
        due = time.monotonic() - self._wall_mark >= 60.0 * minutes
        return bool(parallel.bcast(due)) if parallel.size > 1 else due

    def take(self, step: int) -> Path | None:
        """Write a snapshot of the run as it is after base step ``step`` (collective)."""
        if not self.able:
            return None
        sim = self.sim
        with sim.timings.measure("checkpoint:write"):
            state = capture(sim, step)
            if self._circuit is None and sim.parallel.is_root:
                self._circuit = circuit_fingerprint(sim.config)
            manifest = {
                "t_ms": sim.t_ms,
                "created": now(),
                "base_dir": str(sim.config.base_dir),
                "config_sha256": sim.record.config_sha256,
                "versions": sim.record.versions,
                "circuit": self._circuit,
            }
            self.last = write_snapshot(
                self.root, step, state, manifest, sim.config.data, sim.parallel, self.settings.keep
            )
        self._wall_mark = time.monotonic()
        self.last_step = step
        return self.last
