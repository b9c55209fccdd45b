"""The operator cache: a changed input never loads a stale operator; identical inputs load."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
import scipy.sparse as sp

from multiscale_run.coupling.cache import OperatorCache, hash_inputs
from multiscale_run.coupling.geometry import Geometry, structured_box_mesh
from multiscale_run.coupling.operators import OperatorBuilder
from multiscale_run.mesh import tet_geometry
from multiscale_run.spaces import SegmentGeometry


def geometry() -> Geometry:
    vertices, tets = structured_box_mesh((3, 2, 2), 2.0)
    rng = np.random.default_rng(11)
    start = rng.uniform(0, 4, (30, 3))
    segments = SegmentGeometry(
        start_um=start,
        end_um=start + rng.normal(size=(30, 3)),
        area_um2=rng.uniform(1, 2, 30),
        volume_um3=rng.uniform(1, 2, 30),
        neuron_index=np.repeat(np.arange(5), 6),
        gids=np.arange(5) * 2,
    )
    return Geometry(segments, tet_geometry(vertices, tets))


class CountingBuilder:
    """Builds through the real OperatorBuilder and counts how often it had to."""

    def __init__(self, geometry: Geometry):
        self.geometry = geometry
        self.calls = 0

    def __call__(self, name: str):
        def build():
            self.calls += 1
            return OperatorBuilder(self.geometry).build(name)

        return build


def get(cache: OperatorCache, geo: Geometry, counter: CountingBuilder, name="tet_to_neuron", extra=None):
    counter.geometry = geo
    return cache.get_or_build(
        name, {"segments": geo.segments, "tets": geo.tets, "extra": extra}, counter(name)
    )


def test_identical_inputs_load_without_building(tmp_path):
    geo, counter = geometry(), CountingBuilder(geometry())
    first = get(OperatorCache(tmp_path), geo, counter)
    cache = OperatorCache(tmp_path)
    again = get(cache, geometry(), counter)  # equal arrays, new objects
    assert counter.calls == 1
    assert cache.loaded == ["tet_to_neuron"] and cache.built == []
    assert isinstance(again, sp.csr_matrix)
    assert (first != again).nnz == 0 and first.shape == again.shape
    files = list((tmp_path / "operators" / "n1").iterdir())
    assert [f.name.split(".")[0] for f in files] == ["tet_to_neuron"]  # no temporary left over


def test_moving_one_vertex_rebuilds(tmp_path):
    geo, counter = geometry(), CountingBuilder(geometry())
    before = get(OperatorCache(tmp_path), geo, counter)
    vertices = geo.tets.vertices_um.copy()
    vertices[7] += [0.0, 0.0, 0.5]
    moved = Geometry(geo.segments, dataclasses.replace(geo.tets, vertices_um=vertices))
    cache = OperatorCache(tmp_path)
    after = get(cache, moved, counter)
    assert counter.calls == 2 and cache.built == ["tet_to_neuron"]
    expected = OperatorBuilder(moved).build("tet_to_neuron")
    assert (after != expected).nnz == 0
    assert (after != before).nnz > 0  # the vertex mattered: a stale load would have been wrong


def test_moving_one_segment_end_rebuilds(tmp_path):
    geo, counter = geometry(), CountingBuilder(geometry())
    get(OperatorCache(tmp_path), geo, counter, name="segment_to_tet")
    end = geo.segments.end_um.copy()
    end[3, 0] += 1e-9
    moved = Geometry(dataclasses.replace(geo.segments, end_um=end), geo.tets)
    cache = OperatorCache(tmp_path)
    after = get(cache, moved, counter, name="segment_to_tet")
    assert counter.calls == 2 and cache.loaded == []
    assert (after != OperatorBuilder(moved).build("segment_to_tet")).nnz == 0
    # the older file is gone: one file per operator and rank
    assert len(list((tmp_path / "operators" / "n1").glob("segment_to_tet.*.npz"))) == 1


def test_changed_input_file_rebuilds(tmp_path):
    mesh_file = tmp_path / "mesh.msh"
    mesh_file.write_text("mesh v1")
    geo, counter = geometry(), CountingBuilder(geometry())
    cache_dir = tmp_path / "cache"
    get(OperatorCache(cache_dir), geo, counter, extra={"mesh": mesh_file, "node_set": "All"})
    get(OperatorCache(cache_dir), geo, counter, extra={"mesh": mesh_file, "node_set": "All"})
    assert counter.calls == 1
    mesh_file.write_text("mesh v2")
    get(OperatorCache(cache_dir), geo, counter, extra={"mesh": mesh_file, "node_set": "All"})
    assert counter.calls == 2
    get(OperatorCache(cache_dir), geo, counter, extra={"mesh": mesh_file, "node_set": "Layer1"})
    assert counter.calls == 3


def test_no_cache_switch_rebuilds(tmp_path):
    geo, counter = geometry(), CountingBuilder(geometry())
    get(OperatorCache(tmp_path), geo, counter)
    cache = OperatorCache(tmp_path, use_cache=False)
    get(cache, geo, counter)
    assert counter.calls == 2 and cache.built == ["tet_to_neuron"]


def test_unreadable_file_is_rebuilt(tmp_path, caplog):
    geo, counter = geometry(), CountingBuilder(geometry())
    get(OperatorCache(tmp_path), geo, counter)
    (file,) = (tmp_path / "operators" / "n1").glob("*.npz")
    file.write_bytes(b"not a zip file")
    with caplog.at_level(logging.WARNING):
        matrix = get(OperatorCache(tmp_path), geo, counter)
    assert counter.calls == 2 and "cannot read cached operator" in caplog.text
    assert (matrix != OperatorBuilder(geo).build("tet_to_neuron")).nnz == 0


def _truncate(file):
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])


def _other_zip(file):
    import zipfile

    with zipfile.ZipFile(file, "w") as archive:
        archive.writestr("data.npy", b"\x93NUMPY garbage")


def _unreadable_dir(file):
    file.unlink()
    file.mkdir()


@pytest.mark.parametrize(
    "damage",
    [
        lambda f: f.write_bytes(b""),  # empty: EOFError / BadZipFile
        _truncate,  # truncated: BadZipFile
        _other_zip,  # a zip without the sparse arrays: KeyError / ValueError
        lambda f: f.write_bytes(f.read_bytes()[:-22] + b"\0" * 22),  # a corrupted central directory
        _unreadable_dir,  # a folder where the file should be: IsADirectoryError
    ],
    ids=["empty", "truncated", "foreign-zip", "corrupt-directory", "directory"],
)
def test_any_damaged_entry_is_logged_and_rebuilt_identically(tmp_path, caplog, damage):
    geo, counter = geometry(), CountingBuilder(geometry())
    first = get(OperatorCache(tmp_path), geo, counter)
    (file,) = (tmp_path / "operators" / "n1").glob("*.npz")
    damage(file)
    with caplog.at_level(logging.WARNING):
        cache = OperatorCache(tmp_path)
        matrix = get(cache, geo, counter) if file.is_file() else None
    if matrix is None:  # a folder in the way: not a file, so simply not found and rebuilt
        file.rmdir()
        matrix = get(cache, geo, counter)
    else:
        assert "cannot read cached operator" in caplog.text and str(file) in caplog.text
    assert counter.calls == 2 and cache.built == ["tet_to_neuron"]
    assert matrix.shape == first.shape and (matrix != first).nnz == 0
    assert np.array_equal(matrix.indptr, first.indptr) and np.array_equal(matrix.data, first.data)
    reloaded = OperatorCache(tmp_path)
    get(reloaded, geo, counter)  # the rebuilt entry is readable again
    assert reloaded.loaded == ["tet_to_neuron"]


def test_operator_convenience_keys_on_the_geometry_it_uses(tmp_path):
    geo = geometry()
    cache = OperatorCache(tmp_path)
    first = cache.operator("segment_to_neuron_area_mean", geo)
    # moving the mesh does not concern a segment->neuron operator
    shifted = dataclasses.replace(geo.tets, vertices_um=geo.tets.vertices_um + 1.0)
    second_cache = OperatorCache(tmp_path)
    second = second_cache.operator("segment_to_neuron_area_mean", Geometry(geo.segments, shifted))
    assert second_cache.loaded == ["segment_to_neuron_area_mean"]
    assert (first != second).nnz == 0
    third = OperatorCache(tmp_path)
    third.operator("tet_to_neuron", Geometry(geo.segments, shifted))
    third.operator("tet_to_neuron", geo)
    assert third.built == ["tet_to_neuron", "tet_to_neuron"]


def test_hash_distinguishes_dtype_shape_and_rejects_unknown_types():
    values = np.arange(6, dtype=np.int64)
    assert hash_inputs(values) != hash_inputs(values.astype(np.int32))
    assert hash_inputs(values) != hash_inputs(values.reshape(2, 3))
    assert hash_inputs({"a": 1, "b": 2}) == hash_inputs({"b": 2, "a": 1})
    assert hash_inputs([1, "1"]) != hash_inputs(["1", 1])
    with pytest.raises(TypeError, match="cannot hash a cache key input of type object"):
        hash_inputs(object())
