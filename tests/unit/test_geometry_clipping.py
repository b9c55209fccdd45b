"""Segment/tetrahedron clipping against analytic lengths on Kuhn-split cubes.

Reference: in the Kuhn split of a cube, the point with local coordinates ``u`` lies in the tet of
the axis permutation that sorts ``u`` in decreasing order. Along a segment, the tet can change
only where the segment crosses a grid plane or where two local coordinates are equal, so the
exact length per tet follows from those break points (computed here independently of the code
under test, which clips against face planes).
"""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest

from multiscale_run.coupling.geometry import (
    TetGridIndex,
    segment_tet_overlap,
    structured_box_mesh,
)
from multiscale_run.mesh import tet_volumes_um3


def tet_lookup(vertices, tets, spacing, origin):
    """(cube index, permutation) -> tet id, read from the vertex coordinates of each tet."""
    lookup = {}
    for tet_id, tet in enumerate(tets):
        corners = (vertices[tet] - origin) / spacing
        cube = tuple(np.floor(corners.min(axis=0) + 1e-9).astype(int))
        local = np.rint(corners - cube).astype(int)
        # the path 000 -> e_p -> e_p+e_q -> 111: order the corners by coordinate sum
        path = local[np.argsort(local.sum(axis=1))]
        perm = tuple(int(np.flatnonzero(path[k + 1] - path[k])[0]) for k in range(3))
        lookup[cube, perm] = tet_id
    return lookup


def analytic_fractions(a, b, lookup, n_cubes, spacing, origin):
    """{tet id: fraction of segment a-b inside it}, and the fraction outside the box."""
    a = (np.asarray(a, float) - origin) / spacing
    b = (np.asarray(b, float) - origin) / spacing
    d = b - a
    breaks = {0.0, 1.0}
    for axis in range(3):
        if d[axis] != 0:
            for k in range(n_cubes[axis] + 1):
                t = (k - a[axis]) / d[axis]
                if 0 < t < 1:
                    breaks.add(t)
    breaks = sorted(breaks)
    # within one cube, local coordinates cross where two of them are equal
    refined = set(breaks)
    for t0, t1 in itertools.pairwise(breaks):
        cube = np.floor(a + 0.5 * (t0 + t1) * d)
        for i, j in itertools.combinations(range(3), 2):
            denominator = d[i] - d[j]
            if denominator != 0:
                t = -((a[i] - cube[i]) - (a[j] - cube[j])) / denominator
                if t0 < t < t1:
                    refined.add(t)
    fractions, outside = {}, 0.0
    for t0, t1 in itertools.pairwise(sorted(refined)):
        mid = a + 0.5 * (t0 + t1) * d
        cube = np.floor(mid).astype(int)
        if np.any(cube < 0) or np.any(cube >= n_cubes):
            outside += t1 - t0
            continue
        perm = tuple(int(x) for x in np.argsort(-(mid - cube), kind="stable"))
        tet = lookup[tuple(cube), perm]
        fractions[tet] = fractions.get(tet, 0.0) + (t1 - t0)
    return fractions, outside


def test_kuhn_cube_volumes():
    vertices, tets = structured_box_mesh((1, 1, 1), 1.0)
    assert tets.shape == (6, 4)
    np.testing.assert_allclose(tet_volumes_um3(vertices, tets), np.full(6, 1 / 6), rtol=0, atol=1e-15)
    corners = vertices[tets]
    signed = np.linalg.det(corners[:, 1:] - corners[:, :1])
    assert np.all(signed > 0)


