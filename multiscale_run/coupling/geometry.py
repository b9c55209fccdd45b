"""Geometry kernels for the coupling operators: where line segments lie in a tetrahedral mesh.

Pure, vectorised numpy functions (no MPI, no config): the fraction of each line segment's
length inside each tetrahedron, the spatial index that finds candidate (segment, tet) pairs
without testing all pairs, tet volumes, and a structured box mesh for tests and benchmarks.

Method (segment/tetrahedron clipping). A point ``p`` lies in the tetrahedron ``(v0, v1, v2, v3)``
iff its four barycentric coordinates are non-negative; with ``T = [v1-v0, v2-v0, v3-v0]``,
``(λ1, λ2, λ3) = T⁻¹ (p - v0)`` and ``λ0 = 1 - λ1 - λ2 - λ3``. Along the segment
``p(t) = a + t (b - a)``, ``t ∈ [0, 1]``, each ``λi(t) = αi + t βi`` is affine in ``t``, so the
part of the segment inside the tetrahedron is the interval ``[t_lo, t_hi]`` cut by the four
half-lines ``αi + t βi >= 0`` (Cyrus–Beck / Liang–Barsky parametric clipping, here against the
four face planes of a tetrahedron). ``t_hi - t_lo`` is the exact fraction of the segment's length
in that tetrahedron, up to rounding. A part of a segment lying exactly on a face or an edge
shared by several tetrahedra would be claimed by each of them; a sweep over each segment's
sorted intervals gives that part to one tetrahedron only, so the fractions of a segment sum to
the length of the union of its clipped intervals (1 for a segment inside the mesh).

Spatial index: a uniform grid of cubic cells over the mesh bounding box; each tet is registered
in every cell its bounding box touches; each segment is cut into pieces no longer than a cell
and looks up the cells its pieces' bounding boxes touch. A (piece, tet) pair found in several
cells is kept once, in the cell holding the lower corner of the two boxes' overlap, and only if
the two boxes really overlap; a tet met by several pieces of one segment is kept for the first
(the pieces meeting a box are consecutive), so no pair is clipped twice and none is missed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from multiscale_run.spaces import EndfootGeometry, SegmentGeometry, TetGeometry, VesselGeometry

if TYPE_CHECKING:
    import scipy.sparse as sp

log = logging.getLogger(__name__)

#: barycentric tolerance (dimensionless) for a segment parallel to, and lying on, a face plane,
#: and for a point (zero-length segment) on the boundary of a tetrahedron
BARYCENTRIC_TOLERANCE = 1e-11
#: a segment counts as (partly) outside the mesh when more than this fraction of its length is
OUTSIDE_FRACTION_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Geometry:
    """Everything the operators are built from; a part is ``None`` when its simulator is off."""

    segments: SegmentGeometry | None = None
    tets: TetGeometry | None = None
    vessels: VesselGeometry | None = None
    endfeet: EndfootGeometry | None = None


@dataclass(frozen=True)
class SegmentTetOverlap:
    """How line segments (neurite segments or vessels) lie in a tetrahedral mesh.

    ``fractions[j, i]`` is the fraction of segment ``j``'s length inside tet ``i`` (a zero-length
    segment has 1 in the tet containing its point). Rows of segments inside the mesh sum to 1;
    ``outside_fraction[j] = 1 - Σ_i fractions[j, i]`` is the part outside the mesh.
    """

    fractions: sp.csr_matrix  # (n_seg, n_tet)
    length_um: np.ndarray  # (n_seg,)
    outside_fraction: np.ndarray  # (n_seg,)

    @property
    def outside(self) -> np.ndarray:
        """Boolean mask of segments lying (partly) outside the mesh (zero-length ones included)."""
        return self.outside_fraction > OUTSIDE_FRACTION_TOLERANCE

    @property
    def n_outside(self) -> int:
        return int(np.count_nonzero(self.outside))

    @property
    def outside_length_um(self) -> float:
        """Total length (µm) of the segments' parts outside the mesh."""
        return float(np.sum(self.outside_fraction[self.outside] * self.length_um[self.outside]))


