"""The contract every simulator adapter follows, and the capabilities an adapter may declare.

An adapter hides its library (nothing outside it imports ``neuron``, ``steps``, ``petsc4py`` or
the ODE backend) and exposes variables on element spaces (:mod:`multiscale_run.spaces`).
Beyond the contract, an adapter offers *capabilities*: small protocols it declares in its
:class:`~multiscale_run.simulators.catalogue.SimulatorSpec` (``provides``) and that the run looks
up by protocol, never by method name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol, runtime_checkable

import numpy as np

from multiscale_run.spaces import EndfootGeometry, SegmentGeometry, TetGeometry, Variable, VesselGeometry


class Simulator(ABC):
    """One simulator of the co-simulation, seen by the orchestrator."""

    #: the simulator's name in the config (its catalogue entry's name)
    name: str
    #: whether ``advance`` may cover several of its own steps in one call, with the same result
    #: as one call per step (a run with nothing else to do in between then advances it in
    #: stretches: :meth:`multiscale_run.simulation.Simulation.run`)
    multistep_advance: bool = False

    @property
    @abstractmethod
    def dt_ms(self) -> float:
        """The simulator's own step in ms (``ndts * run.dt``)."""

    @abstractmethod
    def variables(self) -> dict[str, Variable]:
        """Every variable this simulator can get (and, if writable, set), by name."""

    @abstractmethod
    def advance(self, t_ms: float) -> None:
        """Advance the simulator's state up to simulated time ``t_ms``."""

    @abstractmethod
    def get(self, variable: str) -> np.ndarray:
        """Current values of ``variable`` on its space, as a float64 array (a copy)."""

    @abstractmethod
    def set(self, variable: str, values: np.ndarray) -> None:
        """Overwrite ``variable`` on its space with ``values``."""

    def exclude(self, local_neuron_indices: np.ndarray) -> None:  # noqa: B027 - optional hook
        """Decouple these local neurons (value checks with response ``exclude_neuron``).

        Simulators without per-neuron state ignore it.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources at the end of a run."""

    def save_state(self) -> dict[str, np.ndarray]:
        """This rank's whole dynamic state as named arrays, for a snapshot
        (:mod:`multiscale_run.checkpoints`): restoring it into a freshly built adapter of the same
        config and rank continues the run exactly as if it had not stopped."""
        raise NotImplementedError(f"simulator {self.name!r} cannot be checkpointed")

    def restore_state(self, state: dict[str, np.ndarray]) -> None:
        """Put back what :meth:`save_state` returned, into an adapter just built from the same
        config on the same rank (its set-up state is overwritten)."""
        raise NotImplementedError(f"simulator {self.name!r} cannot be checkpointed")


def checkpointable(adapter: type[Simulator] | Simulator) -> bool:
    """Whether an adapter (class or instance) implements :meth:`Simulator.save_state`."""
    cls = adapter if isinstance(adapter, type) else type(adapter)
    return cls.save_state is not Simulator.save_state and cls.restore_state is not Simulator.restore_state


# --- capabilities ------------------------------------------------------------------------------
@runtime_checkable
class SegmentGeometrySource(Protocol):
    """Owns the ``segment`` space: its geometry (and the local cells, ``gids``)."""

    def segment_geometry(self) -> SegmentGeometry: ...


@runtime_checkable
class TetGeometrySource(Protocol):
    """Owns the ``tet`` space: the extracellular mesh."""

    def tet_geometry(self) -> TetGeometry: ...


@runtime_checkable
class VesselGeometrySource(Protocol):
    """Owns the ``vessel`` space: the vessel segments."""

    def vessel_geometry(self) -> VesselGeometry: ...


@runtime_checkable
class EndfootGeometrySource(Protocol):
    """Owns the ``endfoot`` space: the astrocytic endfeet on the vessels."""

    def endfoot_geometry(self) -> EndfootGeometry: ...


@runtime_checkable
class SpikeSource(Protocol):
    """Emits spikes of this rank's cells: ``(node ids, times ms)`` in emission order."""

    def spikes(self) -> tuple[np.ndarray, np.ndarray]: ...


@runtime_checkable
class SomaSampler(Protocol):
    """Records soma values itself, every step (``msr`` reports with operator ``soma``).

    ``soma_samples(report)`` returns the record of the named report, a
    :class:`~multiscale_run.simulators.neuron.soma_samples.SomaSamples`.
    """

    def soma_samples(self, report: str): ...


#: What each geometry capability hands to the simulators built after it (``SimulatorSpec.needs``).
PRODUCTS = {
    "segment_geometry": SegmentGeometrySource,
    "tet_geometry": TetGeometrySource,
    "vessel_geometry": VesselGeometrySource,
    "endfoot_geometry": EndfootGeometrySource,
}
