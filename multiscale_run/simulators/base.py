"""The contract every simulator adapter follows.

An adapter hides its library (nothing outside it imports ``neuron``, ``steps``, ``petsc4py`` or
the ODE backend). Values live on an *element space*:

* ``segment`` – the NEURON segments of this rank's cells (rank-local), in one fixed order;
* ``neuron``  – this rank's cells (rank-local), in ascending gid order;
* ``tet``     – every tetrahedron of the extracellular mesh (global, identical on all ranks);
* ``vessel``  – every vessel segment of the vasculature graph (global, identical on all ranks).

Couplings move values between spaces through sparse operators (see :mod:`multiscale_run.coupling`).
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


class Space(str, enum.Enum):
    SEGMENT = "segment"
    NEURON = "neuron"
    TET = "tet"
    VESSEL = "vessel"

    @property
    def is_global(self) -> bool:
        """Global spaces hold the same full vector on every rank; local ones only this rank's part."""
        return self in (Space.TET, Space.VESSEL)


@dataclass(frozen=True)
class Variable:
    """A quantity an adapter exposes: the space it lives on, its unit, whether it can be set."""

    name: str
    space: Space
    unit: str
    writable: bool = True
    description: str = ""


@dataclass(frozen=True)
class SegmentGeometry:
    """Geometry of this rank's NEURON segments, in the adapter's fixed local segment order.

    Lengths in µm, areas in µm², volumes in µm³. ``neuron_index[i]`` is the local index (into
    ``gids``) of the cell that owns segment ``i``.
    """

    start_um: np.ndarray  # (n_seg, 3)
    end_um: np.ndarray  # (n_seg, 3)
    area_um2: np.ndarray  # (n_seg,)
    volume_um3: np.ndarray  # (n_seg,)
    neuron_index: np.ndarray  # (n_seg,) int
    gids: np.ndarray  # (n_local_cells,) node ids (0-based SONATA node ids) in ascending order


@dataclass(frozen=True)
class TetGeometry:
    """The extracellular mesh: vertices in µm, tets as vertex indices, volumes in µm³."""

    vertices_um: np.ndarray  # (n_vert, 3)
    tets: np.ndarray  # (n_tet, 4) int
    volume_um3: np.ndarray  # (n_tet,)


@dataclass(frozen=True)
class VesselGeometry:
    """Vessel segments of the vasculature graph: end points in µm and radii in µm."""

    start_um: np.ndarray  # (n_vessel, 3)
    end_um: np.ndarray  # (n_vessel, 3)
    radius_um: np.ndarray  # (n_vessel,)


class Simulator(ABC):
    """One simulator of the co-simulation, seen by the orchestrator."""

    #: the simulator's name in the config (``neuron``, ``steps``, ``bloodflow``, ``metabolism``)
    name: str

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
