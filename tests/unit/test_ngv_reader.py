"""The NGV reader on a small hand-made NGV fragment written from the SONATA extension spec with
h5py: our generated vasculature, an astrocyte population and endfoot edges, each endfoot on the
vessel segment nearest its astrocyte (found here by brute force). The circuit config is judged by
libsonata (which requires the astrocyte ``microdomains_file`` and endfoot ``endfeet_meshes_file``)."""

from __future__ import annotations

import json

import h5py
import libsonata
import numpy as np
import pytest

from multiscale_run.bloodflow import read_sonata_vasculature
from multiscale_run.circuit.ngv import read_astrocytes, read_endfeet
from multiscale_run.circuit.vasculature import build_vasculature
from multiscale_run.errors import UserError

BBOX = (np.array([0.0, 0.0, 0.0]), np.array([200.0, 300.0, 200.0]))
N_ASTROCYTES = 5
ENDFEET_PER_ASTROCYTE = 2


def nearest_segments(net, point, k):
    """The k vessel segments whose axis passes closest to ``point`` and the closest axis points."""
    d = net.end_um - net.start_um
    s = np.clip(np.einsum("ij,ij->i", point - net.start_um, d) / np.einsum("ij,ij->i", d, d), 0, 1)
    foot = net.start_um + s[:, None] * d
    order = np.argsort(np.linalg.norm(foot - point, axis=1))[:k]
    return order, foot[order]


def write_fragment(directory, corrupt_segment_id=False):
    info = build_vasculature(directory, BBOX, seed=2)
    net = read_sonata_vasculature(info["nodes_file"])
    rng = np.random.default_rng(0)
    soma = BBOX[0] + (BBOX[1] - BBOX[0]) * rng.uniform(0.2, 0.8, (N_ASTROCYTES, 3))
    with h5py.File(directory / "astrocytes.h5", "w") as f:
        pop = f.create_group("nodes/astrocytes")
        pop["node_type_id"] = np.full(N_ASTROCYTES, -1, dtype=np.int64)
        pop["node_group_id"] = np.zeros(N_ASTROCYTES, dtype=np.uint32)
        pop["node_group_index"] = np.arange(N_ASTROCYTES, dtype=np.uint64)
        group = pop.create_group("0")
        for i, a in enumerate("xyz"):
            group[a] = soma[:, i].astype(np.float32)
        group["radius"] = rng.uniform(4.0, 6.0, N_ASTROCYTES).astype(np.float32)
        group["morphology"] = np.array(
            [f"GLIA_{i:03d}" for i in range(N_ASTROCYTES)], dtype=h5py.string_dtype()
        )
        group["model_type"] = np.array(["biophysical"] * N_ASTROCYTES, dtype=h5py.string_dtype())
    sources, targets, surface = [], [], []
    for i, point in enumerate(soma):
        segs, feet = nearest_segments(net, point, ENDFEET_PER_ASTROCYTE)
        radius = net.radius_um[segs]
        # on the vessel wall, on the side facing the astrocyte
        towards = (point - feet) / np.linalg.norm(point - feet, axis=1)[:, None]
        surface.append(feet + radius[:, None] * towards)
        sources += [i] * len(segs)
        targets += segs.tolist()
    n = len(sources)
    vpop = libsonata.NodeStorage(info["nodes_file"]).open_population("vasculature")
    vsel = libsonata.Selection(np.array(targets))
    section_id = np.asarray(vpop.get_attribute("section_id", vsel))
    segment_id = np.asarray(vpop.get_attribute("segment_id", vsel)) + (1 if corrupt_segment_id else 0)
    surface = np.concatenate(surface)
    with h5py.File(directory / "endfeet.h5", "w") as f:
        pop = f.create_group("edges/endfoot")
        pop.create_dataset("source_node_id", data=np.array(sources, dtype=np.uint64))
        pop["source_node_id"].attrs["node_population"] = "astrocytes"
        pop.create_dataset("target_node_id", data=np.array(targets, dtype=np.uint64))
        pop["target_node_id"].attrs["node_population"] = "vasculature"
        pop["edge_type_id"] = np.full(n, -1, dtype=np.int64)
        pop["edge_group_id"] = np.zeros(n, dtype=np.uint32)
        pop["edge_group_index"] = np.arange(n, dtype=np.uint64)
        group = pop.create_group("0")
        group["endfoot_id"] = np.arange(n, dtype=np.uint64)
        for i, a in enumerate("xyz"):
            group[f"endfoot_surface_{a}"] = surface[:, i].astype(np.float32)
        group["endfoot_compartment_length"] = np.full(n, 15.0, dtype=np.float32)
        group["endfoot_compartment_diameter"] = np.full(n, 0.8, dtype=np.float32)
        group["endfoot_compartment_perimeter"] = np.full(n, 2.5, dtype=np.float32)
        group["astrocyte_section_id"] = np.arange(1, n + 1, dtype=np.uint32)
        group["vasculature_section_id"] = section_id.astype(np.uint32)
        group["vasculature_segment_id"] = segment_id.astype(np.uint32)
    libsonata.EdgePopulation.write_indices(
        str(directory / "endfeet.h5"), "endfoot", N_ASTROCYTES, net.n_segments
    )
    (directory / "microdomains.h5").touch()
    (directory / "endfeet_meshes.h5").touch()
    config = json.loads((directory / "circuit_config.json").read_text())
    config["networks"]["nodes"].append(
        {
            "nodes_file": "$BASE_DIR/astrocytes.h5",
            "populations": {
                "astrocytes": {"type": "astrocyte", "microdomains_file": "$BASE_DIR/microdomains.h5"}
            },
        }
    )
    config["networks"]["edges"].append(
        {
            "edges_file": "$BASE_DIR/endfeet.h5",
            "populations": {
                "endfoot": {"type": "endfoot", "endfeet_meshes_file": "$BASE_DIR/endfeet_meshes.h5"}
            },
        }
    )
    (directory / "circuit_config.json").write_text(json.dumps(config, indent=2))
    return directory / "circuit_config.json", net, soma, np.array(targets), surface


