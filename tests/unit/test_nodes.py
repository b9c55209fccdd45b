"""Choosing the simulated neurons (population and node set), judged on SONATA files read by libsonata."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from multiscale_run.errors import UserError
from multiscale_run.nodes import choose_neurons

#: population -> (type, layer of each node)
POPULATIONS = {
    "cortex": ("biophysical", [1, 2, 2, 3]),
    "thalamus": ("biophysical", [2, 5]),
    "input": ("virtual", [0]),
}
NODE_SETS = {
    "cortex_only": {"population": "cortex"},
    "layer2": {"layer": 2},
    "layer3": {"layer": 3},
    "nothing": {"layer": 0, "population": "cortex"},
}


def _circuit(root, populations=POPULATIONS):
    with h5py.File(root / "nodes.h5", "w") as f:
        for name, (_, layers) in populations.items():
            pop = f.create_group(f"nodes/{name}")
            pop["node_type_id"] = np.full(len(layers), -1, dtype=np.int64)
            pop["0/layer"] = np.asarray(layers, dtype=np.int64)
    config = {
        "networks": {
            "nodes": [
                {
                    "nodes_file": str(root / "nodes.h5"),
                    "populations": {name: {"type": kind} for name, (kind, _) in populations.items()},
                }
            ],
            "edges": [],
        },
        "components": {"morphologies_dir": str(root), "biophysical_neuron_models_dir": str(root)},
    }
    (root / "circuit_config.json").write_text(json.dumps(config))
    (root / "node_sets.json").write_text(json.dumps(NODE_SETS))
    return root / "circuit_config.json", root / "node_sets.json"


def test_a_node_set_picks_its_population_and_sorted_ids(tmp_path):
    circuit, sets = _circuit(tmp_path)
    cells = choose_neurons(circuit, "cortex_only", sets)
    assert cells.populations == ["cortex"] and cells.node_ids["cortex"].tolist() == [0, 1, 2, 3]
    assert cells.gids.tolist() == [0, 1, 2, 3] and cells.gids.dtype == np.int64
    # a node set without a population, matching in one biophysical population only
    assert {p: i.tolist() for p, i in choose_neurons(circuit, "layer3", sets).node_ids.items()} == {
        "cortex": [3]
    }


def test_a_node_set_over_two_populations_takes_both_with_unique_gids(tmp_path):
    """The populations with biophysical nodes take consecutive gid ranges in circuit order, each
    as long as the whole population (virtual ones take none); a node set does not move them."""
    circuit, sets = _circuit(tmp_path)
    cells = choose_neurons(circuit, "layer2", sets)
    assert cells.populations == ["cortex", "thalamus"]
    assert cells.first_gid == {"cortex": 0, "thalamus": 4}
    assert {p: ids.tolist() for p, ids in cells.node_ids.items()} == {"cortex": [1, 2], "thalamus": [0]}
    assert cells.gids.tolist() == [1, 2, 4]
    names, ids = cells.locate([4, 1, 5])
    assert names.tolist() == ["thalamus", "cortex", "thalamus"] and ids.tolist() == [0, 1, 1]
    assert cells.population_index([1, 2, 4]).tolist() == [0, 0, 1]
    everything = choose_neurons(circuit, None, None)
    assert everything.gids.tolist() == [0, 1, 2, 3, 4, 5] and everything.end_gid == 6
    with pytest.raises(ValueError, match="outside"):
        cells.locate([6])


def test_the_only_biophysical_population_without_a_node_set(tmp_path):
    circuit, _ = _circuit(tmp_path, {k: v for k, v in POPULATIONS.items() if k != "thalamus"})
    cells = choose_neurons(circuit, None, None)
    assert cells.populations == ["cortex"] and cells.gids.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("node_set", "with_sets_file", "key", "words"),
    [
        ("nothing", True, "node_set", "node set 'nothing' selects no biophysical node"),
        ("layer9", True, "node_set", "node set 'layer9' is not in"),
        ("cortex_only", False, "node_sets_file", "given but no node sets file"),
    ],
)
def test_empty_or_missing_choices_name_the_key(tmp_path, node_set, with_sets_file, key, words):
    circuit, sets = _circuit(tmp_path)
    with pytest.raises(UserError) as err:
        choose_neurons(circuit, node_set, sets if with_sets_file else None, "sim/simulation_config.json")
    assert str(err.value).startswith(f"sim/simulation_config.json: {key}: ") and words in str(err.value)


def test_a_circuit_without_biophysical_cells(tmp_path):
    circuit, _ = _circuit(tmp_path, {"input": POPULATIONS["input"]})
    with pytest.raises(UserError, match="no biophysical node population") as err:
        choose_neurons(circuit, None, None)
    assert err.value.file == str(circuit) and err.value.path == "networks.nodes"
