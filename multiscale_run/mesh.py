"""The extracellular-space (ECS) tetrahedral mesh: generation with gmsh, loading, geometric queries.

The standard mesh is a box around every neuron segment and vessel plus a margin, meshed with
gmsh from the template ``mesh/box.geo`` and written as MSH 2.2 (the format STEPS's
``TetMesh.LoadGmsh`` reads; we load it ourselves and hand STEPS the arrays, so the tet order is
the same everywhere). Mesh coordinates are in µm.

Everything except :func:`generate_mesh` and :func:`read_mesh` (which call gmsh) is a pure function
of numpy arrays: tet volumes, the face adjacency used by finite-volume diffusion, point location
and the slab partition of tets over MPI ranks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from multiscale_run.errors import UserError
from multiscale_run.resources import data_path
from multiscale_run.spaces import TetGeometry

log = logging.getLogger(__name__)

#: gmsh keeps one global model per process; generation and reading must not interleave.
_GMSH_LOCK = threading.Lock()

#: a tet whose volume is below this fraction of (longest edge)³ is degenerate (a sliver)
_DEGENERATE_RELATIVE_VOLUME = 1e-9

#: points per batch in locate_points (bounds the memory of the candidate pairs)
_LOCATE_CHUNK = 20000

#: the four faces of a tet, as positions in its vertex list
_TET_FACES = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])


@dataclass(frozen=True)
class MeshGeneration:
    """How the standard box mesh is made (the ``mesh_generation`` key of the steps section).

    ``margin_um`` is added on every side of the bounding box, ``characteristic_length_um`` is the
    target tet edge length, and each ``refinement`` pass splits every tet into 8 (gmsh's uniform
    refinement), dividing the edge length by 2.
    """

    margin_um: float = 20.0
    characteristic_length_um: float = 50.0
    refinement: int = 0

    @classmethod
    def from_section(cls, section: Mapping) -> MeshGeneration:
        """Read from a steps config section (or its ``mesh_generation`` sub-dict)."""
        gen = section.get("mesh_generation", section)
        out = cls(
            margin_um=float(gen.get("margin_um", cls.margin_um)),
            characteristic_length_um=float(gen.get("characteristic_length_um", cls.characteristic_length_um)),
            refinement=int(gen.get("refinement", cls.refinement)),
        )
        if out.characteristic_length_um <= 0 or out.margin_um < 0 or out.refinement < 0:
            raise UserError(
                "mesh_generation needs characteristic_length_um > 0, margin_um >= 0, refinement >= 0",
                path="multiscale_run.steps.mesh_generation",
            )
        return out


def generate_mesh(
    path: str | Path,
    bbox_min_um: np.ndarray,
    bbox_max_um: np.ndarray,
    config_section: Mapping,
) -> Path:
    """Mesh the box ``[bbox_min - margin, bbox_max + margin]`` with gmsh; write MSH 2.2 to ``path``.

    ``config_section`` is the ``multiscale_run.steps`` section (or any mapping with a
    ``mesh_generation`` dict, see :class:`MeshGeneration`). Returns the path written. Call it on
    one rank only; the file is written through a temporary name and renamed, so a reader never
    sees half a mesh.
    """
    import gmsh

    settings = MeshGeneration.from_section(config_section)
    lo = np.asarray(bbox_min_um, dtype=float) - settings.margin_um
    hi = np.asarray(bbox_max_um, dtype=float) + settings.margin_um
    if lo.shape != (3,) or hi.shape != (3,) or not np.all(np.isfinite(lo)) or not np.all(np.isfinite(hi)):
        raise ValueError(f"bounding box must be two finite 3-vectors, got {bbox_min_um!r}, {bbox_max_um!r}")
    # a flat box (all points in a plane) still needs a volume: give it at least one tet edge
    hi = np.maximum(hi, lo + settings.characteristic_length_um)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.msh")
    template = data_path("mesh") / "box.geo"
    with _GMSH_LOCK:
        gmsh.initialize(interruptible=False)
        try:
            gmsh.option.setNumber("General.Terminal", 0)
            for name, value in zip(("xmin", "ymin", "zmin"), lo, strict=True):
                gmsh.parser.setNumber(name, [float(value)])
            for name, value in zip(("xmax", "ymax", "zmax"), hi, strict=True):
                gmsh.parser.setNumber(name, [float(value)])
            gmsh.parser.setNumber("lc", [settings.characteristic_length_um])
            gmsh.merge(str(template))
            gmsh.model.geo.synchronize()
            gmsh.model.mesh.generate(3)
            for _ in range(settings.refinement):
                gmsh.model.mesh.refine()
            gmsh.option.setNumber("Mesh.MshFileVersion", 2.2)
            gmsh.option.setNumber("Mesh.Binary", 0)
            gmsh.write(str(tmp))
        finally:
            gmsh.finalize()
    tmp.replace(path)
    log.info("generated the ECS mesh %s around [%s, %s] µm", path, lo, hi)
    return path


def read_mesh(path: str | Path, scale_um: float = 1.0) -> TetGeometry:
    """Load the tetrahedra of a gmsh mesh file (any version gmsh reads) as a :class:`TetGeometry`.

    ``scale_um`` is the size of one mesh unit in µm (1 for meshes written in µm). Only
    tetrahedra are kept; vertices not used by any tet are dropped and the rest renumbered in
    file order. Degenerate tets raise a :class:`UserError` (STEPS rejects them).
    """
    import gmsh

    path = Path(path)
    if not path.is_file():
        raise UserError(f"mesh file not found: {path}", path="multiscale_run.steps.mesh_file")
    with _GMSH_LOCK:
        gmsh.initialize(interruptible=False)
        try:
            gmsh.option.setNumber("General.Terminal", 0)
            gmsh.open(str(path))
            node_tags, coords, _ = gmsh.model.mesh.getNodes()
            _, tet_nodes = gmsh.model.mesh.getElementsByType(4)
        except Exception as exc:  # gmsh raises a bare Exception on unreadable files
            raise UserError(f"cannot read mesh {path}: {exc}", path="multiscale_run.steps.mesh_file") from exc
        finally:
            gmsh.finalize()
    if len(tet_nodes) == 0:
        raise UserError(f"mesh {path} has no tetrahedra", path="multiscale_run.steps.mesh_file")
    coords = np.asarray(coords, dtype=float).reshape(-1, 3) * scale_um
    node_tags = np.asarray(node_tags, dtype=np.int64)
    order = np.argsort(node_tags, kind="stable")
    tet_tags = np.asarray(tet_nodes, dtype=np.int64).reshape(-1, 4)
    tets_all = order[np.searchsorted(node_tags[order], tet_tags)]
    used, tets = np.unique(tets_all, return_inverse=True)
    # np.unique sorts, which keeps file order for the used vertices
    geometry = tet_geometry(coords[used], tets.reshape(-1, 4))
    check_not_degenerate(geometry, str(path))
    return geometry


def tet_geometry(vertices_um: np.ndarray, tets: np.ndarray) -> TetGeometry:
    """A :class:`TetGeometry` with volumes computed from vertices (µm) and tets (vertex indices)."""
    vertices_um = np.ascontiguousarray(vertices_um, dtype=float)
    tets = np.ascontiguousarray(tets, dtype=np.int64)
    return TetGeometry(vertices_um=vertices_um, tets=tets, volume_um3=tet_volumes_um3(vertices_um, tets))


def tet_volumes_um3(vertices_um: np.ndarray, tets: np.ndarray) -> np.ndarray:
    """Unsigned tet volumes |det[b−a, c−a, d−a]| / 6."""
    p = vertices_um[tets]
    return (
        np.abs(np.einsum("ij,ij->i", p[:, 1] - p[:, 0], np.cross(p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]))) / 6.0
    )


def tet_barycentres_um(geometry: TetGeometry) -> np.ndarray:
    return geometry.vertices_um[geometry.tets].mean(axis=1)


def check_not_degenerate(geometry: TetGeometry, where: str = "mesh") -> None:
    """Raise a :class:`UserError` naming the first tet whose volume is (nearly) zero."""
    p = geometry.vertices_um[geometry.tets]
    edges = p[:, [1, 2, 3, 2, 3, 3]] - p[:, [0, 0, 0, 1, 1, 2]]
    longest = np.sqrt((edges**2).sum(axis=2)).max(axis=1)
    bad = np.flatnonzero(geometry.volume_um3 <= _DEGENERATE_RELATIVE_VOLUME * longest**3)
    if bad.size:
        raise UserError(
            f"{where}: {bad.size} degenerate tetrahedra (first: tet {bad[0]}, volume "
            f"{geometry.volume_um3[bad[0]]:.3g} µm³); STEPS rejects them",
            path="multiscale_run.steps.mesh_file",
        )


@dataclass(frozen=True)
class FaceAdjacency:
    """The interior faces of a tet mesh: each joins tets ``a[i]`` and ``b[i]``.

    ``area_um2`` is the face area and ``distance_um`` the separation of the two tets'
    barycentres measured along the face normal, ``|(x_b − x_a)·n|``; ``area_um2 / distance_um``
    is the two-point flux coupling of finite-volume diffusion (flux = D·A/d·Δc). STEPS uses the
    full barycentre distance ``|x_b − x_a|`` for its diffusion rates (Hepburn et al. 2012, BMC
    Syst Biol 6:36); on gmsh meshes that lowers the effective diffusivity (measured here: mean
    squared displacement 0.95 × 6Dt for a point release), the projected distance gives 1.02.
    ``centre_distance_um`` keeps the full distance for comparison.
    """

    a: np.ndarray
    b: np.ndarray
    area_um2: np.ndarray
    distance_um: np.ndarray
    centre_distance_um: np.ndarray

    @property
    def coupling_um(self) -> np.ndarray:
        return self.area_um2 / self.distance_um


def face_adjacency(geometry: TetGeometry) -> FaceAdjacency:
    """Find the faces shared by two tets (vectorised: sort face vertex triples, pair equal rows)."""
    tets = geometry.tets
    n_tet = len(tets)
    faces = np.sort(tets[:, _TET_FACES].reshape(-1, 3), axis=1)
    owner = np.repeat(np.arange(n_tet), 4)
    order = np.lexsort((faces[:, 2], faces[:, 1], faces[:, 0]))
    faces, owner = faces[order], owner[order]
    same = np.all(faces[1:] == faces[:-1], axis=1)
    first = np.flatnonzero(same)
    if np.any(same[1:] & same[:-1]):
        raise UserError("mesh has a face shared by more than two tets (not a manifold tet mesh)")
    a, b = owner[first], owner[first + 1]
    v = geometry.vertices_um
    tri = v[faces[first]]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    twice_area = np.linalg.norm(normal, axis=1)
    centres = tet_barycentres_um(geometry)
    separation = centres[b] - centres[a]
    return FaceAdjacency(
        a=a,
        b=b,
        area_um2=0.5 * twice_area,
        distance_um=np.abs(np.einsum("ij,ij->i", separation, normal)) / twice_area,
        centre_distance_um=np.linalg.norm(separation, axis=1),
    )


def locate_points(points_um: np.ndarray, geometry: TetGeometry, tolerance: float = 1e-9) -> np.ndarray:
    """Index of the tet holding each point, or -1 for points outside the mesh.

    Exact barycentric test against candidate tets found through a uniform grid index: every tet
    is registered in each grid cell its bounding box overlaps, and each point is tested against
    the tets of its cell. ``tolerance`` is on barycentric coordinates, so points on faces count
    as inside; a point on a shared face goes to the lowest tet index (order independent).
    """
    points = np.asarray(points_um, dtype=float).reshape(-1, 3)
    out = np.full(len(points), -1, dtype=np.int64)
    if len(points) == 0:
        return out
    p = geometry.vertices_um[geometry.tets]  # (n, 4, 3)
    lo, hi = p.min(axis=1), p.max(axis=1)
    origin = lo.min(axis=0)
    # half the mean tet box: few candidates per cell for a modest number of cells per tet
    cell = max(0.5 * float((hi - lo).max(axis=1).mean()), 1e-12)
    dims = np.floor((hi.max(axis=0) - origin) / cell).astype(np.int64) + 1
    c_lo = np.floor((lo - origin) / cell).astype(np.int64)
    c_hi = np.minimum(np.floor((hi - origin) / cell).astype(np.int64), dims - 1)
    span = c_hi - c_lo + 1
    ids_parts, tet_parts = [], []
    for di in range(int(span[:, 0].max())):
        for dj in range(int(span[:, 1].max())):
            for dk in range(int(span[:, 2].max())):
                sel = np.flatnonzero((span[:, 0] > di) & (span[:, 1] > dj) & (span[:, 2] > dk))
                ijk = c_lo[sel] + (di, dj, dk)
                ids_parts.append((ijk[:, 0] * dims[1] + ijk[:, 1]) * dims[2] + ijk[:, 2])
                tet_parts.append(sel)
    ids = np.concatenate(ids_parts)
    tet_of = np.concatenate(tet_parts)
    order = np.argsort(ids, kind="stable")
    ids, tet_of = ids[order], tet_of[order]

    # barycentric coordinates λ = T⁻¹ (x − v0), T's columns the edge vectors from vertex 0
    T = np.stack([p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]], axis=2)
    T_inv = np.linalg.inv(T)
    for chunk in range(0, len(points), _LOCATE_CHUNK):
        idx = np.arange(chunk, min(chunk + _LOCATE_CHUNK, len(points)))
        q_ijk = np.floor((points[idx] - origin) / cell).astype(np.int64)
        valid = np.all((q_ijk >= 0) & (q_ijk < dims), axis=1)
        q_idx, q_ijk = idx[valid], q_ijk[valid]
        q_ids = (q_ijk[:, 0] * dims[1] + q_ijk[:, 1]) * dims[2] + q_ijk[:, 2]
        start = np.searchsorted(ids, q_ids, side="left")
        counts = np.searchsorted(ids, q_ids, side="right") - start
        cand_point = np.repeat(q_idx, counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        cand_tet = tet_of[np.repeat(start, counts) + offsets]
        lam = np.einsum("nij,nj->ni", T_inv[cand_tet], points[cand_point] - p[cand_tet, 0])
        hit = np.all(lam >= -tolerance, axis=1) & (lam.sum(axis=1) <= 1 + tolerance)
        hp, ht = cand_point[hit], cand_tet[hit]
        order = np.lexsort((ht, hp))
        hp, ht = hp[order], ht[order]
        first = np.ones(hp.size, dtype=bool)
        first[1:] = hp[1:] != hp[:-1]
        out[hp[first]] = ht[first]
    return out


def count_segments_outside(start_um: np.ndarray, end_um: np.ndarray, geometry: TetGeometry) -> int:
    """How many segments have an end point or mid point outside the mesh (for ``msr check``)."""
    start = np.asarray(start_um, dtype=float).reshape(-1, 3)
    end = np.asarray(end_um, dtype=float).reshape(-1, 3)
    points = np.concatenate([start, 0.5 * (start + end), end])
    outside = (locate_points(points, geometry) < 0).reshape(3, -1)
    return int(outside.any(axis=0).sum())


def slab_partition(geometry: TetGeometry, n_parts: int) -> np.ndarray:
    """Host rank of each tet: equal-count slabs along the mesh's longest axis.

    Cutting across the longest axis gives the smallest interfaces between ranks (for a cortical
    column, slabs across its depth), and equal counts balance the work. Ties are broken by tet
    index, so the partition is a pure function of the mesh and ``n_parts``.
    """
    if n_parts < 1:
        raise ValueError("n_parts must be >= 1")
    centres = tet_barycentres_um(geometry)
    axis = int(np.argmax(np.ptp(geometry.vertices_um, axis=0)))
    order = np.lexsort((np.arange(len(centres)), centres[:, axis]))
    hosts = np.empty(len(centres), dtype=np.int64)
    hosts[order] = (np.arange(len(centres)) * n_parts) // max(len(centres), 1)
    return hosts


def bounding_box_um(*point_arrays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min and max corner of all the given (n, 3) point arrays (empty arrays are ignored)."""
    arrays = [np.asarray(a, dtype=float).reshape(-1, 3) for a in point_arrays]
    arrays = [a for a in arrays if len(a)]
    if not arrays:
        raise ValueError("no points to bound")
    allp = np.concatenate(arrays)
    return allp.min(axis=0), allp.max(axis=0)


def ensure_mesh(
    path: str | Path,
    config_section: Mapping,
    bbox_um: tuple[np.ndarray, np.ndarray] | None,
) -> Path:
    """The mesh file at ``path``, generated first if it does not exist (needs ``bbox_um`` then)."""
    path = Path(path)
    if path.is_file():
        return path
    if bbox_um is None:
        raise UserError(
            f"mesh file {path} does not exist and no geometry was given to generate it",
            path="multiscale_run.steps.mesh_file",
        )
    return generate_mesh(path, bbox_um[0], bbox_um[1], config_section)
