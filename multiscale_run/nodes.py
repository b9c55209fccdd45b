"""Which neurons a simulation runs: the biophysical population of the circuit and the node set."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from multiscale_run.errors import UserError

if TYPE_CHECKING:  # the config is handed in: this module reads the circuit, not the config files
    from multiscale_run.config import Config


def choose_neurons(
    circuit_config: Path,
    node_set: str | None,
    node_sets_file: Path | None,
    config_file: str | None = None,
) -> tuple[str, np.ndarray]:
    """(population, sorted node ids) of the simulated neurons: the node set's cells, which must all
    lie in one biophysical population, or every cell of the circuit's only biophysical population.

    Errors name ``config_file`` (the simulation config, when known) and the key to fix.
    """
    import libsonata

    circuit = libsonata.CircuitConfig.from_file(str(circuit_config))
    biophysical = [
        p
        for p in sorted(circuit.node_populations)
        if circuit.node_population_properties(p).type == "biophysical"
    ]
    if not biophysical:
        raise UserError(
            "the circuit has no biophysical node population", str(circuit_config), "networks.nodes"
        )
    if not node_set:
        if len(biophysical) > 1:
            raise UserError(
                f"several biophysical populations {biophysical}: choose one with node_set",
                config_file,
                "node_set",
            )
        return biophysical[0], np.arange(circuit.node_population(biophysical[0]).size, dtype=np.int64)
    sets = _node_sets(node_set, node_sets_file, config_file)
    if node_set not in sets.names:
        raise UserError(f"node set {node_set!r} is not in {node_sets_file}", config_file, "node_set")
    chosen = [(p, sets.materialize(node_set, circuit.node_population(p)).flatten()) for p in biophysical]
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


def _node_sets(node_set: str, node_sets_file: Path | None, config_file: str | None):
    """The node sets file that ``node_set`` needs, read by libsonata."""
    import libsonata

    if node_sets_file is None:
        raise UserError(f"node set {node_set!r} given but no node sets file", config_file, "node_sets_file")
    return libsonata.NodeSets.from_file(str(node_sets_file))


def node_set_members(config: Config, node_set: str | None, population: str) -> np.ndarray:
    """Sorted node ids of ``population`` in ``node_set`` (every node when no node set is given)."""
    import libsonata

    circuit = libsonata.CircuitConfig.from_file(str(config.circuit_config))
    pop = circuit.node_population(population)
    if not node_set:
        return np.arange(pop.size, dtype=np.int64)
    sets = _node_sets(node_set, config.node_sets_file, str(config.path))
    return np.sort(sets.materialize(node_set, pop).flatten().astype(np.int64))


def simulated_nodes(config: Config) -> tuple[str, np.ndarray]:
    """(population, sorted node ids) of the neurons this simulation runs."""
    return choose_neurons(config.circuit_config, config.node_set, config.node_sets_file, str(config.path))