def test_astrocytes_and_endfeet_are_read_and_mapped_to_the_right_segments(tmp_path):
    config, net, soma, targets, surface = write_fragment(tmp_path)
    astro = read_astrocytes(config)
    assert astro.population == "astrocytes"
    np.testing.assert_allclose(astro.position_um, soma, rtol=1e-6)
    assert astro.morphology[3] == "GLIA_003"
    feet = read_endfeet(config)
    np.testing.assert_array_equal(feet.vessel_segment, targets)
    np.testing.assert_array_equal(feet.astrocyte, np.repeat(np.arange(N_ASTROCYTES), ENDFEET_PER_ASTROCYTE))
    np.testing.assert_allclose(feet.surface_um, surface, rtol=1e-6)
    # each endfoot touches the wall of its segment: one radius from the segment's axis
    seg = feet.vessel_segment
    d = net.end_um[seg] - net.start_um[seg]
    rel = feet.surface_um - net.start_um[seg]
    s = np.clip(np.einsum("ij,ij->i", rel, d) / np.einsum("ij,ij->i", d, d), 0, 1)
    distance = np.linalg.norm(feet.surface_um - (net.start_um[seg] + s[:, None] * d), axis=1)
    np.testing.assert_allclose(distance, net.radius_um[seg], rtol=1e-4, atol=1e-4)
    assert feet.per_segment(net.n_segments).sum() == N_ASTROCYTES * ENDFEET_PER_ASTROCYTE
    # libsonata's own view of the edges (indices written by libsonata) agrees
    edges = libsonata.EdgeStorage(str(tmp_path / "endfeet.h5")).open_population("endfoot")
    afferent = edges.afferent_edges([int(targets[0])])
    assert int(feet.vessel_segment[afferent.flatten()[0]]) == targets[0]


def test_endfoot_naming_another_segment_is_an_error_naming_the_file(tmp_path):
    config, *_ = write_fragment(tmp_path, corrupt_segment_id=True)
    with pytest.raises(UserError, match="other than the segment they target") as err:
        read_endfeet(config)
    assert str(config) in str(err.value)
