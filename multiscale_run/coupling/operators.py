"""The coupling operators: sparse matrices that move values between element spaces.

Every operator is a ``scipy.sparse.csr_matrix`` of shape ``(len(dest space), len(src space))``,
applied by the connection manager as ``dest = M @ src`` (see docs/coupling.md). Segment and
neuron spaces are rank-local (this rank's cells), tet and vessel spaces global. When ``src`` is
local and ``dest`` global the manager sums ``M @ x`` over ranks, so each rank's matrix holds only
its own cells' contributions (and normalisations that span ranks use global sums).

Each rank builds operators only for its local elements, so the geometric work is split over
ranks; global-to-global operators (vessel ↔ tet) are built on a block of vessels per rank and
gathered. Operators that need a collective (``neuron_to_tet``, ``vessel_*``, ``tet_to_vessel``)
must be built by every rank in the same order.

The registry :data:`~multiscale_run.coupling.operator_specs.OPERATORS` documents each operator;
:class:`OperatorBuilder` builds them, sharing the expensive segment/tet clipping between the
operators that need it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from multiscale_run.coupling.geometry import (
    Geometry,
    SegmentTetOverlap,
    TetGridIndex,
    segment_lengths_um,
    segment_tet_overlap,
)
from multiscale_run.coupling.operator_specs import OPERATORS, OperatorSpec
from multiscale_run.parallel import Parallel

__all__ = ["OPERATORS", "Geometry", "MeshCoverage", "OperatorBuilder", "OperatorSpec", "build_operator"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MeshCoverage:
    """How much of the circuit and the vasculature lies outside the tet mesh, over all ranks.

    Counts are of segments lying (partly) outside; lengths in µm. ``None`` when that geometry
    is absent.
    """

    segments: int | None
    segments_outside: int | None
    segment_length_um: float | None
    segment_length_outside_um: float | None
    vessels: int | None
    vessels_outside: int | None
    vessel_length_um: float | None
    vessel_length_outside_um: float | None


def _row_normalised(matrix: sp.spmatrix, row_totals: np.ndarray | None = None) -> sp.csr_matrix:
    """Divide each row by its sum (or by ``row_totals``); empty rows stay empty."""
    matrix = sp.csr_matrix(matrix)
    totals = np.asarray(matrix.sum(axis=1)).ravel() if row_totals is None else np.asarray(row_totals)
    scale = np.divide(1.0, totals, out=np.zeros(len(totals)), where=totals > 0)
    return sp.csr_matrix(sp.diags(scale) @ matrix)


def _warn_outside(what: str, overlap: SegmentTetOverlap, parallel: Parallel | None) -> None:
    if overlap.n_outside:
        where = f"rank {parallel.rank}: " if parallel is not None and parallel.size > 1 else ""
        log.warning(
            "%s%d %s lie (partly) outside the tet mesh: %.6g µm of %.6g µm in total are not coupled",
            where,
            overlap.n_outside,
            what,
            overlap.outside_length_um,
            float(overlap.length_um.sum()),
        )


class OperatorBuilder:
    """Builds the operators of one rank from its :class:`Geometry`, sharing intermediate results.

    ``parallel`` may be ``None`` for a serial build. Attributes :attr:`segment_overlap` and
    :attr:`vessel_overlap` say which segments and vessels lie outside the mesh (for
    ``msr check``); ``vessel_overlap`` covers all vessels on every rank.
    """

    def __init__(self, geometry: Geometry, parallel: Parallel | None = None):
        self.geometry = geometry
        self.parallel = parallel

    def _need(self, part: str):
        value = getattr(self.geometry, part)
        if value is None:
            raise ValueError(f"this operator needs the {part} geometry, which is not available")
        return value

    @cached_property
    def tet_index(self) -> TetGridIndex:
        tets = self._need("tets")
        return TetGridIndex(tets.vertices_um, tets.tets)

    @cached_property
    def segment_overlap(self) -> SegmentTetOverlap:
        """Length fractions of this rank's segments in every tet, (n_local_seg, n_tet)."""
        seg = self._need("segments")
        tets = self._need("tets")
        overlap = segment_tet_overlap(
            seg.start_um, seg.end_um, tets.vertices_um, tets.tets, index=self.tet_index
        )
        _warn_outside("neuron segments", overlap, self.parallel)
        return overlap

    @cached_property
    def vessel_overlap(self) -> SegmentTetOverlap:
        """Length fractions of every vessel in every tet, (n_vessel, n_tet), on every rank.

        Each rank clips a contiguous block of vessels; the blocks are gathered.
        """
        ves = self._need("vessels")
        tets = self._need("tets")
        n_vessel = len(ves.start_um)
        rank, size = (0, 1) if self.parallel is None else (self.parallel.rank, self.parallel.size)
        bounds = np.linspace(0, n_vessel, size + 1).astype(np.int64)
        mine = slice(bounds[rank], bounds[rank + 1])
        part = segment_tet_overlap(
            ves.start_um[mine], ves.end_um[mine], tets.vertices_um, tets.tets, index=self.tet_index
        ).fractions.tocoo()
        triplets = [(part.row + bounds[rank], part.col, part.data)]
        if size > 1:
            triplets = self.parallel.allgather(triplets[0])
        rows, cols, vals = (np.concatenate(x) for x in zip(*triplets, strict=True))
        fractions = sp.csr_matrix((vals, (rows, cols)), shape=(n_vessel, len(tets.tets)))
        inside = np.asarray(fractions.sum(axis=1)).ravel()
        overlap = SegmentTetOverlap(
            fractions=fractions,
            length_um=segment_lengths_um(ves.start_um, ves.end_um),
            outside_fraction=np.clip(1.0 - inside, 0.0, 1.0),
        )
        if rank == 0:
            _warn_outside("vessel segments", overlap, None)
        return overlap

    def _segment_to_neuron(self, weight: np.ndarray) -> sp.csr_matrix:
        seg = self._need("segments")
        n_seg, n_neuron = len(seg.neuron_index), len(seg.gids)
        owner = sp.csr_matrix(
            (np.asarray(weight, float), (np.asarray(seg.neuron_index), np.arange(n_seg))),
            shape=(n_neuron, n_seg),
        )
        return owner

    @cached_property
    def neuron_tet_volume_um3(self) -> sp.csr_matrix:
        """(n_local_neuron, n_tet): volume (µm³) of each local neuron inside each tet.

        A segment's volume is spread over tets in proportion to its length in each (a segment
        is a cylinder or frustum; its volume is taken as uniform along its length).
        """
        seg = self._need("segments")
        per_segment = sp.diags(np.asarray(seg.volume_um3, float)) @ self.segment_overlap.fractions
        return sp.csr_matrix(self._segment_to_neuron(np.ones(len(seg.neuron_index))) @ per_segment)

    def coverage(self) -> MeshCoverage:
        """Totals over all ranks of what lies outside the mesh (collective; for ``msr check``)."""
        g = self.geometry
        if g.tets is None:
            raise ValueError("mesh coverage needs the tets geometry, which is not available")

        def total(value: float) -> float:
            return value if self.parallel is None else self.parallel.total(value)

        seg = [None] * 4
        if g.segments is not None:
            o = self.segment_overlap
            seg = [
                int(total(len(o.length_um))),
                int(total(o.n_outside)),
                total(float(o.length_um.sum())),
                total(o.outside_length_um),
            ]
        ves = [None] * 4
        if g.vessels is not None:
            o = self.vessel_overlap  # already global on every rank
            ves = [len(o.length_um), o.n_outside, float(o.length_um.sum()), o.outside_length_um]
        return MeshCoverage(*seg, *ves)

    def build(self, name: str) -> sp.csr_matrix:
        """The operator ``name`` for this rank (see :data:`OPERATORS`)."""
        if name not in OPERATORS:
            raise KeyError(f"unknown operator {name!r}; known: {', '.join(sorted(OPERATORS))}")
        if name == "identity":
            raise ValueError("'identity' has no matrix: the connection manager copies values")
        matrix = getattr(self, "_build_" + name)()
        matrix = sp.csr_matrix(matrix, dtype=np.float64)
        matrix.sum_duplicates()
        matrix.sort_indices()
        return matrix

    def _build_segment_to_neuron_area_mean(self):
        seg = self._need("segments")
        return _row_normalised(self._segment_to_neuron(seg.area_um2))

    def _build_segment_to_neuron_volume_mean(self):
        seg = self._need("segments")
        return _row_normalised(self._segment_to_neuron(seg.volume_um3))

    def _build_segment_to_neuron_sum(self):
        return self._segment_to_neuron(np.ones(len(self._need("segments").neuron_index)))

    def _build_neuron_to_segment(self):
        return self._build_segment_to_neuron_sum().T

    def _build_segment_to_tet(self):
        return self.segment_overlap.fractions.T

    def _build_tet_to_segment(self):
        return _row_normalised(self.segment_overlap.fractions)

    def _build_tet_to_neuron(self):
        return _row_normalised(self.neuron_tet_volume_um3)

    def _build_neuron_to_tet(self):
        volume = self.neuron_tet_volume_um3.T  # (n_tet, n_local_neuron)
        per_tet = np.asarray(volume.sum(axis=1)).ravel()
        if self.parallel is not None and self.parallel.size > 1:
            per_tet = self.parallel.sum(per_tet)  # a tet is shared by neurons of every rank
        return _row_normalised(volume, per_tet)

    def _build_neuron_to_tet_distribute(self):
        return self._build_tet_to_neuron().T

    def _build_vessel_to_tet(self):
        return self.vessel_overlap.fractions.T

    def _build_tet_to_vessel(self):
        return _row_normalised(self.vessel_overlap.fractions)

    def _build_vessel_to_neuron(self):
        return self._build_tet_to_neuron() @ self._build_vessel_to_tet()

    def _build_vessel_to_neuron_mean(self):
        weights = sp.csr_matrix(self._build_vessel_to_neuron())
        totals = np.asarray(weights.sum(axis=1)).ravel()
        scale = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)
        mean = sp.diags(scale) @ weights
        empty = np.flatnonzero(totals <= 0)
        if empty.size:
            v = self.geometry.vessels
            length = np.linalg.norm(v.end_um - v.start_um, axis=1)
            fallback = sp.csr_matrix(np.tile(length / length.sum(), (empty.size, 1)))
            rows = sp.csr_matrix(
                (np.ones(empty.size), (empty, np.arange(empty.size))), shape=(weights.shape[0], empty.size)
            )
            mean = mean + rows @ fallback
        return sp.csr_matrix(mean)

    def _build_tet_to_endfoot(self):
        feet = self._need("endfeet")
        tets = self._need("tets")
        points = feet.surface_um
        overlap = segment_tet_overlap(points, points, tets.vertices_um, tets.tets, index=self.tet_index)
        return overlap.fractions

    def _build_segment_to_endfoot(self):
        from scipy.spatial import cKDTree

        feet = self._need("endfeet")
        seg = self._need("segments")
        shape = (len(feet.surface_um), len(seg.start_um))
        if not shape[0] or not shape[1]:
            return sp.csr_matrix(shape)
        tree = cKDTree(0.5 * (seg.start_um + seg.end_um))
        found = tree.query_ball_point(feet.astrocyte_um, feet.territory_radius_um)
        rows = np.repeat(np.arange(shape[0]), [len(f) for f in found])
        cols = np.fromiter((j for f in found for j in f), dtype=np.int64, count=rows.size)
        return sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=shape)

    def _build_endfoot_to_vessel(self):
        feet = self._need("endfeet")
        n_feet = len(feet.vessel_segment)
        on = sp.csr_matrix(
            (np.ones(n_feet), (feet.vessel_segment, np.arange(n_feet))), shape=(feet.n_vessels, n_feet)
        )
        return _row_normalised(on)


def build_operator(name: str, geometry: Geometry, parallel: Parallel | None = None) -> sp.csr_matrix:
    """Build operator ``name`` (a key of :data:`OPERATORS`) for this rank from ``geometry``.

    Shape ``(len(dest space), len(src space))`` with rank-local rows/columns for local spaces.
    To build several operators from the same geometry, use one :class:`OperatorBuilder`.
    """
    return OperatorBuilder(geometry, parallel).build(name)
