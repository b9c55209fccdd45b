"""The generated vasculature: a valid SONATA population (judged by libsonata and morphio) that
carries blood from top inlets to top outlets."""

from __future__ import annotations

import json

import libsonata
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph

from multiscale_run.bloodflow import BoundaryConditions, read_sonata_vasculature, solve_flow
from multiscale_run.bloodflow.network import VesselType
from multiscale_run.bloodflow.poiseuille import net_outflow_um3_s
from multiscale_run.circuit.vasculature import build_vasculature

BBOX = (np.array([-100.0, 0.0, 50.0]), np.array([200.0, 800.0, 250.0]))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    directory = tmp_path_factory.mktemp("circuit")
    info = build_vasculature(directory, BBOX, seed=3)
    return directory, info


def test_circuit_config_declares_a_vasculature_population(built):
    directory, info = built
    config = libsonata.CircuitConfig.from_file(str(directory / "circuit_config.json"))
    assert "vasculature" in config.node_populations
    props = config.node_population_properties("vasculature")
    assert props.type == "vasculature"
    assert props.elements_path == info["nodes_file"]
    pop = config.node_population("vasculature")
    assert pop.size == info["n_segments"]
    required = {"start_x", "start_y", "start_z", "end_x", "end_y", "end_z", "start_diameter", "end_diameter"}
    required |= {"start_node", "end_node", "type", "section_id", "segment_id", "model_type"}
    assert required <= set(pop.attribute_names)
    assert set(pop.get_attribute("model_type", pop.select_all())) == {"vasculature"}


def test_geometry_lies_in_the_box_and_types_are_sonata_codes(built):
    _directory, info = built
    pop = libsonata.NodeStorage(info["nodes_file"]).open_population("vasculature")
    sel = pop.select_all()
    for end in ("start", "end"):
        xyz = np.column_stack([pop.get_attribute(f"{end}_{a}", sel) for a in "xyz"])
        assert np.all(xyz >= BBOX[0] - 1e-3) and np.all(xyz <= BBOX[1] + 1e-3)
    types = set(np.unique(pop.get_attribute("type", sel)).tolist())
    assert types == {int(VesselType.ARTERIOLE), int(VesselType.VENULE), 5, 6}
    d = np.asarray(pop.get_attribute("start_diameter", sel))
    assert np.all(d >= 3.5) and np.all(d <= 16.0)


def test_network_is_connected_with_inlets_and_outlets_on_top(built):
    _, info = built
    net = read_sonata_vasculature(info["nodes_file"])
    adjacency = sp.coo_matrix(
        (np.ones(net.n_segments), (net.start_node, net.end_node)), shape=(net.n_nodes,) * 2
    )
    n_comp, _ = csgraph.connected_components(adjacency, directed=False)
    assert n_comp == 1
    entries, exits = net.detect_entries_exits()
    assert sorted(entries.tolist()) == sorted(info["entry_nodes"])
    assert sorted(exits.tolist()) == sorted(info["exit_nodes"])
    assert entries.size >= 1 and exits.size >= 1
    # the inlets and outlets sit on the top face (y = max)
    top = np.concatenate([net.start_um, net.end_um])[:, 1].max()
    assert top == pytest.approx(BBOX[1][1])
    node_y = np.zeros(net.n_nodes)
    node_y[net.start_node] = net.start_um[:, 1]
    node_y[net.end_node] = net.end_um[:, 1]
    np.testing.assert_allclose(node_y[np.concatenate([entries, exits])], BBOX[1][1], atol=1e-3)


def test_blood_flows_down_the_arterioles_and_kirchhoff_holds(built):
    _, info = built
    net = read_sonata_vasculature(info["nodes_file"])
    bc = BoundaryConditions(
        info["entry_nodes"], info["exit_nodes"], inlet_pressure_Pa=4000.0, outlet_pressure_Pa=2000.0
    )
    sol = solve_flow(net, bc, 1.2e-3)
    assert sol.inflow_um3_s > 0
    internal = np.ones(net.n_nodes, dtype=bool)
    internal[bc.entry_nodes] = internal[bc.exit_nodes] = False
    imbalance = net_outflow_um3_s(net, sol.flow_um3_s)[internal]
    assert np.max(np.abs(imbalance)) < 1e-10 * sol.inflow_um3_s
    # blood enters through every inlet and leaves through every outlet
    outflow = net_outflow_um3_s(net, sol.flow_um3_s)
    assert np.all(outflow[bc.entry_nodes] > 0) and np.all(outflow[bc.exit_nodes] < 0)
    # segments are oriented with the blood: arterioles carry flow start -> end, venules too (the
    # deepest venule segment may carry a small reversed flow between two links to the bed)
    for kind in (VesselType.ARTERIOLE, VesselType.VENULE):
        q = sol.flow_um3_s[net.vessel_type == kind]
        assert np.sum(q > 0) >= 0.95 * q.size
        assert -q.min(initial=0.0) < 0.01 * q.max()


def test_morphology_file_matches_the_population(built):
    morphio_vasc = pytest.importorskip("morphio.vasculature")
    directory, info = built
    props = libsonata.CircuitConfig.from_file(
        str(directory / "circuit_config.json")
    ).node_population_properties("vasculature")
    morph = morphio_vasc.Vasculature(props.vasculature_file)
    assert len(morph.sections) == info["n_segments"]
    net = read_sonata_vasculature(info["nodes_file"])
    # section i follows section j exactly when j ends where i starts
    n_links = sum(len(s.successors) for s in morph.sections)
    expected = np.sum(np.bincount(net.start_node, minlength=net.n_nodes)[net.end_node])
    assert n_links == expected


def test_existing_circuit_config_is_extended_not_overwritten(tmp_path):
    config = {
        "version": 2,
        "manifest": {"$BASE_DIR": "."},
        "networks": {
            "nodes": [
                {"nodes_file": "$BASE_DIR/nodes.h5", "populations": {"cells": {"type": "biophysical"}}}
            ],
            "edges": [],
        },
    }
    (tmp_path / "circuit_config.json").write_text(json.dumps(config))
    build_vasculature(tmp_path, BBOX, seed=1)
    build_vasculature(tmp_path, BBOX, seed=2)  # a second build replaces the entry
    nodes = json.loads((tmp_path / "circuit_config.json").read_text())["networks"]["nodes"]
    pops = [name for entry in nodes for name in entry["populations"]]
    assert sorted(pops) == ["cells", "vasculature"]


def test_same_seed_same_network(tmp_path):
    a = build_vasculature(tmp_path / "a", BBOX, seed=5)
    b = build_vasculature(tmp_path / "b", BBOX, seed=5)
    c = build_vasculature(tmp_path / "c", BBOX, seed=6)
    na, nb, nc = (read_sonata_vasculature(x["nodes_file"]) for x in (a, b, c))
    np.testing.assert_array_equal(na.start_um, nb.start_um)
    assert na.start_um.shape != nc.start_um.shape or not np.array_equal(na.start_um, nc.start_um)


def test_bad_bbox_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="min < max"):
        build_vasculature(tmp_path, (np.zeros(3), np.array([1.0, 0.0, 1.0])))
