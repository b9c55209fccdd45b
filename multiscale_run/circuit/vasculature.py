"""A generated vascular network for the default circuit, written as a SONATA vasculature population.

The network spans the column's bounding box like a cortical microvascular unit (Blinder et al.
2013, Nat Neurosci 16:889–897: penetrating arterioles and venules descend from the pial surface
and are joined through a looped capillary bed of ~40 µm mesh size and ~4–5 µm diameter):

* penetrating arterioles (inlets) start on the top face of the box and descend along the column
  axis, tapering from 12 to 7 µm diameter;
* penetrating venules (outlets, 16 → 9 µm) rise back to the top face;
* at each depth level both connect, through a short arterial or venous capillary, to the nearest
  node of a jittered 3-D capillary lattice, thinned to a random spanning tree plus half of the
  remaining lattice edges (so the bed has loops but stays connected); capillary nodes have
  diameters of N(4.5, 0.5) µm clipped to 3.5–6 µm.

Every graph node has **one** diameter, so ``start_diameter``/``end_diameter`` of all segments
meeting at a node agree: readers that key diameters by skeleton point (vascpy's
``PointVasculature``, AstroVascPy) see the same network as the per-segment SONATA attributes. A
segment tapers linearly between its two nodes; a capillary link from a penetrating vessel
therefore tapers from the vessel's diameter at its depth to the capillary node's.

Each vessel segment is one SONATA node with ``start_x/y/z``, ``end_x/y/z``, ``start_diameter``,
``end_diameter`` (µm), ``start_node``/``end_node`` (graph node ids), ``type`` (SONATA codes:
4 arteriole, 3 venule, 6 arterial capillary, 5 venous capillary), ``section_id``, ``segment_id``
and ``model_type`` = ``vasculature``. Every segment is its own section (sections end at branch
points, and every penetrating-vessel node is one).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import h5py
import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph

from multiscale_run.bloodflow.network import VesselType
from multiscale_run.bloodflow.network import lattice_edges as grid_edges

log = logging.getLogger(__name__)

NODES_FILE = "vasculature.h5"
MORPHOLOGY_FILE = "vasculature_morphology.h5"
MESH_FILE = "vasculature_mesh.obj"


def _penetrating_positions(
    rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray, lateral: list[int], count: int
) -> np.ndarray:
    """``count`` lateral (2-D) positions inside the middle 80 % of the column's footprint."""
    span = hi[lateral] - lo[lateral]
    return lo[lateral] + span * (0.1 + 0.8 * rng.random((count, 2)))


