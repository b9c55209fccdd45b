"""The operator registry and every operator on small hand-computed geometries."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import scipy.sparse as sp

from multiscale_run.coupling.geometry import Geometry, structured_box_mesh
from multiscale_run.coupling.operators import OPERATORS, OperatorBuilder, build_operator
from multiscale_run.mesh import tet_geometry
from multiscale_run.spaces import EndfootGeometry, SegmentGeometry, Space, VesselGeometry


def three_segments_two_neurons() -> SegmentGeometry:
    """Neuron 0 owns segments 0 and 1, neuron 1 owns segment 2 (the 3×2 hand example)."""
    return SegmentGeometry(
        start_um=np.zeros((3, 3)),
        end_um=np.ones((3, 3)),
        area_um2=np.array([1.0, 3.0, 2.0]),
        volume_um3=np.array([2.0, 6.0, 5.0]),
        neuron_index=np.array([0, 0, 1]),
        gids=np.array([4, 9]),
    )


def test_means_and_sum_on_hand_example():
    geometry = Geometry(segments=three_segments_two_neurons())
    builder = OperatorBuilder(geometry)
    area = builder.build("segment_to_neuron_area_mean").toarray()
    volume = builder.build("segment_to_neuron_volume_mean").toarray()
    total = builder.build("segment_to_neuron_sum").toarray()
    np.testing.assert_allclose(area, [[0.25, 0.75, 0.0], [0.0, 0.0, 1.0]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(volume, [[0.25, 0.75, 0.0], [0.0, 0.0, 1.0]], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(total, [[1, 1, 0], [0, 0, 1]])
    values = np.array([-70.0, -60.0, -50.0])
    np.testing.assert_allclose(area @ values, [(-70 * 1 - 60 * 3) / 4, -50.0])
    # each segment gets its neuron's value back
    back = builder.build("neuron_to_segment")
    np.testing.assert_array_equal(back @ np.array([1.5, 7.0]), [1.5, 1.5, 7.0])


def test_area_and_volume_weights_differ():
    seg = three_segments_two_neurons()
    seg = SegmentGeometry(
        seg.start_um, seg.end_um, seg.area_um2, np.array([1.0, 1.0, 3.0]), seg.neuron_index, seg.gids
    )
    volume = build_operator("segment_to_neuron_volume_mean", Geometry(segments=seg)).toarray()
    np.testing.assert_allclose(volume, [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]], rtol=0, atol=1e-15)


def mesh_geometry() -> Geometry:
    """Two unit cubes along x (12 tets), two neurons, three vessels, two endfeet on vessel 0."""
    vertices, tets = structured_box_mesh((2, 1, 1), 1.0)
    segments = SegmentGeometry(
        # neuron 0: one segment along x through both cubes, half of another outside (x < 0);
        # neuron 1: a point soma in the second cube and a short segment in the first
        start_um=np.array([[0.1, 0.2, 0.1], [-1.0, 0.5, 0.3], [1.7, 0.2, 0.1], [0.5, 0.9, 0.8]]),
        end_um=np.array([[1.9, 0.2, 0.1], [1.0, 0.5, 0.3], [1.7, 0.2, 0.1], [0.6, 0.9, 0.8]]),
        area_um2=np.array([1.0, 2.0, 3.0, 4.0]),
        volume_um3=np.array([2.0, 1.0, 4.0, 1.0]),
        neuron_index=np.array([0, 0, 1, 1]),
        gids=np.array([0, 3]),
    )
    vessels = VesselGeometry(
        start_um=np.array([[0.0, 0.5, 0.5], [1.2, 0.1, 0.9], [5.0, 5.0, 5.0]]),
        end_um=np.array([[2.0, 0.5, 0.5], [1.2, 0.9, 0.9], [6.0, 5.0, 5.0]]),
        radius_um=np.array([3.0, 2.0, 1.0]),
    )
    endfeet = EndfootGeometry(
        surface_um=np.array([[0.5, 0.5, 0.5], [1.5, 0.5, 0.5]]),
        vessel_segment=np.array([0, 0]),
        astrocyte_um=np.array([[1.0, 0.5, 1.0], [1.0, 0.5, 1.0]]),
        territory_radius_um=np.array([1.0, 1.0]),
        n_vessels=3,
    )
    return Geometry(segments, tet_geometry(vertices, tets), vessels, endfeet)


def test_every_operator_has_the_shape_of_its_spaces():
    geometry = mesh_geometry()
    sizes = {Space.SEGMENT: 4, Space.NEURON: 2, Space.TET: 12, Space.VESSEL: 3, Space.ENDFOOT: 2}
    builder = OperatorBuilder(geometry)
    for name, spec in OPERATORS.items():
        assert spec.name == name and spec.description
        if name == "identity":
            continue
        matrix = builder.build(name)
        assert isinstance(matrix, sp.csr_matrix)
        assert matrix.shape == (sizes[spec.dest], sizes[spec.src]), name
        if spec.writeback is not None:
            back = OPERATORS[spec.writeback]
            assert (back.src, back.dest) == (spec.dest, spec.src), name


def test_segment_to_tet_and_normalised_transpose(caplog):
    geometry = mesh_geometry()
    builder = OperatorBuilder(geometry)
    with caplog.at_level(logging.WARNING):
        to_tet = builder.build("segment_to_tet")
    # one segment is half outside: counted, its length outside reported
    assert "1 neuron segments lie (partly) outside" in caplog.text and "1 µm" in caplog.text
    assert builder.segment_overlap.n_outside == 1
    assert builder.segment_overlap.outside_length_um == pytest.approx(1.0, abs=1e-12)
    columns = np.asarray(to_tet.sum(axis=0)).ravel()
    np.testing.assert_allclose(columns, [1.0, 0.5, 1.0, 1.0], rtol=0, atol=1e-12)
    # a per-segment amount summed into tets is conserved up to the part outside
    amounts = np.array([1.0, 2.0, 3.0, 4.0])
    assert (to_tet @ amounts).sum() == pytest.approx(1 + 1 + 3 + 4, abs=1e-12)
    back = builder.build("tet_to_segment")
    np.testing.assert_allclose(back.toarray(), (to_tet.T / columns[:, None]).toarray(), atol=1e-15)
    # a uniform tet field comes back unchanged on every segment (rows sum to 1)
    np.testing.assert_allclose(back @ np.full(12, 3.5), np.full(4, 3.5), rtol=0, atol=1e-12)


def test_tet_to_neuron_is_the_volume_weighted_composition():
    geometry = mesh_geometry()
    builder = OperatorBuilder(geometry)
    fractions = builder.segment_overlap.fractions.toarray()  # (seg, tet)
    seg = geometry.segments
    tet_to_neuron = builder.build("tet_to_neuron").toarray()
    # hand: volume of neuron n in tet i = Σ_j∈n V_j f_ji, normalised per neuron
    expected = np.zeros((2, 12))
    for j in range(4):
        expected[seg.neuron_index[j]] += seg.volume_um3[j] * fractions[j]
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(tet_to_neuron, expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(tet_to_neuron.sum(axis=1), 1.0, atol=1e-12)
    # neuron 1 lies fully inside: equals volume mean @ tet_to_segment
    composed = (builder.build("segment_to_neuron_volume_mean") @ builder.build("tet_to_segment")).toarray()
    np.testing.assert_allclose(tet_to_neuron[1], composed[1], atol=1e-15)
    # neuron 0's outside half-segment does not dilute the mean: weights V·(inside fraction)
    volume_inside_0 = 2.0 * 1.0 + 1.0 * 0.5
    assert expected[0].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(
        tet_to_neuron[0] * volume_inside_0, 2.0 * fractions[0] + 1.0 * fractions[1], atol=1e-14
    )


def test_neuron_to_tet_mean_and_distribution():
    geometry = mesh_geometry()
    builder = OperatorBuilder(geometry)
    weights = builder.neuron_tet_volume_um3.toarray().T  # (tet, neuron), µm³
    mean = builder.build("neuron_to_tet").toarray()
    crossed = weights.sum(axis=1) > 0
    np.testing.assert_allclose(mean[crossed], weights[crossed] / weights[crossed].sum(axis=1, keepdims=True))
    assert np.all(mean[~crossed] == 0)
    values = np.array([2.0, 5.0])
    field = mean @ values
    assert np.all((field[crossed] >= 2.0 - 1e-12) & (field[crossed] <= 5.0 + 1e-12))
    distribute = builder.build("neuron_to_tet_distribute").toarray()
    np.testing.assert_allclose(distribute.sum(axis=0), [1.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(distribute, builder.build("tet_to_neuron").toarray().T, atol=0)


def test_vessel_operators():
    geometry = mesh_geometry()
    builder = OperatorBuilder(geometry)
    to_tet = builder.build("vessel_to_tet").toarray()
    # vessel 0 along x through both cubes, vessel 1 inside, vessel 2 outside
    np.testing.assert_allclose(to_tet.sum(axis=0), [1.0, 1.0, 0.0], atol=1e-12)
    assert builder.vessel_overlap.n_outside == 1
    assert builder.vessel_overlap.outside_length_um == pytest.approx(1.0)
    coverage = builder.coverage()
    assert (coverage.segments, coverage.segments_outside) == (4, 1)
    assert coverage.segment_length_outside_um == pytest.approx(1.0, abs=1e-12)
    assert coverage.segment_length_um == pytest.approx(1.8 + 2.0 + 0.0 + 0.1, abs=1e-12)
    assert (coverage.vessels, coverage.vessels_outside) == (3, 1)
    assert coverage.vessel_length_um == pytest.approx(2.0 + 0.8 + 1.0, abs=1e-12)
    # vessel 1: x = 1.2 (local 0.2), z = 0.9, y from 0.1 to 0.9: local order changes at y = 0.2, 0.9
    lengths = np.sort(to_tet[:, 1][to_tet[:, 1] > 0])
    np.testing.assert_allclose(lengths, np.sort([0.1 / 0.8, 0.7 / 0.8]), atol=1e-12)
    mean = builder.build("tet_to_vessel").toarray()
    np.testing.assert_allclose(mean.sum(axis=1), [1.0, 1.0, 0.0], atol=1e-12)
    to_neuron = builder.build("vessel_to_neuron").toarray()
    np.testing.assert_allclose(to_neuron, builder.build("tet_to_neuron").toarray() @ to_tet, atol=1e-15)


def test_bad_requests_name_the_problem():
    with pytest.raises(KeyError, match="unknown operator 'segment_to_moon'"):
        build_operator("segment_to_moon", Geometry())
    with pytest.raises(ValueError, match="no matrix"):
        build_operator("identity", Geometry())
    with pytest.raises(ValueError, match="needs the tets geometry"):
        build_operator("segment_to_tet", Geometry(segments=three_segments_two_neurons()))


def test_a_rank_without_cells_gets_empty_operators():
    geometry = mesh_geometry()
    empty = SegmentGeometry(
        start_um=np.zeros((0, 3)),
        end_um=np.zeros((0, 3)),
        area_um2=np.zeros(0),
        volume_um3=np.zeros(0),
        neuron_index=np.zeros(0, dtype=np.int64),
        gids=np.zeros(0, dtype=np.int64),
    )
    builder = OperatorBuilder(Geometry(empty, geometry.tets, geometry.vessels))
    for name in ("segment_to_neuron_area_mean", "segment_to_tet", "tet_to_neuron", "neuron_to_tet"):
        matrix = builder.build(name)
        assert matrix.nnz == 0
    assert builder.build("segment_to_tet").shape == (12, 0)
    assert builder.build("tet_to_neuron").shape == (0, 12)
    assert builder.build("vessel_to_neuron").shape == (0, 3)


def test_vessel_to_neuron_mean_is_a_weighted_mean():
    geometry = mesh_geometry()
    builder = OperatorBuilder(geometry)
    weights = builder.build("vessel_to_neuron").toarray()
    mean = builder.build("vessel_to_neuron_mean").toarray()
    np.testing.assert_allclose(mean.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(mean, weights / weights.sum(axis=1, keepdims=True), atol=1e-15)
    # a uniform relative change of every vessel is seen unchanged by every neuron
    np.testing.assert_allclose(mean @ np.full(3, 1.7), 1.7, rtol=1e-14)


def test_vessel_to_neuron_mean_without_a_nearby_vessel_uses_the_network_mean():
    g = mesh_geometry()
    far = VesselGeometry(
        start_um=np.array([[5.0, 5.0, 5.0], [7.0, 5.0, 5.0]]),
        end_um=np.array([[6.0, 5.0, 5.0], [10.0, 5.0, 5.0]]),
        radius_um=np.array([1.0, 1.0]),
    )
    mean = OperatorBuilder(Geometry(g.segments, g.tets, far)).build("vessel_to_neuron_mean").toarray()
    np.testing.assert_allclose(mean, [[0.25, 0.75], [0.25, 0.75]], atol=1e-15)
