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
NODE_SETS = {"cortex_only": {"population": "cortex"}, "layer2": {"layer": 2}, "layer3": {"layer": 3}}


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
    population, ids = choose_neurons(circuit, "cortex_only", sets)
    assert population == "cortex" and ids.tolist() == [0, 1, 2, 3] and ids.dtype == np.int64
    # a node set without a population, matching in one biophysical population only
    assert choose_neurons(circuit, "layer3", sets)[0] == "cortex"
    assert choose_neurons(circuit, "layer3", sets)[1].tolist() == [3]


def test_the_only_biophysical_population_without_a_node_set(tmp_path):
    circuit, _ = _circuit(tmp_path, {k: v for k, v in POPULATIONS.items() if k != "thalamus"})
    population, ids = choose_neurons(circuit, None, None)
    assert population == "cortex" and ids.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("node_set", "with_sets_file", "key", "words"),
    [
        (None, True, "node_set", "several biophysical populations ['cortex', 'thalamus']"),
        ("layer2", True, "node_set", "exactly one biophysical population, got ['cortex', 'thalamus']"),
        ("layer9", True, "node_set", "node set 'layer9' is not in"),
        ("cortex_only", False, "node_sets_file", "given but no node sets file"),
    ],
)
def test_ambiguous_or_missing_choices_name_the_key(tmp_path, node_set, with_sets_file, key, words):
    circuit, sets = _circuit(tmp_path)
    with pytest.raises(UserError) as err:
        choose_neurons(circuit, node_set, sets if with_sets_file else None, "sim/simulation_config.json")
    assert str(err.value).startswith(f"sim/simulation_config.json: {key}: ") and words in str(err.value)


def test_a_circuit_without_biophysical_cells(tmp_path):
    circuit, _ = _circuit(tmp_path, {"input": POPULATIONS["input"]})
    with pytest.raises(UserError, match="no biophysical node population") as err:
        choose_neurons(circuit, None, None)
    assert err.value.file == str(circuit) and err.value.path == "networks.nodes"