def generate_network(
    bbox_um: tuple[np.ndarray, np.ndarray],
    seed: int = 1,
    axis: int = 1,
    capillary_spacing_um: float = 40.0,
    penetrating_spacing_um: float = 150.0,
) -> dict[str, np.ndarray]:
    """The network as SONATA attribute arrays (one entry per segment) plus ``entry_nodes`` and
    ``exit_nodes`` (graph node ids of the inlets and outlets on the top face, ``axis`` pointing up).
    """
    lo = np.asarray(bbox_um[0], dtype=np.float64)
    hi = np.asarray(bbox_um[1], dtype=np.float64)
    if lo.shape != (3,) or hi.shape != (3,) or np.any(hi <= lo):
        raise ValueError(f"bbox_um must be two 3-vectors with min < max, got {lo}, {hi}")
    rng = np.random.default_rng(seed)
    lateral = [a for a in range(3) if a != axis]
    extent = hi - lo

    # --- capillary lattice --------------------------------------------------------------------
    shape = np.maximum(2, np.ceil(extent / capillary_spacing_um).astype(int))
    cell = extent / shape
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), axis=-1).reshape(-1, 3)
    lattice_xyz = lo + (grid + 0.5) * cell + rng.uniform(-0.2, 0.2, grid.shape) * cell
    index = np.arange(grid.shape[0]).reshape(shape)
    lattice_edges = grid_edges(index)
    n_lat = grid.shape[0]
    weights = sp.coo_matrix(
        (rng.random(len(lattice_edges)) + 1e-3, (lattice_edges[:, 0], lattice_edges[:, 1])),
        shape=(n_lat, n_lat),
    )
    tree = csgraph.minimum_spanning_tree(weights.tocsr()).tocoo()
    # keep the spanning tree (so the bed stays connected) and half of the other edges (loops)
    key = lattice_edges[:, 0] * n_lat + lattice_edges[:, 1]
    tree_keys = np.concatenate([tree.row * n_lat + tree.col, tree.col * n_lat + tree.row])
    keep = np.isin(key, tree_keys) | (rng.random(len(lattice_edges)) < 0.5)
    lattice_edges = lattice_edges[keep]

    # --- penetrating vessels ------------------------------------------------------------------
    footprint = float(np.prod(extent[lateral]))
    n_pen = max(1, round(footprint / penetrating_spacing_um**2))
    levels = np.unique(grid[:, axis])
    level_height = lo[axis] + (levels + 0.5) * cell[axis]
    # lattice nodes of each depth level, deepest level last (the order the chains descend in)
    by_level = [np.flatnonzero(grid[:, axis] == level) for level in levels[::-1]]

    xyz = [lattice_xyz]
    node_diameter = [np.clip(rng.normal(4.5, 0.5, n_lat), 3.5, 6.0)]
    # capillary kind (0 for now) is decided below, from the nearest penetrating vessel
    start, end = [lattice_edges[:, 0]], [lattice_edges[:, 1]]
    vtype = [np.zeros(len(lattice_edges), dtype=np.int32)]

    next_id = n_lat
    entries, exits = [], []
    axes_xy = {}
    for kind, top_d, bottom_d, link_kind in (
        (VesselType.ARTERIOLE, 12.0, 7.0, VesselType.ARTERIAL_CAPILLARY),
        (VesselType.VENULE, 16.0, 9.0, VesselType.VENOUS_CAPILLARY),
    ):
        positions = _penetrating_positions(rng, lo, hi, lateral, n_pen)
        axes_xy[kind] = positions
        heights = np.concatenate([[hi[axis]], level_height[::-1]])
        diam = np.interp(heights, [lo[axis], hi[axis]], [bottom_d, top_d])
        for pos in positions:
            chain = np.zeros((heights.size, 3))
            chain[:, lateral[0]], chain[:, lateral[1]] = pos
            chain[:, axis] = heights
            ids = next_id + np.arange(heights.size)
            next_id += heights.size
            xyz.append(chain)
            node_diameter.append(diam)
            # each chain node below the top links to the nearest lattice node of its level
            targets = np.array(
                [
                    nodes[np.argmin(np.linalg.norm(lattice_xyz[nodes][:, lateral] - pos, axis=1))]
                    for nodes in by_level
                ]
            )
            upper, lower = ids[:-1], ids[1:]
            # arterioles carry blood down (top -> deep) and out into the bed; venules the reverse
            if kind == VesselType.ARTERIOLE:
                start += [upper, lower]
                end += [lower, targets]
                entries.append(ids[0])
            else:
                start += [lower, targets]
                end += [upper, lower]
                exits.append(ids[0])
            vtype += [
                np.full(upper.size, int(kind), dtype=np.int32),
                np.full(targets.size, int(link_kind), np.int32),
            ]

    xyz = np.concatenate(xyz)
    start = np.concatenate(start).astype(np.uint64)
    end = np.concatenate(end).astype(np.uint64)
    vtype = np.concatenate(vtype)
    node_diameter = np.concatenate(node_diameter)
    # capillaries nearer an arteriole than a venule are arterial capillaries
    is_cap = vtype == 0
    mid = 0.5 * (xyz[start[is_cap]] + xyz[end[is_cap]])[:, lateral]

    def nearest(points):
        return np.min(np.linalg.norm(mid[:, None, :] - points[None, :, :], axis=2), axis=1)

    arterial = nearest(axes_xy[VesselType.ARTERIOLE]) <= nearest(axes_xy[VesselType.VENULE])
    vtype[is_cap] = np.where(arterial, int(VesselType.ARTERIAL_CAPILLARY), int(VesselType.VENOUS_CAPILLARY))
    n_seg = start.size
    s_xyz, e_xyz = xyz[start], xyz[end]
    return {
        "start_x": s_xyz[:, 0],
        "start_y": s_xyz[:, 1],
        "start_z": s_xyz[:, 2],
        "end_x": e_xyz[:, 0],
        "end_y": e_xyz[:, 1],
        "end_z": e_xyz[:, 2],
        "start_diameter": node_diameter[start],
        "end_diameter": node_diameter[end],
        "start_node": start,
        "end_node": end,
        "type": vtype,
        "section_id": np.arange(n_seg, dtype=np.uint32),
        "segment_id": np.zeros(n_seg, dtype=np.uint32),
        "entry_nodes": np.asarray(entries, dtype=np.int64),
        "exit_nodes": np.asarray(exits, dtype=np.int64),
    }


