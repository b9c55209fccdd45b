"""The generated default circuit, judged by libsonata, bluepysnap and morphio."""

from __future__ import annotations

import json

import libsonata
import morphio
import numpy as np
import pytest

from multiscale_run.circuit.default import build_default_circuit


@pytest.fixture(scope="module")
def circuit(tmp_path_factory):
    return build_default_circuit(tmp_path_factory.mktemp("default"), n_neurons=50, seed=1)


def test_nodes_and_edges(circuit):
    cfg = libsonata.CircuitConfig.from_file(str(circuit.circuit_config))
    nodes = cfg.node_population("neurons")
    assert nodes.size == 50
    for attr in ("x", "y", "z", "orientation_w", "morphology", "model_template", "layer", "mtype", "etype"):
        assert attr in nodes.attribute_names
    all_nodes = libsonata.Selection([(0, 50)])
    kinds = {m.split("_")[1] for m in nodes.get_attribute("morphology", all_nodes)}
    assert {"pyramidal", "basket", "bipolar"} <= kinds
    edges = cfg.edge_population("neurons__neurons__chemical")
    assert edges.size > 0 and edges.source == "neurons" and edges.target == "neurons"
    delays = edges.get_attribute("delay", libsonata.Selection([(0, edges.size)]))
    assert np.all(delays > 0)
    node_sets = libsonata.NodeSets.from_file(str(circuit.node_sets_file))
    exc = node_sets.materialize("Excitatory", nodes).flatten()
    inh = node_sets.materialize("Inhibitory", nodes).flatten()
    assert len(exc) + len(inh) == 50 and len(inh) > 0
    spikes = libsonata.SpikeReader(circuit.inputs["thalamic_poisson"]["spike_file"])["thalamus"]
    assert len(spikes.get()) > 0


def test_bluepysnap_reads_it(circuit):
    bluepysnap = pytest.importorskip("bluepysnap")
    c = bluepysnap.Circuit(str(circuit.circuit_config))
    assert c.nodes["neurons"].size == 50
    positions = c.nodes["neurons"].positions()
    assert positions.shape == (50, 3)
    orientations = c.nodes["neurons"].orientations()
    assert np.allclose([np.linalg.det(m) for m in orientations], 1.0)


def test_morphologies_and_bounding_box(circuit):
    cfg = json.loads(circuit.circuit_config.read_text())
    morph_dir = circuit.directory / cfg["components"]["morphologies_dir"]
    nodes = libsonata.CircuitConfig.from_file(str(circuit.circuit_config)).node_population("neurons")
    sel = libsonata.Selection([(0, 50)])
    pos = np.stack([nodes.get_attribute(c, sel) for c in "xyz"], axis=1)
    lo, hi = circuit.bounding_box_um
    assert np.all(pos >= lo) and np.all(pos <= hi)
    for name in set(nodes.get_attribute("morphology", sel)):
        m = morphio.Morphology(str(morph_dir / f"{name}.swc"))
        types = set(np.asarray(m.section_types).tolist())
        assert int(morphio.SectionType.axon) in types
        if "pyramidal" in name:
            assert int(morphio.SectionType.apical_dendrite) in types


def test_invalid_size(tmp_path):
    with pytest.raises(ValueError, match="n_neurons"):
        build_default_circuit(tmp_path, n_neurons=0)
