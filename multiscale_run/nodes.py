"""Which neurons a simulation runs: the biophysical population of the circuit and the node set."""

from __future__ import annotations

import numpy as np

from multiscale_run.config import Config
from multiscale_run.errors import UserError


def neuron_population(config: Config) -> str:
    """Name of the circuit's (first) biophysical node population."""
    import libsonata

    circuit = libsonata.CircuitConfig.from_file(str(config.circuit_config))
    for name in sorted(circuit.node_populations):
        if circuit.node_population_properties(name).type == "biophysical":
            return name
    raise UserError(
        "the circuit has no biophysical node population", str(config.circuit_config), "networks.nodes"
    )


def node_set_members(config: Config, node_set: str | None, population: str) -> np.ndarray:
    """Sorted node ids of ``population`` in ``node_set`` (every node when no node set is given)."""
    import libsonata

    circuit = libsonata.CircuitConfig.from_file(str(config.circuit_config))
    pop = circuit.node_population(population)
    if not node_set:
        return np.arange(pop.size, dtype=np.int64)
    if config.node_sets_file is None:
        raise UserError(
            f"node set {node_set!r} given but no node sets file", str(config.path), "node_sets_file"
        )
    sets = libsonata.NodeSets.from_file(str(config.node_sets_file))
    return np.sort(sets.materialize(node_set, pop).flatten().astype(np.int64))


def simulated_nodes(config: Config) -> tuple[str, np.ndarray]:
    """(population, sorted node ids) of the neurons this simulation runs."""
    population = neuron_population(config)
    return population, node_set_members(config, config.node_set, population)
