"""The ECS mesh: gmsh generation, loading, face adjacency, point location, partition."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale_run import mesh
from multiscale_run.errors import UserError

LO = np.array([0.0, 0.0, 0.0])
HI = np.array([40.0, 60.0, 30.0])
SECTION = {"mesh_generation": {"margin_um": 5.0, "characteristic_length_um": 8.0}}


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    path = tmp_path_factory.mktemp("mesh") / "box.msh"
    mesh.generate_mesh(path, LO, HI, SECTION)
    return path, mesh.read_mesh(path)


def test_generated_file_is_msh_2_2_and_fills_the_box_with_margin(box):
    path, geometry = box
    assert path.read_text().splitlines()[1].split()[0] == "2.2"
    lo, hi = LO - 5.0, HI + 5.0
    np.testing.assert_allclose(geometry.vertices_um.min(axis=0), lo)
    np.testing.assert_allclose(geometry.vertices_um.max(axis=0), hi)
    assert geometry.volume_um3.sum() == pytest.approx(np.prod(hi - lo), rel=1e-9)
    assert np.all(geometry.volume_um3 > 0)


def test_boundary_faces_cover_the_box_surface(box):
    _, geometry = box
    adjacency = mesh.face_adjacency(geometry)
    # every tet has 4 faces: interior ones are shared by two tets, the rest lie on the boundary
    faces = np.sort(geometry.tets[:, [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]]].reshape(-1, 3), axis=1)
    p = geometry.vertices_um[faces]
    all_area = 0.5 * np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1).sum()
    boundary_area = all_area - 2 * adjacency.area_um2.sum()
    d = (HI + 5.0) - (LO - 5.0)
    assert boundary_area == pytest.approx(2 * (d[0] * d[1] + d[1] * d[2] + d[0] * d[2]), rel=1e-9)
    assert len(adjacency.a) == (4 * len(geometry.tets) - _n_boundary_faces(faces)) // 2
    # the normal-projected distance never exceeds the distance between the centres
    assert np.all(adjacency.distance_um <= adjacency.centre_distance_um * (1 + 1e-12))
    assert np.all(adjacency.distance_um > 0)


def _n_boundary_faces(faces: np.ndarray) -> int:
    _, counts = np.unique(faces, axis=0, return_counts=True)
    return int((counts == 1).sum())


def test_locate_points_agrees_with_the_box_and_with_barycentric_coordinates(box):
    _, geometry = box
    rng = np.random.default_rng(3)
    points = rng.uniform(LO - 15.0, HI + 15.0, size=(5000, 3))
    where = mesh.locate_points(points, geometry)
    inside_box = np.all((points >= LO - 5.0) & (points <= HI + 5.0), axis=1)
    np.testing.assert_array_equal(where >= 0, inside_box)
    # each located point is a convex combination of its tet's vertices
    found = np.flatnonzero(where >= 0)
    v = geometry.vertices_um[geometry.tets[where[found]]]
    T = np.concatenate([v.transpose(0, 2, 1), np.ones((len(found), 1, 4))], axis=1)
    rhs = np.concatenate([points[found], np.ones((len(found), 1))], axis=1)
    weights = np.linalg.solve(T, rhs[..., None])[..., 0]
    assert weights.min() > -1e-9


def test_count_segments_outside(box):
    _, geometry = box
    start = np.array([[1.0, 1.0, 1.0], [10.0, 10.0, 10.0], [-4.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    end = np.array([[2.0, 2.0, 2.0], [100.0, 10.0, 10.0], [-3.0, 1.0, 1.0], [-30.0, 0.0, 0.0]])
    # 1: inside; 2: leaves the mesh; 3: inside the margin; 4: mid point and end outside
    assert mesh.count_segments_outside(start, end, geometry) == 2


def test_existing_mesh_is_used_as_it_is(box, tmp_path):
    path, _ = box
    before = path.read_bytes()
    assert mesh.ensure_mesh(path, {"mesh_generation": {"characteristic_length_um": 3.0}}, (LO, HI)) == path
    assert path.read_bytes() == before


def test_missing_mesh_without_geometry_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        mesh.ensure_mesh(tmp_path / "none.msh", SECTION, None)
    with pytest.raises(UserError, match="mesh file not found"):
        mesh.read_mesh(tmp_path / "none.msh")


def test_refinement_splits_every_tet_into_eight(tmp_path):
    coarse = mesh.read_mesh(mesh.generate_mesh(tmp_path / "a.msh", LO, HI, SECTION))
    section = {"mesh_generation": {**SECTION["mesh_generation"], "refinement": 1}}
    fine = mesh.read_mesh(mesh.generate_mesh(tmp_path / "b.msh", LO, HI, section))
    assert len(fine.tets) == 8 * len(coarse.tets)
    assert fine.volume_um3.sum() == pytest.approx(coarse.volume_um3.sum(), rel=1e-9)


def test_bad_generation_settings_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="characteristic_length_um"):
        mesh.generate_mesh(tmp_path / "x.msh", LO, HI, {"mesh_generation": {"characteristic_length_um": 0}})


def test_degenerate_tet_is_rejected():
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=float)
    ok = mesh.tet_geometry(vertices, np.array([[0, 1, 2, 4]]))
    mesh.check_not_degenerate(ok)
    flat = mesh.tet_geometry(vertices, np.array([[0, 1, 2, 4], [0, 1, 2, 3]]))
    with pytest.raises(UserError, match=r"1 degenerate tetrahedra \(first: tet 1"):
        mesh.check_not_degenerate(flat)


def test_slab_partition_balances_and_cuts_across_the_longest_axis(box):
    _, geometry = box
    hosts = mesh.slab_partition(geometry, 4)
    counts = np.bincount(hosts)
    assert len(counts) == 4 and counts.max() - counts.min() <= 1
    y = mesh.tet_barycentres_um(geometry)[:, 1]  # y is the longest side of the box
    for rank in range(3):
        assert y[hosts == rank].max() <= y[hosts == rank + 1].min()
    np.testing.assert_array_equal(mesh.slab_partition(geometry, 1), 0)


def test_bounding_box_ignores_empty_arrays():
    lo, hi = mesh.bounding_box_um(np.zeros((0, 3)), np.array([[1, 2, 3], [-1, 5, 0]]))
    np.testing.assert_array_equal(lo, [-1, 2, 0])
    np.testing.assert_array_equal(hi, [1, 5, 3])
