"""The shared words of the runtime: element spaces, variables and the geometries of each space.

Everything may import this module; it imports nothing of the package. Values live on an
*element space*:

* ``segment`` – the NEURON segments of this rank's cells (rank-local), in one fixed order;
* ``neuron``  – this rank's cells (rank-local), in ascending gid order (``multiscale_run.nodes``);
* ``tet``     – every tetrahedron of the extracellular mesh (global, identical on all ranks);
* ``vessel``  – every vessel segment of the vasculature graph (global, identical on all ranks);
* ``endfoot`` – every astrocytic endfoot of the NGV circuit, in endfoot edge order (global).

A variable's *kind* says how it behaves when elements are merged or split (preCICE's
consistent/conservative constraint, ``src/mapping/Mapping.hpp``): an *intensive* quantity
(a concentration, a potential, a current density) is averaged, an *extensive* one (molecules, a
current in nA, a volume, a flow) is summed or distributed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np


class Space(str, enum.Enum):
    SEGMENT = "segment"
    NEURON = "neuron"
    TET = "tet"
    VESSEL = "vessel"
    ENDFOOT = "endfoot"

    @property
    def is_global(self) -> bool:
        """Global spaces hold the same full vector on every rank; local ones only this rank's part."""
        return self in (Space.TET, Space.VESSEL, Space.ENDFOOT)


class Kind(str, enum.Enum):
    """How a quantity maps between spaces: averaged (intensive) or summed (extensive)."""

    INTENSIVE = "intensive"
    EXTENSIVE = "extensive"


@dataclass(frozen=True)
class Variable:
    """A quantity an adapter exposes: the space it lives on, its unit, whether it can be set."""

    name: str
    space: Space
    unit: str
    writable: bool = True
    description: str = ""
    kind: Kind = Kind.INTENSIVE


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
    gids: np.ndarray  # (n_local_cells,) gids (multiscale_run.nodes: the node ids of one population) ascending


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


@dataclass(frozen=True)
class EndfootGeometry:
    """The astrocytic endfeet, in endfoot edge order: where each touches its vessel's wall (µm),
    the vessel segment it sits on (vasculature node id), the soma centre of its astrocyte (µm) and
    that astrocyte's territory radius (µm, the sphere standing for its microdomain)."""

    surface_um: np.ndarray  # (n_endfoot, 3)
    vessel_segment: np.ndarray  # (n_endfoot,) int
    astrocyte_um: np.ndarray  # (n_endfoot, 3)
    territory_radius_um: np.ndarray  # (n_endfoot,)
    n_vessels: int
