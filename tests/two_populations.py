"""A real circuit with two biophysical node populations, for the multi-population tests.

Made from bmtk's shipped ``bio_14cells`` (``/work/shared/data/circuits/bmtk_bio_14cells``, read in
place): population ``v1`` from its own files, and ``v1b``, a copy of ``v1_nodes.h5`` whose
population is renamed, with copies of the ``v1 -> v1``, ``lgn -> v1`` and ``tw -> v1`` edge files
whose populations name ``v1b`` instead (``v1b -> v1b`` within the copy; the node and edge types
CSVs, morphologies, fits and mechanisms are the shipped ones). ``cross=True`` adds one edge
population from ``v1`` onto ``v1b`` (the shipped ``v1 -> v1`` edges with their target renamed).
Only the new HDF5 copies and the config files are written, under the given folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py

CIRCUIT = Path(__file__).resolve().parents[2] / "shared" / "data" / "circuits" / "bmtk_bio_14cells"
NETWORK = CIRCUIT / "network"
COMPONENTS = CIRCUIT.parent / "bio_components"

#: the shipped circuit config's components, resolved
SHIPPED_COMPONENTS = {
    "morphologies_dir": str(COMPONENTS / "morphologies"),
    "synaptic_models_dir": str(COMPONENTS / "synaptic_models"),
    "mechanisms_dir": str(COMPONENTS / "mechanisms"),
    "biophysical_neuron_models_dir": str(COMPONENTS / "biophysical_neuron_templates" / "ctdb"),
    "point_neuron_models_dir": str(COMPONENTS / "point_neuron_templates"),
}


def _copy_edges(folder: Path, shipped: str, old: str, new: str, source: str, target: str) -> Path:
    """A copy of a shipped edge file whose population ``old`` is ``new``, from ``source`` onto
    ``target`` (node populations)."""
    path = folder / f"{new}_edges.h5"
    shutil.copyfile(NETWORK / shipped, path)
    with h5py.File(path, "r+") as f:
        f.move(f"edges/{old}", f"edges/{new}")
        f[f"edges/{new}/source_node_id"].attrs["node_population"] = source
        f[f"edges/{new}/target_node_id"].attrs["node_population"] = target
    return path


def write_two_population_circuit(folder: Path, cross: bool = False) -> Path:
    """The circuit config of ``v1`` + ``v1b`` (module docstring) in ``folder``; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    nodes = folder / "v1b_nodes.h5"
    shutil.copyfile(NETWORK / "v1_nodes.h5", nodes)
    with h5py.File(nodes, "r+") as f:
        f.move("nodes/v1", "nodes/v1b")
    edges = [
        (NETWORK / "v1_v1_edges.h5", "v1_v1_edge_types.csv"),
        (NETWORK / "lgn_v1_edges.h5", "lgn_v1_edge_types.csv"),
        (NETWORK / "tw_v1_edges.h5", "tw_v1_edge_types.csv"),
        (
            _copy_edges(folder, "v1_v1_edges.h5", "v1_to_v1", "v1b_to_v1b", "v1b", "v1b"),
            "v1_v1_edge_types.csv",
        ),
        (
            _copy_edges(folder, "lgn_v1_edges.h5", "lgn_to_v1", "lgn_to_v1b", "lgn", "v1b"),
            "lgn_v1_edge_types.csv",
        ),
        (_copy_edges(folder, "tw_v1_edges.h5", "tw_to_v1", "tw_to_v1b", "tw", "v1b"), "tw_v1_edge_types.csv"),
    ]
    if cross:
        copy = _copy_edges(folder, "v1_v1_edges.h5", "v1_to_v1", "v1_to_v1b", "v1", "v1b")
        edges.append((copy, "v1_v1_edge_types.csv"))
    config = {
        "components": SHIPPED_COMPONENTS,
        "networks": {
            "nodes": [
                {
                    "nodes_file": str(NETWORK / "v1_nodes.h5"),
                    "node_types_file": str(NETWORK / "v1_node_types.csv"),
                },
                {"nodes_file": str(nodes), "node_types_file": str(NETWORK / "v1_node_types.csv")},
                {
                    "nodes_file": str(NETWORK / "lgn_nodes.h5"),
                    "node_types_file": str(NETWORK / "lgn_node_types.csv"),
                },
                {
                    "nodes_file": str(NETWORK / "tw_nodes.h5"),
                    "node_types_file": str(NETWORK / "tw_node_types.csv"),
                },
            ],
            "edges": [
                {"edges_file": str(path), "edge_types_file": str(NETWORK / types)} for path, types in edges
            ],
        },
    }
    path = folder / "circuit_config.json"
    path.write_text(json.dumps(config, indent=1))
    return path


def write_simulation(
    folder: Path, circuit_config: Path, node_set: dict, tstop_ms: float, name: str = "simulation_config.json"
) -> Path:
    """A bmtk-style simulation config on ``circuit_config`` over the cells of ``node_set`` (an
    inline rule, stored as the node set ``cells``): the shipped LGN spikes, and a 0.4 nA IClamp
    from 5 ms onto every simulated cell."""
    sets = folder / f"{Path(name).stem}_node_sets.json"
    sets.write_text(json.dumps({"cells": node_set}))
    config = {
        "run": {"tstop": tstop_ms, "dt": 0.1, "dL": 20.0, "spike_threshold": -15},
        "target_simulator": "NEURON",
        "conditions": {"celsius": 34.0, "v_init": -80},
        "node_sets_file": str(sets),
        "node_set": "cells",
        "inputs": {
            "LGN_spikes": {
                "input_type": "spikes",
                "module": "sonata",
                "input_file": str(CIRCUIT / "inputs" / "lgn_spikes.h5"),
                "node_set": "lgn",
            },
            "iclamp": {
                "input_type": "current_clamp",
                "module": "IClamp",
                "node_set": "cells",
                "amp": 0.4,
                "delay": 5.0,
                "duration": tstop_ms,
            },
        },
        "output": {"output_dir": "output", "spikes_file": "spikes.h5"},
        "network": str(circuit_config),
    }
    path = folder / name
    path.write_text(json.dumps(config, indent=1))
    return path
