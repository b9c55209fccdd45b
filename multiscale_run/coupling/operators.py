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

The registry :data:`OPERATORS` documents each operator; :class:`OperatorBuilder` builds them,
sharing the expensive segment/tet clipping between the operators that need it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
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
from multiscale_run.parallel import Parallel
from multiscale_run.simulators.base import Space

__all__ = ["OPERATORS", "Geometry", "MeshCoverage", "OperatorBuilder", "OperatorSpec", "build_operator"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OperatorSpec:
    """What an operator maps, and the operator that writes a destination value back to ``src``.

    ``src``/``dest`` are ``None`` only for ``identity`` (any space to itself). ``requires``
    names the parts of :class:`Geometry` it is built from (and so what its cache key hashes).
    """

    name: str
    src: Space | None
    dest: Space | None
    writeback: str | None
    description: str
    requires: tuple[str, ...] = field(default=())

    def missing_geometry(self, enabled) -> str | None:
        """Why this operator cannot be built when only the ``enabled`` simulators run (the first
        geometry it is built from that none of them provides), or None."""
        for part in self.requires:
            if GEOMETRY_SOURCES[part] not in enabled:
                return (
                    f"{self.name} is built from the {part} geometry, which the "
                    f"{GEOMETRY_SOURCES[part]} simulator provides, and it is not enabled"
                )
        return None


#: Which simulator provides each part of :class:`Geometry`.
GEOMETRY_SOURCES = {"segments": "neuron", "tets": "steps", "vessels": "bloodflow"}

SEG, NEU, TET, VES = Space.SEGMENT, Space.NEURON, Space.TET, Space.VESSEL

#: Every operator by name. ``writeback`` is the operator that writes a value computed on the
#: destination back onto the source space (used by ``merge`` couplings; ``None``: no merge).
OPERATORS: dict[str, OperatorSpec] = {
    spec.name: spec
    for spec in (
        OperatorSpec(
            name="identity",
            src=None,
            dest=None,
            writeback="identity",
            requires=(),
            description=("Any space to itself; the connection manager copies values, no matrix is built."),
        ),
        OperatorSpec(
            name="segment_to_neuron_area_mean",
            src=SEG,
            dest=NEU,
            writeback="neuron_to_segment",
            requires=("segments",),
            description=(
                "Per neuron, the membrane-area-weighted mean over its segments: M[n, j] = A_j / Σ_{k∈n} A_k "
                "for segment j of neuron n (for membrane quantities: v, currents)."
            ),
        ),
        OperatorSpec(
            name="segment_to_neuron_volume_mean",
            src=SEG,
            dest=NEU,
            writeback="neuron_to_segment",
            requires=("segments",),
            description=(
                "Per neuron, the volume-weighted mean over its segments: M[n, j] = V_j / Σ_{k∈n} V_k (for "
                "intracellular concentrations: nai, ki, atpi)."
            ),
        ),
        OperatorSpec(
            name="segment_to_neuron_sum",
            src=SEG,
            dest=NEU,
            writeback=None,
            requires=("segments",),
            description=(
                "Per neuron, the sum over its segments: M[n, j] = 1 for segment j of neuron n (for amounts)."
            ),
        ),
        OperatorSpec(
            name="neuron_to_segment",
            src=NEU,
            dest=SEG,
            writeback="segment_to_neuron_volume_mean",
            requires=("segments",),
            description=(
                "Each segment receives its neuron's value: M[j, n] = 1 (the write-back of the means)."
            ),
        ),
        OperatorSpec(
            name="segment_to_tet",
            src=SEG,
            dest=TET,
            writeback="tet_to_segment",
            requires=("segments", "tets"),
            description=(
                "Distributes a per-segment amount over the tets the segment crosses: M[i, j] = fraction of "
                "segment j's length inside tet i (exact segment/tet clipping). Columns of segments inside "
                "the mesh sum to 1; parts outside the mesh are counted and logged, not redistributed. The "
                "manager sums M @ x over ranks."
            ),
        ),
        OperatorSpec(
            name="tet_to_segment",
            src=TET,
            dest=SEG,
            writeback=None,
            requires=("segments", "tets"),
            description=(
                "Each segment receives the length-weighted mean of the tets it crosses: the row-normalised "
                "transpose of segment_to_tet. A segment fully outside the mesh has an empty row (receives "
                "0)."
            ),
        ),
        OperatorSpec(
            name="tet_to_neuron",
            src=TET,
            dest=NEU,
            writeback="neuron_to_tet",
            requires=("segments", "tets"),
            description=(
                "Each neuron receives the mean of the tet values over its volume inside the mesh: M[n, i] = "
                "Σ_{j∈n} V_j f_ji / Σ_{j∈n} V_j (Σ_i f_ji), f = segment length fractions, V = segment "
                "volume. For a neuron fully inside the mesh this is segment_to_neuron_volume_mean @ "
                "tet_to_segment. Rows sum to 1 for every neuron with a part inside the mesh."
            ),
        ),
        OperatorSpec(
            name="neuron_to_tet",
            src=NEU,
            dest=TET,
            writeback="tet_to_neuron",
            requires=("segments", "tets"),
            description=(
                "Each tet receives the mean of the values of the neurons crossing it, weighted by each "
                "neuron's volume in the tet (over all ranks: the manager's sum over ranks of M @ x is that "
                "mean): the row-normalised transpose of the volume matrix of tet_to_neuron. Tets crossed by "
                "no neuron receive 0."
            ),
        ),
        OperatorSpec(
            name="neuron_to_tet_distribute",
            src=NEU,
            dest=TET,
            writeback=None,
            requires=("segments", "tets"),
            description=(
                "Distributes a per-neuron amount over the tets in proportion to the neuron's volume in "
                "each: the transpose of tet_to_neuron (columns sum to 1 for neurons with a part in the "
                "mesh)."
            ),
        ),
        OperatorSpec(
            name="vessel_to_tet",
            src=VES,
            dest=TET,
            writeback="tet_to_vessel",
            requires=("vessels", "tets"),
            description=(
                "Distributes a per-vessel-segment value over the tets it crosses: M[i, v] = fraction of "
                "vessel v's length inside tet i (exact clipping; columns of vessels inside the mesh sum to "
                "1)."
            ),
        ),
        OperatorSpec(
            name="tet_to_vessel",
            src=TET,
            dest=VES,
            writeback=None,
            requires=("vessels", "tets"),
            description=(
                "Each vessel segment receives the length-weighted mean of the tets it crosses: the row- "
                "normalised transpose of vessel_to_tet."
            ),
        ),
        OperatorSpec(
            name="vessel_to_neuron",
            src=VES,
            dest=NEU,
            writeback=None,
            requires=("segments", "tets", "vessels"),
            description=(
                "Blood flow to metabolism: tet_to_neuron @ vessel_to_tet; each neuron receives the mean "
                "over its volume of Σ_v (fraction of vessel v in the tet) × value_v."
            ),
        ),
        OperatorSpec(
            name="vessel_to_neuron_mean",
            src=VES,
            dest=NEU,
            writeback=None,
            requires=("segments", "tets", "vessels"),
            description=(
                "vessel_to_neuron with rows normalised to 1: each neuron receives a weighted mean of the "
                "vessels in its tets (for intensive quantities such as flow relative to rest); a neuron "
                "whose tets hold no vessel receives the length-weighted mean over all vessels."
            ),
        ),
    )
}


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
            triplets = self.parallel.comm.allgather(triplets[0])
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


def build_operator(name: str, geometry: Geometry, parallel: Parallel | None = None) -> sp.csr_matrix:
    """Build operator ``name`` (a key of :data:`OPERATORS`) for this rank from ``geometry``.

    Shape ``(len(dest space), len(src space))`` with rank-local rows/columns for local spaces.
    To build several operators from the same geometry, use one :class:`OperatorBuilder`.
    """
    return OperatorBuilder(geometry, parallel).build(name)
