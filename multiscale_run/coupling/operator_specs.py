"""The operator registry: what each coupling operator maps, from which geometry, and its write-back.

Pure data (no geometry work): ``msr check``, the reports and the SONATA ``reports`` section read
it without building anything; :mod:`multiscale_run.coupling.operators` builds the matrices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from multiscale_run.spaces import Space


@dataclass(frozen=True)
class OperatorSpec:
    """What an operator maps, and the operator that writes a destination value back to ``src``.

    ``src``/``dest`` are ``None`` only for ``identity`` (any space to itself). ``requires``
    names the parts of :class:`Geometry` it is built from (and so what its cache key hashes).
    ``constraint`` (preCICE's ``Mapping::Constraint``): ``consistent`` operators average (rows sum
    to 1: for intensive quantities), ``conservative`` ones distribute amounts (columns sum to 1:
    for extensive quantities); ``None``: neither, or any (identity).
    """

    name: str
    src: Space | None
    dest: Space | None
    writeback: str | None
    description: str
    requires: tuple[str, ...] = field(default=())
    constraint: str | None = None

    def missing_geometry(self, enabled) -> str | None:
        """Why this operator cannot be built when only the ``enabled`` simulators run (the first
        geometry it is built from that none of them provides), or None."""
        from multiscale_run.simulators.catalogue import geometry_source

        for part in self.requires:
            source = geometry_source(part)
            if source not in enabled:
                return (
                    f"{self.name} is built from the {part} geometry, which the "
                    f"{source} simulator provides, and it is not enabled"
                )
        return None


SEG, NEU, TET, VES, END = Space.SEGMENT, Space.NEURON, Space.TET, Space.VESSEL, Space.ENDFOOT

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
            constraint="consistent",
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
            constraint="consistent",
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
            constraint="conservative",
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
            constraint="consistent",
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
            constraint="conservative",
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
            constraint="consistent",
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
            constraint="consistent",
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
            constraint="consistent",
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
            constraint="conservative",
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
            constraint="conservative",
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
            constraint="consistent",
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
            constraint="consistent",
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
        OperatorSpec(
            name="tet_to_endfoot",
            constraint="consistent",
            src=TET,
            dest=END,
            writeback=None,
            requires=("tets", "endfeet"),
            description=(
                "Each endfoot receives the value of the tet holding the point where it touches its "
                "vessel's wall (for extracellular concentrations near the endfoot). An endfoot outside "
                "the mesh has an empty row (keeps its own value)."
            ),
        ),
        OperatorSpec(
            name="segment_to_endfoot",
            constraint="conservative",
            src=SEG,
            dest=END,
            writeback=None,
            requires=("segments", "endfeet"),
            description=(
                "Each endfoot receives the sum over the neuron segments whose midpoint lies in its "
                "astrocyte's territory (a sphere of the territory radius around the astrocyte's soma; "
                "for amounts released near the astrocyte, e.g. K+ currents). The manager sums M @ x "
                "over ranks."
            ),
        ),
        OperatorSpec(
            name="endfoot_to_vessel",
            constraint="consistent",
            src=END,
            dest=VES,
            writeback=None,
            requires=("endfeet",),
            description=(
                "Each vessel segment receives the mean over the endfeet on it; a segment without "
                "endfeet has an empty row (keeps its own value, e.g. its radius)."
            ),
        ),
    )
}