def segment_lengths_um(start_um: np.ndarray, end_um: np.ndarray) -> np.ndarray:
    """Euclidean length of each segment (µm)."""
    return np.linalg.norm(np.asarray(end_um, float) - np.asarray(start_um, float), axis=1)


def structured_box_mesh(
    n_cubes: tuple[int, int, int], spacing_um: float, origin_um: tuple[float, float, float] = (0, 0, 0)
) -> tuple[np.ndarray, np.ndarray]:
    """A box of ``nx × ny × nz`` cubes of side ``spacing_um``, each cut into 6 tetrahedra.

    Kuhn (Freudenthal) triangulation: the tetrahedra of a cube are the 6 monotone vertex paths
    from its corner (0,0,0) to (1,1,1), one per permutation of the axes; the tet of permutation
    ``(p, q, r)`` is the set ``x_p >= x_q >= x_r`` in cube coordinates. The same split in every
    cube is conforming (neighbouring cubes agree on their shared faces). Vertices in µm, tets
    positively oriented. Returns ``(vertices_um (n_vert, 3), tets (n_tet, 4) int64)``.
    """
    nx, ny, nz = (int(n) for n in n_cubes)
    ix, iy, iz = np.meshgrid(np.arange(nx + 1), np.arange(ny + 1), np.arange(nz + 1), indexing="ij")
    vertices = np.stack([ix.ravel(), iy.ravel(), iz.ravel()], axis=1) * float(spacing_um)
    vertices = vertices + np.asarray(origin_um, float)

    def vertex_id(i, j, k):
        return (i * (ny + 1) + j) * (nz + 1) + k

    cx, cy, cz = np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij")
    corner = np.stack([cx.ravel(), cy.ravel(), cz.ravel()], axis=1)  # (n_cube, 3)
    unit = np.eye(3, dtype=np.int64)
    tets = []
    for perm in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
        path = [np.zeros(3, np.int64)]
        for axis in perm:
            path.append(path[-1] + unit[axis])
        ids = [vertex_id(*(corner + step).T) for step in path]
        tet = np.stack(ids, axis=1)
        if np.linalg.det(np.stack([path[1], path[2], path[3]])) < 0:
            tet = tet[:, [0, 2, 1, 3]]  # keep every tet positively oriented
        tets.append(tet)
    return vertices, np.concatenate(tets).astype(np.int64)


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ``counts[k]`` items per owner ``k``: (owner of each item, item's rank within its owner)."""
    counts = np.asarray(counts, np.int64)
    owner = np.repeat(np.arange(len(counts)), counts)
    first = np.cumsum(counts) - counts
    return owner, np.arange(len(owner), dtype=np.int64) - first[owner]


def _grouped_running_max_before(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For sorted ``group``: max of ``values`` over the earlier items of the same group (-inf if none).

    Pointer doubling (log2 of the largest group steps), exact and vectorised.
    """
    n = len(values)
    result = np.full(n, -np.inf)
    if n < 2:
        return result
    result[1:] = np.where(group[1:] == group[:-1], values[:-1], -np.inf)
    # running[k] = max over items k-shift+1..k of the same group, of the shifted values
    shift = 1
    while shift < n:
        prev = np.full(n, -np.inf)
        same = group[shift:] == group[:-shift]
        prev[shift:] = np.where(same, result[:-shift], -np.inf)
        updated = np.maximum(result, prev)
        if np.array_equal(updated, result):
            break
        result = updated
        shift *= 2
    return result


class TetGridIndex:
    """Uniform-grid spatial index over tetrahedra bounding boxes; see the module docstring."""

    def __init__(self, vertices_um: np.ndarray, tets: np.ndarray, cell_um: float | None = None):
        vertices = np.asarray(vertices_um, np.float64)
        tets = np.asarray(tets, np.int64)
        corners = vertices[tets]  # (n_tet, 4, 3)
        self.n_tet = len(tets)
        self.v0 = np.ascontiguousarray(corners[:, 0])
        edges = np.transpose(corners[:, 1:] - corners[:, :1], (0, 2, 1))  # columns v1-v0, v2-v0, v3-v0
        det = np.linalg.det(edges)
        scale = np.max(np.abs(edges), axis=(1, 2)) ** 3
        self.valid = np.abs(det) > 1e-12 * np.maximum(scale, np.finfo(float).tiny)
        if not np.all(self.valid):
            log.warning("%d degenerate (zero-volume) tetrahedra are ignored", int(np.sum(~self.valid)))
        safe = np.where(self.valid[:, None, None], edges, np.eye(3))
        self.inverse = np.linalg.inv(safe)  # (n_tet, 3, 3): barycentric (λ1, λ2, λ3) = inv @ (p - v0)
        self.box_lo = corners.min(axis=1)
        self.box_hi = corners.max(axis=1)
        if self.n_tet == 0:
            self.origin = np.zeros(3)
            self.cell_um = 1.0
            self.shape = np.ones(3, np.int64)
            self.cell_ptr = np.zeros(2, np.int64)
            self.cell_tets = np.zeros(0, np.int64)
            return
        self.origin = self.box_lo.min(axis=0)
        domain = self.box_hi.max(axis=0) - self.origin
        if cell_um is None:
            # 3/4 of the typical tet box: few tets per cell, few cells per tet (measured in
            # bench/coupling.py: 1/2 doubles the index size for no gain, 1 slows the queries)
            cell_um = 0.75 * float(np.median(np.max(self.box_hi - self.box_lo, axis=1)))
            # at most ~4 cells per tet, so the index stays O(n_tet) in memory
            min_cell = float(np.prod(np.maximum(domain, 1e-300)) / (4.0 * self.n_tet)) ** (1 / 3)
            cell_um = max(cell_um, min_cell, 1e-9 * max(float(domain.max()), 1.0))
        self.cell_um = float(cell_um)
        self.shape = np.maximum(np.floor(domain / self.cell_um).astype(np.int64) + 1, 1)
        valid_ids = np.flatnonzero(self.valid)
        lo, hi = self._cell_range(self.box_lo[valid_ids], self.box_hi[valid_ids])
        counts = np.prod(hi - lo + 1, axis=1)
        owner, k = _expand(counts)
        cell = self._linear(lo[owner] + self._unravel(k, hi[owner] - lo[owner] + 1))
        order = np.argsort(cell)
        self.cell_tets = valid_ids[owner[order]]
        self.cell_ptr = np.zeros(int(np.prod(self.shape)) + 1, np.int64)
        np.cumsum(np.bincount(cell, minlength=int(np.prod(self.shape))), out=self.cell_ptr[1:])
        self.tet_cell_lo = np.zeros((self.n_tet, 3), np.int64)
        self.tet_cell_lo[valid_ids] = lo

    def _cell_range(self, lo_um: np.ndarray, hi_um: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inclusive integer cell ranges covering boxes (clipped to the grid; may be empty)."""
        lo = np.floor((lo_um - self.origin) / self.cell_um).astype(np.int64)
        hi = np.floor((hi_um - self.origin) / self.cell_um).astype(np.int64)
        return np.maximum(lo, 0), np.minimum(hi, self.shape - 1)

    @staticmethod
    def _unravel(k: np.ndarray, extent: np.ndarray) -> np.ndarray:
        """The k-th cell (C order, z fastest) of boxes of ``extent`` cells, as offsets (n, 3)."""
        kz = k % extent[:, 2]
        rest = k // extent[:, 2]
        return np.stack([rest // extent[:, 1], rest % extent[:, 1], kz], axis=1)

    def _linear(self, ijk: np.ndarray) -> np.ndarray:
        return (ijk[:, 0] * self.shape[1] + ijk[:, 1]) * self.shape[2] + ijk[:, 2]

    def candidate_pairs(self, start_um: np.ndarray, end_um: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unique (segment, tet) pairs whose bounding boxes overlap: a superset of the intersecting pairs."""
        n_seg = len(start_um)
        if n_seg == 0 or self.n_tet == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        length = segment_lengths_um(start_um, end_um)
        n_pieces = np.maximum(np.ceil(length / self.cell_um).astype(np.int64), 1)
        seg_of_piece, k_of_piece = _expand(n_pieces)
        direction = end_um - start_um
        t0 = (k_of_piece / n_pieces[seg_of_piece])[:, None]
        t1 = ((k_of_piece + 1) / n_pieces[seg_of_piece])[:, None]
        p0 = start_um[seg_of_piece] + t0 * direction[seg_of_piece]
        p1 = start_um[seg_of_piece] + t1 * direction[seg_of_piece]
        pad = 1e-9 * self.cell_um  # rounding of piece ends must not lose a touched cell
        piece_lo = np.minimum(p0, p1) - pad
        piece_hi = np.maximum(p0, p1) + pad
        lo, hi = self._cell_range(piece_lo, piece_hi)
        extent = hi - lo + 1
        counts = np.where(np.all(extent > 0, axis=1), np.prod(np.maximum(extent, 0), axis=1), 0)
        piece, k = _expand(counts)
        cell_ijk = lo[piece] + self._unravel(k, extent[piece])
        cell = self._linear(cell_ijk)
        first = self.cell_ptr[cell]
        n_in_cell = self.cell_ptr[cell + 1] - first
        visit, j = _expand(n_in_cell)
        tet = self.cell_tets[first[visit] + j]
        piece = piece[visit]
        # keep a (piece, tet) pair only in the cell at the lower corner of the boxes' overlap
        keep = np.ones(len(tet), bool)
        for axis in range(3):
            ref = np.maximum(lo[piece, axis], self.tet_cell_lo[tet, axis])
            keep &= ref == cell_ijk[visit, axis]
        piece, tet = piece[keep], tet[keep]
        # and only if the real (not cell-rounded) boxes overlap
        keep = np.ones(len(tet), bool)
        for axis in range(3):
            keep &= piece_lo[piece, axis] <= self.box_hi[tet, axis]
            keep &= piece_hi[piece, axis] >= self.box_lo[tet, axis]
        piece, tet = piece[keep], tet[keep]
        # a tet box meets a contiguous run of a segment's piece boxes: keep the pair in the first
        seg = seg_of_piece[piece]
        later = np.flatnonzero(k_of_piece[piece] > 0)
        before = piece[later] - 1
        seen = np.ones(len(later), bool)
        for axis in range(3):
            seen &= piece_lo[before, axis] <= self.box_hi[tet[later], axis]
            seen &= piece_hi[before, axis] >= self.box_lo[tet[later], axis]
        keep = np.ones(len(tet), bool)
        keep[later[seen]] = False
        return seg[keep], tet[keep]

    def clip(
        self, start_um: np.ndarray, end_um: np.ndarray, seg: np.ndarray, tet: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Barycentric clipping of segments ``seg`` against tets ``tet`` (pairwise).

        Returns ``(t_lo, t_hi, min_lambda_start)``: the parameter interval of each segment
        inside its tet (empty when ``t_hi <= t_lo``), and the smallest barycentric coordinate
        of the segment's start point (how far inside the tet it is; used for points).
        """
        inverse = self.inverse[tet]
        a = start_um[seg]
        alpha = np.einsum("nij,nj->ni", inverse, a - self.v0[tet])
        beta = np.einsum("nij,nj->ni", inverse, end_um[seg] - a)
        alpha = np.concatenate([alpha, 1.0 - alpha.sum(axis=1, keepdims=True)], axis=1)
        beta = np.concatenate([beta, -beta.sum(axis=1, keepdims=True)], axis=1)
        parallel = np.abs(beta) <= BARYCENTRIC_TOLERANCE
        with np.errstate(divide="ignore", invalid="ignore"):
            crossing = -alpha / beta
        t_lo = np.max(np.where(beta > 0, crossing, 0.0), axis=1, initial=0.0, where=~parallel)
        t_hi = np.min(np.where(beta < 0, crossing, 1.0), axis=1, initial=1.0, where=~parallel)
        blocked = np.any(parallel & (alpha < -BARYCENTRIC_TOLERANCE), axis=1)
        t_hi = np.where(blocked, -np.inf, t_hi)
        return np.maximum(t_lo, 0.0), np.minimum(t_hi, 1.0), alpha.min(axis=1)


def segment_tet_overlap(
    start_um: np.ndarray,
    end_um: np.ndarray,
    vertices_um: np.ndarray,
    tets: np.ndarray,
    *,
    index: TetGridIndex | None = None,
    chunk_segments: int = 20000,
) -> SegmentTetOverlap:
    """Fraction of each segment's length inside each tetrahedron (see the module docstring).

    ``start_um``, ``end_um``: (n_seg, 3) segment end points in µm; ``vertices_um`` (n_vert, 3)
    and ``tets`` (n_tet, 4) the mesh. Segments are processed in chunks of ``chunk_segments`` to
    bound memory. Pass a prebuilt ``index`` to reuse it for several segment sets.
    """
    import scipy.sparse as sp  # a run without STEPS does not import it

    start = np.ascontiguousarray(start_um, np.float64).reshape(-1, 3)
    end = np.ascontiguousarray(end_um, np.float64).reshape(-1, 3)
    if index is None:
        index = TetGridIndex(vertices_um, tets)
    n_seg, n_tet = len(start), index.n_tet
    length = segment_lengths_um(start, end)
    rows, cols, vals = [], [], []
    for first in range(0, n_seg, chunk_segments):
        part = slice(first, min(first + chunk_segments, n_seg))
        seg, tet = index.candidate_pairs(start[part], end[part])
        t_lo, t_hi, depth = index.clip(start[part], end[part], seg, tet)
        point = length[part][seg] == 0.0
        # segments with a length: union of their clipped intervals, each part to one tet only
        hit = (t_hi > t_lo) & ~point
        s, t, lo, hi = seg[hit], tet[hit], t_lo[hit], t_hi[hit]
        order = np.lexsort((t, -hi, lo, s))
        s, t, lo, hi = s[order], t[order], lo[order], hi[order]
        covered = _grouped_running_max_before(s, hi)
        fraction = hi - np.maximum(lo, covered)
        keep = fraction > 0
        rows.append(s[keep] + first)
        cols.append(t[keep])
        vals.append(fraction[keep])
        # zero-length segments (point somata): the tet in which the point lies deepest
        on = point & (depth >= -BARYCENTRIC_TOLERANCE)
        s, t, d = seg[on], tet[on], depth[on]
        order = np.lexsort((t, -d, s))
        s, t = s[order], t[order]
        best = np.ones(len(s), bool)
        best[1:] = s[1:] != s[:-1]
        rows.append(s[best] + first)
        cols.append(t[best])
        vals.append(np.ones(int(best.sum())))
    rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    cols = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    vals = np.concatenate(vals) if vals else np.zeros(0)
    fractions = sp.csr_matrix((vals, (rows, cols)), shape=(n_seg, n_tet))
    fractions.sum_duplicates()
    inside = np.asarray(fractions.sum(axis=1)).ravel()
    outside = np.clip(1.0 - inside, 0.0, 1.0)
    outside[np.abs(outside) <= 4 * np.finfo(float).eps] = 0.0
    return SegmentTetOverlap(fractions=fractions, length_um=length, outside_fraction=outside)
