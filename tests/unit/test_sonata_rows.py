"""Reading only chosen rows (multiscale_run.circuit.rows): the same values as h5py's whole read
indexed by numpy, and afferent edges through the SONATA index as libsonata selects them."""

from __future__ import annotations

from pathlib import Path

import h5py
import libsonata
import numpy as np
import pytest

from multiscale_run.circuit.default import build_default_circuit
from multiscale_run.circuit.rows import read_dataset, read_rows
from multiscale_run.circuit.sonata import Circuit

BBP = Path(__file__).resolve().parents[3] / "shared" / "data" / "circuits" / "bbp_sub_mini5" / "sub_mini5"


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rows") / "data.h5"
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f["numbers"] = rng.normal(size=1000)
        f["pairs"] = rng.integers(0, 100, size=(1000, 2)).astype(np.uint64)
        f.create_dataset("text", data=[f"s{i}" for i in range(1000)], dtype=h5py.string_dtype())
        f["library_ids"] = rng.integers(0, 3, 1000).astype(np.uint32)
        f.create_dataset("@library/library_ids", data=["a", "bb", "ccc"], dtype=h5py.string_dtype())
    return path


@pytest.mark.parametrize(
    "rows",
    [
        np.arange(1000)[::2],  # round-robin: 500 runs of one
        np.array([5, 5, 999, 0, 6, 7, 8, 300]),  # any order, repeats
        np.arange(100, 400),  # one run
        np.zeros(0, np.int64),
    ],
)
def test_rows_read_are_numpys_rows_of_the_whole(datasets, rows):
    with h5py.File(datasets, "r") as f:
        for name in ("numbers", "pairs"):
            want = f[name][()][rows]
            got = read_rows(f[name], rows)
            assert got.dtype == want.dtype and np.array_equal(got, want)
        assert read_rows(f["text"], rows, strings=True).tolist() == list(
            np.asarray(f["text"].asstr()[()])[rows]
        )
        whole = read_dataset(f, "library_ids")
        assert whole.tolist() == [["a", "bb", "ccc"][i] for i in f["library_ids"][()]]
        assert read_dataset(f, "library_ids", rows).tolist() == whole[rows].tolist()


def _compare_with_libsonata(edges_file: Path, population: str, edges, targets: np.ndarray) -> None:
    theirs = libsonata.EdgeStorage(str(edges_file)).open_population(population)
    selection = theirs.afferent_edges(targets.tolist())
    got = edges.afferent(targets)
    assert got["edge_id"].tolist() == selection.flatten().tolist()
    assert got["source"].tolist() == theirs.source_nodes(selection).tolist()
    assert got["target"].tolist() == theirs.target_nodes(selection).tolist()
    for name in theirs.attribute_names:
        assert np.asarray(got[name]).tolist() == np.asarray(theirs.get_attribute(name, selection)).tolist(), (
            name
        )


def test_afferent_edges_through_the_index_are_libsonatas(tmp_path):
    build_default_circuit(tmp_path, n_neurons=40, seed=2)
    circuit = Circuit(tmp_path / "circuit_config.json")
    for name, edges in circuit.edges.items():
        with h5py.File(edges.file, "r") as f:
            assert f"edges/{name}/indices/target_to_source" in f  # the indexed path is the one tested
        for targets in (np.arange(40)[1::2], np.array([3, 17, 39]), np.zeros(0, np.int64)):
            _compare_with_libsonata(Path(edges.file), name, edges, targets)


@pytest.mark.skipif(not BBP.is_dir(), reason="the shared circuits are not installed")
def test_afferent_edges_of_a_bbp_circuit_are_libsonatas():
    circuit = Circuit(BBP / "circuit_config.json")
    for name, edges in circuit.edges.items():
        n = circuit.nodes[edges.target].size
        _compare_with_libsonata(Path(edges.file), name, edges, np.arange(n)[::3])