def test_unit_cube_hand_cases():
    vertices, tets = structured_box_mesh((1, 1, 1), 1.0)
    lookup = tet_lookup(vertices, tets, 1.0, np.zeros(3))
    start = np.array([[0, 0.2, 0.1], [-0.5, 0.2, 0.1], [2, 2, 2], [0.1, 0.3, 0.0]])
    end = np.array([[1, 0.2, 0.1], [0.5, 0.2, 0.1], [3, 3, 3], [0.9, 0.3, 0.0]])
    overlap = segment_tet_overlap(start, end, vertices, tets)
    f = overlap.fractions.toarray()
    x_y_z, y_x_z, y_z_x = (lookup[(0, 0, 0), p] for p in ((0, 1, 2), (1, 0, 2), (1, 2, 0)))
    # along x at y=0.2, z=0.1: x>=y>=z for x in [0.2, 1], y>=x>=z in [0.1, 0.2], y>=z>=x below
    expected = np.zeros(6)
    expected[[x_y_z, y_x_z, y_z_x]] = [0.8, 0.1, 0.1]
    np.testing.assert_allclose(f[0], expected, rtol=0, atol=1e-12)
    # half outside (x < 0): fractions of the full length, outside 0.5
    expected[[x_y_z, y_x_z, y_z_x]] = [0.3, 0.1, 0.1]
    np.testing.assert_allclose(f[1], expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(overlap.outside_fraction[:2], [0.0, 0.5], rtol=0, atol=1e-12)
    # fully outside: an empty row, counted
    assert np.all(f[2] == 0) and overlap.outside_fraction[2] == 1.0
    # lying in the boundary face z = 0 is inside the mesh
    assert f[3].sum() == pytest.approx(1.0, abs=1e-12)
    assert overlap.n_outside == 2
    assert overlap.outside_length_um == pytest.approx(0.5 + np.sqrt(3), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_random_segments_against_analytic_lengths(seed):
    n_cubes, spacing, origin = np.array([3, 2, 2]), 2.5, np.array([-1.0, 4.0, 10.0])
    vertices, tets = structured_box_mesh(tuple(n_cubes), spacing, tuple(origin))
    lookup = tet_lookup(vertices, tets, spacing, origin)
    rng = np.random.default_rng(seed)
    box = n_cubes * spacing
    start = origin + rng.uniform(-0.2, 1.2, (60, 3)) * box
    end = start + rng.normal(scale=3.0, size=(60, 3))
    overlap = segment_tet_overlap(start, end, vertices, tets)
    f = overlap.fractions.toarray()
    for j in range(len(start)):
        expected, outside = analytic_fractions(start[j], end[j], lookup, n_cubes, spacing, origin)
        row = np.zeros(len(tets))
        for tet, value in expected.items():
            row[tet] = value
        np.testing.assert_allclose(f[j], row, rtol=0, atol=1e-12, err_msg=f"segment {j}")
        assert overlap.outside_fraction[j] == pytest.approx(outside, abs=1e-12)


def test_rows_sum_to_one_inside_including_faces_and_edges():
    vertices, tets = structured_box_mesh((3, 3, 3), 1.0)
    rng = np.random.default_rng(3)
    start = rng.uniform(0, 3, (200, 3))
    end = np.clip(start + rng.normal(scale=1.5, size=(200, 3)), 0, 3)
    # degenerate placements: along shared cube faces, grid lines, the cubes' common diagonal
    special_start = np.array([[0.5, 1.0, 0.2], [0.0, 1.0, 1.0], [1.0, 1.0, 1.0], [0.2, 2.0, 2.0], [0, 0, 0]])
    special_end = np.array([[2.5, 1.0, 2.9], [3.0, 1.0, 1.0], [3.0, 3.0, 3.0], [2.9, 2.0, 2.0], [3, 3, 3]])
    overlap = segment_tet_overlap(
        np.vstack([start, special_start]), np.vstack([end, special_end]), vertices, tets
    )
    sums = np.asarray(overlap.fractions.sum(axis=1)).ravel()
    np.testing.assert_allclose(sums, 1.0, rtol=0, atol=1e-12)
    assert overlap.n_outside == 0
    assert overlap.fractions.data.min() > 0  # only real overlaps are stored


def test_zero_length_segments():
    vertices, tets = structured_box_mesh((2, 1, 1), 1.0)
    lookup = tet_lookup(vertices, tets, 1.0, np.zeros(3))
    points = np.array([[0.7, 0.2, 0.1], [1.0, 0.5, 0.25], [0.5, 0.5, 0.5], [5.0, 0.0, 0.0]])
    overlap = segment_tet_overlap(points, points, vertices, tets)
    f = overlap.fractions.toarray()
    # inside one tet: that tet
    assert f[0, lookup[(0, 0, 0), (0, 1, 2)]] == 1.0 and f[0].sum() == 1.0
    # on a face or edge shared by several tets: exactly one of the tets that contain it
    for j in (1, 2):
        (tet,) = np.flatnonzero(f[j])
        assert f[j, tet] == 1.0
        corners = vertices[tets[tet]]
        lam = np.linalg.solve((corners[1:] - corners[0]).T, points[j] - corners[0])
        assert min(lam.min(), 1 - lam.sum()) > -1e-12
    # outside: counted, no length
    assert f[3].sum() == 0 and overlap.outside[3]
    assert overlap.n_outside == 1 and overlap.outside_length_um == 0.0


def test_grid_index_finds_every_overlapping_pair():
    vertices, tets = structured_box_mesh((4, 3, 2), 1.7, (0.3, -2.0, 5.0))
    rng = np.random.default_rng(7)
    vertices = vertices + rng.uniform(-0.15, 0.15, vertices.shape)  # irregular tets
    index = TetGridIndex(vertices, tets)
    start = rng.uniform(vertices.min(0) - 1, vertices.max(0) + 1, (80, 3))
    end = start + rng.normal(scale=2.5, size=(80, 3))
    seg, tet = index.candidate_pairs(start, end)
    assert len(set(zip(seg.tolist(), tet.tolist(), strict=True))) == len(seg)  # each pair once
    all_seg, all_tet = (x.ravel() for x in np.meshgrid(np.arange(80), np.arange(len(tets)), indexing="ij"))
    t_lo, t_hi, _ = index.clip(start, end, all_seg, all_tet)
    real = set(zip(all_seg[t_hi > t_lo].tolist(), all_tet[t_hi > t_lo].tolist(), strict=True))
    assert real <= set(zip(seg.tolist(), tet.tolist(), strict=True))
    assert len(real) > 50
    # and the result through the index equals the brute-force clipping
    overlap = segment_tet_overlap(start, end, vertices, tets, index=index, chunk_segments=17)
    brute = np.zeros((80, len(tets)))
    hit = t_hi > t_lo
    np.add.at(brute, (all_seg[hit], all_tet[hit]), t_hi[hit] - t_lo[hit])
    np.testing.assert_allclose(overlap.fractions.toarray(), brute, rtol=0, atol=1e-12)


def test_degenerate_tet_is_ignored_with_a_warning(caplog):
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [2, 0, 0]], float)
    tets = np.array([[0, 1, 2, 3], [0, 1, 4, 2]])  # the second one is flat (all z = 0)
    with caplog.at_level(logging.WARNING):
        overlap = segment_tet_overlap([[0.1, 0.1, 0.0]], [[0.1, 0.1, 0.5]], vertices, tets)
    assert "1 degenerate" in caplog.text
    np.testing.assert_allclose(overlap.fractions.toarray(), [[1.0, 0.0]], atol=1e-12)


