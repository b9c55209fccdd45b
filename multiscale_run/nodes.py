"""Which neurons a simulation runs: the biophysical population of the circuit and the node set.

The one reader of the node sets file (:func:`read_node_sets`): the run's choice of cells, the
inputs' and reports' node sets and ``msr check`` all go through it.
"""

from __future__ import annotations

import json
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
    chosen = [(p, members(sets, node_set, circuit.node_population(p))) for p in biophysical]
    chosen = [(p, ids) for p, ids in chosen if len(ids)]
    if len(chosen) != 1:
        raise UserError(
            f"node set {node_set!r} must select cells of exactly one biophysical population, "
            f"got {[p for p, _ in chosen]}",
            config_file,
            "node_set",
        )
    return chosen[0]


def read_node_sets(path: Path, config_file: str | None = None, key: str = "node_sets_file"):
    """The node sets file ``path`` as a ``libsonata.NodeSets``; a file that is missing, not
    JSON, lists a ``node_id`` that is not a non-negative integer (which libsonata would take) or
    that libsonata rejects raises a UserError naming ``config_file`` and ``key``."""
    import libsonata

    path = Path(path)
    if not path.is_file():
        raise UserError(f"node sets file not found: {path}", config_file, key)
    try:
        rules = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"node sets file {path} is not valid JSON: {exc}", config_file, key) from None
    for name, rule in rules.items() if isinstance(rules, dict) else ():
        ids = rule.get("node_id") if isinstance(rule, dict) else None
        ids = [ids] if isinstance(ids, int) else ids
        if ids is not None and not (
            isinstance(ids, list)
            and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids)
        ):
            raise UserError(
                f"node set {name!r} in {path}: node_id must list non-negative integers, got {ids!r}",
                config_file,
                key,
            )
    try:
        return libsonata.NodeSets.from_file(str(path))
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"libsonata cannot read the node sets {path}: {first}", config_file, key) from None


def _node_sets(node_set: str, node_sets_file: Path | None, config_file: str | None):
    """The node sets file that ``node_set`` needs."""
    if node_sets_file is None:
        raise UserError(f"node set {node_set!r} given but no node sets file", config_file, "node_sets_file")
    return read_node_sets(node_sets_file, config_file)


def members(node_sets, node_set: str, population) -> np.ndarray:
    """Sorted node ids of libsonata ``population`` in ``node_set`` of ``node_sets``."""
    return np.sort(node_sets.materialize(node_set, population).flatten().astype(np.int64))


def node_set_members(config: Config, node_set: str | None, population: str) -> np.ndarray:
    """Sorted node ids of ``population`` in ``node_set`` (every node when no node set is given)."""
    import libsonata

    circuit = libsonata.CircuitConfig.from_file(str(config.circuit_config))
    pop = circuit.node_population(population)
    if not node_set:
        return np.arange(pop.size, dtype=np.int64)
    return members(_node_sets(node_set, config.node_sets_file, str(config.path)), node_set, pop)


def simulated_nodes(config: Config) -> tuple[str, np.ndarray]:
    """(population, sorted node ids) of the neurons this simulation runs."""
    return choose_neurons(config.circuit_config, config.node_set, config.node_sets_file, str(config.path))