def write_sonata_vasculature(path: Path, population: str, attributes: dict[str, np.ndarray]) -> None:
    """Write a SONATA node file holding one vasculature population (float32 coordinates as the
    SONATA extension specifies; ``model_type`` through an ``@library`` enumeration)."""
    n = len(attributes["start_node"])
    dtypes = {"start_node": np.uint64, "end_node": np.uint64, "type": np.int32}
    dtypes.update({"section_id": np.uint32, "segment_id": np.uint32})
    with h5py.File(path, "w") as f:
        pop = f.create_group(f"nodes/{population}")
        pop.create_dataset("node_type_id", data=np.full(n, -1, dtype=np.int64))
        pop.create_dataset("node_group_id", data=np.zeros(n, dtype=np.uint32))
        pop.create_dataset("node_group_index", data=np.arange(n, dtype=np.uint64))
        group = pop.create_group("0")
        for name, values in attributes.items():
            if name in ("entry_nodes", "exit_nodes"):
                continue
            group.create_dataset(name, data=np.asarray(values, dtype=dtypes.get(name, np.float32)))
        group.create_dataset("model_type", data=np.zeros(n, dtype=np.uint32))
        group.create_dataset("@library/model_type", data=np.array(["vasculature"], dtype=h5py.string_dtype()))


