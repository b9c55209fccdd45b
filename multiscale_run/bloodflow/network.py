"""The vessel graph: segments (SONATA vasculature nodes) joined at graph nodes.

In a SONATA vasculature population each *node* of the population is one vessel **segment** (an
edge of the vascular skeleton) with attributes ``start_x/y/z``, ``end_x/y/z`` (µm),
``start_diameter``, ``end_diameter`` (µm), ``start_node``, ``end_node`` (skeleton point ids),
``type``, ``section_id`` and ``segment_id`` (SONATA extension, "Fields for vasculature
population", BlueBrain/sonata-extension ``sonata_tech.rst``). The vessel ``type`` codes are
1 vein, 2 artery, 3 venule, 4 arteriole, 5 venous capillary, 6 arterial capillary,
7 transitional.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class VesselType(enum.IntEnum):
    """SONATA vasculature ``type`` codes."""

    VEIN = 1
    ARTERY = 2
    VENULE = 3
    ARTERIOLE = 4
    VENOUS_CAPILLARY = 5
    ARTERIAL_CAPILLARY = 6
    TRANSITIONAL = 7


#: vessel types whose dead ends are blood inlets / outlets of the modelled volume
ARTERIAL_TYPES = (int(VesselType.ARTERY), int(VesselType.ARTERIOLE))
VENOUS_TYPES = (int(VesselType.VEIN), int(VesselType.VENULE))

#: segments shorter than this (µm) are lengthened to it, so a duplicated skeleton point does not
#: give an infinite conductance and a singular system
MIN_LENGTH_UM = 1e-3


@dataclass(frozen=True)
class VascularNetwork:
    """Vessel segments as edges ``start_node -> end_node`` of a graph with ``n_nodes`` nodes.

    Each segment is modelled as a cylinder whose radius is the mean of its end radii
    (``radius_um``), of length ``|end_um - start_um|``.
    """

    start_node: np.ndarray  # (n_seg,) int64, graph node ids in [0, n_nodes)
    end_node: np.ndarray  # (n_seg,) int64
    start_um: np.ndarray  # (n_seg, 3) float64
    end_um: np.ndarray  # (n_seg, 3) float64
    radius_um: np.ndarray  # (n_seg,) float64
    vessel_type: np.ndarray  # (n_seg,) int32, VesselType codes (0 = unknown)
    n_nodes: int

    @classmethod
    def from_arrays(
        cls,
        start_node,
        end_node,
        start_um,
        end_um,
        radius_um,
        vessel_type=None,
        n_nodes: int | None = None,
    ) -> VascularNetwork:
        """Validate and normalise plain arrays into a network (radii must be > 0)."""
        start_node = np.asarray(start_node, dtype=np.int64).ravel()
        end_node = np.asarray(end_node, dtype=np.int64).ravel()
        n_seg = start_node.size
        start_um = np.asarray(start_um, dtype=np.float64).reshape(n_seg, 3)
        end_um = np.asarray(end_um, dtype=np.float64).reshape(n_seg, 3)
        radius_um = np.broadcast_to(np.asarray(radius_um, dtype=np.float64), (n_seg,)).copy()
        if vessel_type is None:
            vessel_type = np.zeros(n_seg, dtype=np.int32)
        vessel_type = np.broadcast_to(np.asarray(vessel_type, dtype=np.int32), (n_seg,)).copy()
        if end_node.size != n_seg:
            raise ValueError("start_node and end_node must have the same length")
        if n_seg and (start_node.min() < 0 or end_node.min() < 0):
            raise ValueError("graph node ids must be >= 0")
        needed = int(max(start_node.max(initial=-1), end_node.max(initial=-1)) + 1)
        n_nodes = needed if n_nodes is None else int(n_nodes)
        if n_nodes < needed:
            raise ValueError(f"n_nodes={n_nodes} but node ids go up to {needed - 1}")
        if np.any(start_node == end_node):
            raise ValueError(
                f"{int(np.sum(start_node == end_node))} segment(s) start and end at the same node"
            )
        if not np.all(np.isfinite(radius_um)) or np.any(radius_um <= 0):
            raise ValueError("every vessel radius must be finite and > 0 µm")
        return cls(start_node, end_node, start_um, end_um, radius_um, vessel_type, n_nodes)

    @property
    def n_segments(self) -> int:
        return int(self.start_node.size)

    @property
    def length_um(self) -> np.ndarray:
        """Segment lengths in µm (at least :data:`MIN_LENGTH_UM`)."""
        return np.maximum(np.linalg.norm(self.end_um - self.start_um, axis=1), MIN_LENGTH_UM)

    def volume_um3(self, radius_um: np.ndarray | None = None) -> np.ndarray:
        """Lumen volume π r² L of each segment in µm³."""
        r = self.radius_um if radius_um is None else radius_um
        return np.pi * r**2 * self.length_um

    def degree(self) -> np.ndarray:
        """Number of segments meeting at each graph node."""
        return np.bincount(np.concatenate([self.start_node, self.end_node]), minlength=self.n_nodes)

    def terminal_nodes(self) -> tuple[np.ndarray, np.ndarray]:
        """Dead-end nodes (degree 1) and, for each, the index of its only segment."""
        deg = self.degree()
        ends = np.concatenate([self.start_node, self.end_node])
        seg = np.concatenate([np.arange(self.n_segments), np.arange(self.n_segments)])
        mask = deg[ends] == 1
        order = np.argsort(ends[mask], kind="stable")
        return ends[mask][order], seg[mask][order]

    def detect_entries_exits(self) -> tuple[np.ndarray, np.ndarray]:
        """Entry (arterial) and exit (venous) nodes: dead ends of artery/arteriole segments and of
        vein/venule segments. Capillary dead ends are closed (no flux)."""
        nodes, segs = self.terminal_nodes()
        kind = self.vessel_type[segs]
        return nodes[np.isin(kind, ARTERIAL_TYPES)], nodes[np.isin(kind, VENOUS_TYPES)]


def read_sonata_vasculature(nodes_file: str | Path, population: str = "vasculature") -> VascularNetwork:
    """Read a SONATA vasculature node population with libsonata.

    Graph node ids are the skeleton ids ``start_node``/``end_node``; the radius is the mean of the
    ``start_diameter``/``end_diameter`` halves.
    """
    import libsonata

    storage = libsonata.NodeStorage(str(nodes_file))
    if population not in storage.population_names:
        raise ValueError(
            f"{nodes_file}: no node population {population!r} (found {sorted(storage.population_names)})"
        )
    pop = storage.open_population(population)
    sel = pop.select_all()

    def attr(name: str) -> np.ndarray:
        return np.asarray(pop.get_attribute(name, sel))

    start = np.column_stack([attr(f"start_{a}") for a in "xyz"])
    end = np.column_stack([attr(f"end_{a}") for a in "xyz"])
    radius = 0.25 * (attr("start_diameter").astype(np.float64) + attr("end_diameter"))
    vtype = attr("type") if "type" in pop.attribute_names else None
    return VascularNetwork.from_arrays(attr("start_node"), attr("end_node"), start, end, radius, vtype)


def lattice_edges(index: np.ndarray) -> np.ndarray:
    """The edges between neighbours along each axis of a 3-D grid whose node numbers are
    ``index`` (shape ``(nx, ny, nz)``): an ``(E, 2)`` array, the x edges first, then y, then z."""
    pairs = []
    for a in range(3):
        head = [slice(None)] * 3
        tail = [slice(None)] * 3
        head[a], tail[a] = slice(None, -1), slice(1, None)
        pairs.append(np.column_stack([index[tuple(head)].ravel(), index[tuple(tail)].ravel()]))
    return np.concatenate(pairs)