def test_real_morphology_length_is_conserved(allen_morphologies):
    """A reconstructed neuron (read by morphio) in a mesh around its bounding box: every µm of
    neurite lands in exactly one tet; in a mesh covering half of it, the outside length is the
    length beyond the cut plane."""
    morphio = pytest.importorskip("morphio")
    morphology = morphio.Morphology(str(allen_morphologies / "Pvalb_469628681_m.swc"))
    start = np.concatenate([s.points[:-1] for s in morphology.iter()]).astype(np.float64)
    end = np.concatenate([s.points[1:] for s in morphology.iter()]).astype(np.float64)
    lo, hi = np.minimum(start, end).min(axis=0) - 1.0, np.maximum(start, end).max(axis=0) + 1.0
    spacing = 10.0
    n_cubes = tuple(int(n) for n in np.ceil((hi - lo) / spacing))
    vertices, tets = structured_box_mesh(n_cubes, spacing, tuple(lo))
    overlap = segment_tet_overlap(start, end, vertices, tets)
    assert overlap.n_outside == 0
    length = np.linalg.norm(end - start, axis=1)
    inside = overlap.fractions.T @ length
    assert inside.sum() == pytest.approx(length.sum(), rel=1e-12)
    # cut the box at x = x_cut: the outside length is the analytic length of the parts beyond it
    keep_cubes = (n_cubes[0] // 2, n_cubes[1], n_cubes[2])
    x_cut = lo[0] + keep_cubes[0] * spacing
    half_vertices, half_tets = structured_box_mesh(keep_cubes, spacing, tuple(lo))
    half = segment_tet_overlap(start, end, half_vertices, half_tets)
    x0, x1 = start[:, 0], end[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        beyond = np.where(
            x1 == x0,
            (x0 > x_cut).astype(float),
            np.clip((np.maximum(x0, x1) - np.maximum(np.minimum(x0, x1), x_cut)) / np.abs(x1 - x0), 0, 1),
        )
    expected_outside = float(np.sum(beyond * length))
    assert expected_outside > 100.0
    assert half.outside_length_um == pytest.approx(expected_outside, rel=1e-9)


def gmsh_box(size_um: tuple[float, float, float], mesh_size_um: float):
    """An unstructured tet mesh of a box, made by gmsh (irregular tets of every orientation)."""
    gmsh = pytest.importorskip("gmsh")
    gmsh.initialize(interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("box")
        gmsh.model.occ.addBox(0, 0, 0, *size_um)
        gmsh.model.occ.synchronize()
        gmsh.option.setNumber("Mesh.MeshSizeMax", mesh_size_um)
        gmsh.model.mesh.generate(3)
        node_tags, coords, _ = gmsh.model.mesh.getNodes()
        _, tet_nodes = gmsh.model.mesh.getElementsByType(4)
    finally:
        gmsh.finalize()
    position = np.empty(int(node_tags.max()) + 1, dtype=np.int64)
    position[node_tags.astype(np.int64)] = np.arange(len(node_tags))
    return coords.reshape(-1, 3), position[tet_nodes.astype(np.int64)].reshape(-1, 4)


def test_unstructured_gmsh_mesh_against_box_clipping():
    size = np.array([12.0, 8.0, 10.0])
    vertices, tets = gmsh_box(tuple(size), 2.0)
    assert len(tets) > 300
    assert tet_volumes_um3(vertices, tets).sum() == pytest.approx(size.prod(), rel=1e-12)
    rng = np.random.default_rng(4)
    start = rng.uniform(0, 1, (300, 3)) * size
    end = start + rng.normal(scale=4.0, size=(300, 3))
    overlap = segment_tet_overlap(start, end, vertices, tets)
    # the part inside the mesh is the part inside the box: slab clipping of each segment
    d = end - start
    with np.errstate(divide="ignore", invalid="ignore"):
        t0, t1 = -start / d, (size - start) / d
    lo = np.max(np.where(d != 0, np.minimum(t0, t1), 0.0), axis=1, initial=0.0)
    hi = np.min(np.where(d != 0, np.maximum(t0, t1), 1.0), axis=1, initial=1.0)
    inside = np.clip(hi - lo, 0.0, 1.0)
    np.testing.assert_allclose(np.asarray(overlap.fractions.sum(axis=1)).ravel(), inside, rtol=0, atol=1e-12)
    assert overlap.n_outside == int(np.sum(inside < 1 - 1e-9))
    assert 0 < overlap.n_outside < 300