def write_vasculature_morphology(path: Path, attributes: dict[str, np.ndarray]) -> None:
    """Write the skeleton in the morphio vasculature H5 layout: ``points`` (x, y, z, diameter in
    µm), ``structure`` (first point, section type) and ``connectivity`` (parent, child section):
    section j follows section i when it starts at the node where i ends."""
    n = len(attributes["start_node"])
    start = np.column_stack([attributes[f"start_{a}"] for a in "xyz"] + [attributes["start_diameter"]])
    end = np.column_stack([attributes[f"end_{a}"] for a in "xyz"] + [attributes["end_diameter"]])
    points = np.empty((2 * n, 4))
    points[0::2], points[1::2] = start, end
    structure = np.column_stack([2 * np.arange(n), attributes["type"]]).astype(np.int32)
    first_node = np.asarray(attributes["start_node"], dtype=np.int64)
    last_node = np.asarray(attributes["end_node"], dtype=np.int64)
    order = np.argsort(first_node, kind="stable")
    lo = np.searchsorted(first_node[order], last_node, side="left")
    hi = np.searchsorted(first_node[order], last_node, side="right")
    counts = hi - lo
    parents = np.repeat(np.arange(n), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    children = order[np.repeat(lo, counts) + offsets]
    with h5py.File(path, "w") as f:
        f.create_dataset("points", data=points.astype(np.float32))
        f.create_dataset("structure", data=structure)
        f.create_dataset("connectivity", data=np.column_stack([parents, children]).astype(np.uint32))


def write_vessel_surface_obj(path: Path, attributes: dict[str, np.ndarray], sides: int = 6) -> None:
    """Write a coarse surface of the vessels as a Wavefront OBJ: one open ``sides``-gon prism per
    segment (not watertight at junctions; enough for viewing)."""
    start = np.column_stack([attributes[f"start_{a}"] for a in "xyz"]).astype(np.float64)
    end = np.column_stack([attributes[f"end_{a}"] for a in "xyz"]).astype(np.float64)
    axis = end - start
    axis /= np.maximum(np.linalg.norm(axis, axis=1), 1e-12)[:, None]
    helper = np.where(np.abs(axis[:, [0]]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u, axis=1)[:, None]
    w = np.cross(axis, u)
    angle = 2 * np.pi * np.arange(sides) / sides
    ring = np.cos(angle)[None, :, None] * u[:, None, :] + np.sin(angle)[None, :, None] * w[:, None, :]
    r0 = 0.5 * np.asarray(attributes["start_diameter"], dtype=np.float64)[:, None, None]
    r1 = 0.5 * np.asarray(attributes["end_diameter"], dtype=np.float64)[:, None, None]
    verts = np.concatenate([start[:, None, :] + r0 * ring, end[:, None, :] + r1 * ring], axis=1)
    n = len(start)
    base = (np.arange(n) * 2 * sides)[:, None] + 1  # OBJ indices are 1-based
    k = np.arange(sides)[None, :]
    quads = np.stack([base + k, base + (k + 1) % sides, base + sides + (k + 1) % sides, base + sides + k], -1)
    with open(path, "w") as f:
        f.write("# vessel surface written by multiscale_run.circuit.vasculature (µm)\n")
        np.savetxt(f, verts.reshape(-1, 3), fmt="v %.3f %.3f %.3f")
        np.savetxt(f, quads.reshape(-1, 4), fmt="f %d %d %d %d")


def register_nodes(circuit_config: Path, nodes_file: str, population: str, extra: dict | None = None) -> None:
    """Add (or replace) the population's entry in ``networks.nodes`` of the circuit config."""
    if circuit_config.is_file():
        config = json.loads(circuit_config.read_text())
    else:
        config = {"version": 2, "manifest": {"$BASE_DIR": "."}, "networks": {"nodes": [], "edges": []}}
    # the entry's paths start with $BASE_DIR: readers that expand only the manifest's names need it
    config.setdefault("manifest", {}).setdefault("$BASE_DIR", ".")
    networks = config.setdefault("networks", {})
    nodes = [
        entry for entry in networks.setdefault("nodes", []) if population not in entry.get("populations", {})
    ]
    nodes.append(
        {"nodes_file": nodes_file, "populations": {population: {"type": "vasculature", **(extra or {})}}}
    )
    networks["nodes"] = nodes
    networks.setdefault("edges", [])
    circuit_config.write_text(json.dumps(config, indent=2) + "\n")


def build_vasculature(
    directory: Path,
    bbox_um: tuple[np.ndarray, np.ndarray],
    seed: int = 1,
    population: str = "vasculature",
) -> dict:
    """Generate the column's vascular network, write ``directory/vasculature.h5`` and register it in
    ``directory/circuit_config.json`` (created if absent).

    Returns ``{"nodes_file", "population", "n_segments", "n_nodes", "entry_nodes", "exit_nodes"}``
    (node ids as lists of ints: the graph ids of the arteriolar inlets and venular outlets).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    attributes = generate_network(bbox_um, seed=seed)
    nodes_file = directory / NODES_FILE
    write_sonata_vasculature(nodes_file, population, attributes)
    write_vasculature_morphology(directory / MORPHOLOGY_FILE, attributes)
    write_vessel_surface_obj(directory / MESH_FILE, attributes)
    # libsonata requires both companion files for a population of type "vasculature"
    register_nodes(
        directory / "circuit_config.json",
        f"$BASE_DIR/{NODES_FILE}",
        population,
        {"vasculature_file": f"$BASE_DIR/{MORPHOLOGY_FILE}", "vasculature_mesh": f"$BASE_DIR/{MESH_FILE}"},
    )
    n_nodes = int(max(attributes["start_node"].max(), attributes["end_node"].max()) + 1)
    log.info("wrote %d vessel segments to %s", len(attributes["start_node"]), nodes_file)
    return {
        "nodes_file": str(nodes_file),
        "population": population,
        "n_segments": len(attributes["start_node"]),
        "n_nodes": n_nodes,
        "entry_nodes": attributes["entry_nodes"].tolist(),
        "exit_nodes": attributes["exit_nodes"].tolist(),
    }
