"""Random vessel trees of any size, for tests and benchmarks of the flow solver.

Not anatomical: the default circuit's network comes from :mod:`multiscale_run.circuit.vasculature`.
"""

from __future__ import annotations

import itertools

import numpy as np

from multiscale_run.bloodflow.network import VascularNetwork, VesselType, lattice_edges
from multiscale_run.bloodflow.poiseuille import BoundaryConditions


def random_tree(n_segments: int, seed: int = 0) -> tuple[VascularNetwork, BoundaryConditions]:
    """A random recursive tree with ``n_segments`` segments rooted at node 0 (the inlet).

    Node i ≥ 1 hangs from a uniformly drawn earlier node, so the depth grows like log n. Radii
    shrink with depth from ~12 µm to 2 µm (±20 % noise); lengths are uniform in 10–100 µm. Node 0
    is the entry (8000 Pa), every leaf an exit (2000 Pa).
    """
    rng = np.random.default_rng(seed)
    n_nodes = n_segments + 1
    child = np.arange(1, n_nodes)
    parent = (rng.random(n_segments) * child).astype(np.int64)
    depth = np.zeros(n_nodes, dtype=np.int64)
    # depth[i] = depth[parent[i]] + 1, resolved by repeated relaxation (parents come first)
    while True:
        new = depth.copy()
        new[child] = depth[parent] + 1
        if np.array_equal(new, depth):
            break
        depth = new
    radius = (2.0 + 10.0 * np.exp(-depth[child] / 4.0)) * rng.uniform(0.8, 1.2, n_segments)
    length = rng.uniform(10.0, 100.0, n_segments)
    direction = rng.normal(size=(n_segments, 3))
    direction /= np.linalg.norm(direction, axis=1)[:, None]
    # place nodes level by level from the root: pos[i] = pos[parent[i]] + length * direction
    pos = np.zeros((n_nodes, 3))
    step = length[:, None] * direction
    by_depth = np.argsort(depth[child], kind="stable")
    bounds = np.searchsorted(depth[child][by_depth], np.arange(1, depth.max() + 2))
    for lo, hi in itertools.pairwise(bounds):
        segs = by_depth[lo:hi]
        pos[child[segs]] = pos[parent[segs]] + step[segs]
    vessel_type = np.where(depth[child] <= 3, int(VesselType.ARTERIOLE), int(VesselType.ARTERIAL_CAPILLARY))
    network = VascularNetwork.from_arrays(
        parent, child, pos[parent], pos[child], radius, vessel_type, n_nodes
    )
    degree = network.degree()
    leaves = np.flatnonzero(degree == 1)
    leaves = leaves[leaves != 0]
    bc = BoundaryConditions(entry_nodes=[0], exit_nodes=leaves, inlet="pressure")
    return network, bc


def capillary_lattice(
    n_segments: int, seed: int = 0, spacing_um: float = 40.0
) -> tuple[VascularNetwork, BoundaryConditions]:
    """A looped 3-D capillary-like lattice of about ``n_segments`` segments.

    A k × k × k grid of nodes ``spacing_um`` apart (jittered by ±20 %), every pair of grid
    neighbours joined (3 k²(k − 1) segments, every node on many loops), diameters drawn per node
    from N(4.5, 0.5) µm clipped to 3.5–6 µm (the capillary range of Blinder et al. 2013), so the two
    ends of a segment may differ but every node has one diameter. Blood enters through the nodes
    of the face x = 0 (8000 Pa) and leaves through those of the face x = max (2000 Pa); flow
    across the other two axes comes only from the jitter and the diameter noise, so the lattice
    holds many segments with tiny flows.
    """
    rng = np.random.default_rng(seed)
    k = max(2, round(np.cbrt(n_segments / 3.0)) + 1)
    while 3 * k * k * (k - 1) < n_segments and k < 10_000:
        k += 1
    index = np.arange(k**3).reshape(k, k, k)
    grid = np.stack(np.meshgrid(*[np.arange(k)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    xyz = spacing_um * (grid + rng.uniform(-0.2, 0.2, grid.shape))
    edges = lattice_edges(index)
    node_d = np.clip(rng.normal(4.5, 0.5, k**3), 3.5, 6.0)
    radius = 0.25 * (node_d[edges[:, 0]] + node_d[edges[:, 1]])
    network = VascularNetwork.from_arrays(
        edges[:, 0],
        edges[:, 1],
        xyz[edges[:, 0]],
        xyz[edges[:, 1]],
        radius,
        int(VesselType.ARTERIAL_CAPILLARY),
        k**3,
    )
    bc = BoundaryConditions(
        entry_nodes=index[0].ravel(), exit_nodes=index[-1].ravel(), inlet="pressure", inlet_pressure_Pa=8000.0
    )
    return network, bc
