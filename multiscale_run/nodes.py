"""Which neurons a simulation runs: the biophysical nodes of the circuit and the node set."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from multiscale_run.circuit.node_sets import materialize
from multiscale_run.errors import UserError

if TYPE_CHECKING:  # the config is handed in: this module reads the circuit, not the config files
    from multiscale_run.config import Config


def choose_neurons(
    circuit_config: Path,
    node_set: str | None,
    node_sets_file: Path | None,
    config_file: str | None = None,
) -> tuple[str, np.ndarray]:
    """(population, sorted node ids) of the simulated compartmental neurons: the node set's nodes
    of ``model_type`` biophysical, which must all lie in one population, or every biophysical node
    of the circuit's only population that has some. (Point neurons and virtual nodes of the same
    population are built by NEURON beside them, :func:`point_nodes`.)

    Errors name ``config_file`` (the simulation config, when known) and the key to fix.
    """
    from multiscale_run.circuit.sonata import Circuit

    circuit = Circuit(circuit_config)
    biophysical = {
        name: np.flatnonzero(pop.model_types() == "biophysical").astype(np.int64)
        for name, pop in sorted(circuit.nodes.items())
        if pop.type in ("biophysical", "mixed")
    }
    biophysical = {name: ids for name, ids in biophysical.items() if len(ids)}
    if not biophysical:
        raise UserError(
            "the circuit has no biophysical node population", str(circuit_config), "networks.nodes"
        )
    if not node_set:
        if len(biophysical) > 1:
            raise UserError(
                f"several biophysical populations {sorted(biophysical)}: choose one with node_set",
                config_file,
                "node_set",
            )
        return next(iter(biophysical.items()))
    sets = _node_sets(node_set, node_sets_file, config_file)
    if node_set not in sets:
        raise UserError(f"node set {node_set!r} is not in {node_sets_file}", config_file, "node_set")
    members = materialize(node_set, circuit, sets)
    chosen = [(p, np.intersect1d(ids, members[p])) for p, ids in biophysical.items() if p in members]
    chosen = [(p, ids) for p, ids in chosen if len(ids)]
    if len(chosen) != 1:
        raise UserError(
            f"node set {node_set!r} must select cells of exactly one biophysical population, "
            f"got {[p for p, _ in chosen]}",
            config_file,
            "node_set",
        )
    population, ids = chosen[0]
    return population, np.sort(ids).astype(np.int64)


def point_nodes(circuit_config: Path, population: str, node_set: str | None, node_sets_file: Path | None):
    """Sorted node ids of ``population``'s point neurons (``model_type`` point_process or
    point_neuron) in the node set (all of them without one)."""
    from multiscale_run.circuit.sonata import Circuit

    circuit = Circuit(circuit_config)
    pop = circuit.node_population(population)
    ids = np.flatnonzero(np.isin(pop.model_types(), POINT_MODEL_TYPES)).astype(np.int64)
    if node_set:
        ids = np.intersect1d(
            ids,
            materialize(node_set, circuit, _node_sets(node_set, node_sets_file, None)).get(population, []),
        )
    return ids.astype(np.int64)


#: ``model_type`` of point neurons: SONATA's name and bmtk's
POINT_MODEL_TYPES = ("point_process", "point_neuron")


def _node_sets(node_set: str, node_sets_file: Path | None, config_file: str | None) -> dict:
    """The node sets file that ``node_set`` needs."""
    from multiscale_run.circuit.node_sets import read_node_sets

    if node_sets_file is None:
        raise UserError(f"node set {node_set!r} given but no node sets file", config_file, "node_sets_file")
    return read_node_sets(node_sets_file)


def node_set_members(config: Config, node_set: str | None, population: str) -> np.ndarray:
    """Sorted node ids of ``population`` in ``node_set`` (every node when no node set is given)."""
    from multiscale_run.circuit.sonata import Circuit

    circuit = Circuit(config.circuit_config)
    pop = circuit.node_population(population)
    if not node_set:
        return np.arange(pop.size, dtype=np.int64)
    sets = _node_sets(node_set, config.node_sets_file, str(config.path))
    return np.sort(materialize(node_set, circuit, sets).get(population, np.zeros(0, np.int64)))


def simulated_nodes(config: Config) -> tuple[str, np.ndarray]:
    """(population, sorted node ids) of the neurons this simulation runs."""
    return choose_neurons(config.circuit_config, config.node_set, config.node_sets_file, str(config.path))
