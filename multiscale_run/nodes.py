"""Which neurons a simulation runs: the biophysical nodes of the circuit and the node set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from multiscale_run.circuit.node_sets import materialize
from multiscale_run.errors import UserError

if TYPE_CHECKING:  # the config is handed in: this module reads the circuit, not the config files
    from multiscale_run.config import Config


@dataclass(frozen=True)
class NeuronSelection:
    """The simulated compartmental neurons, over one or more node populations, and their gids.

    A gid is the one number of a cell across populations (NEURON's ParallelContext gid, the
    element space of metabolism, the rank partition). Rule: the circuit's populations that have
    biophysical nodes, in the order the circuit config lists them (``networks.nodes``, then the
    file's populations), take consecutive gid ranges, each as long as the whole population:
    ``gid = first_gid[population] + node_id``. The ranges do not depend on the node set, so a
    cell keeps its gid (and the random streams seeded by it) whichever cells run beside it; in a
    circuit with one such population the gid is the node id. Virtual populations take no gid:
    their spikes are replayed onto the synapses, never emitted by a NEURON cell.
    """

    first_gid: dict[str, int]  # every population with biophysical nodes, in circuit order
    sizes: dict[str, int]  # their node counts
    node_ids: dict[str, np.ndarray]  # the simulated ones (same order): sorted node ids, none empty

    @property
    def populations(self) -> list[str]:
        """The simulated populations, in gid order."""
        return list(self.node_ids)

    @property
    def gids(self) -> np.ndarray:
        """Every simulated cell's gid, ascending."""
        parts = [self.first_gid[p] + ids for p, ids in self.node_ids.items()]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    @property
    def end_gid(self) -> int:
        """One past the last gid any node of the gid ranges can have."""
        return max((self.first_gid[p] + n for p, n in self.sizes.items()), default=0)

    def to_gids(self, population: str, node_ids) -> np.ndarray:
        """The gids of ``population``'s nodes ``node_ids``."""
        return self.first_gid[population] + np.asarray(node_ids, dtype=np.int64)

    def population_index(self, gids) -> np.ndarray:
        """For each simulated cell of ``gids``, the index of its population in :attr:`populations`."""
        starts = np.array([self.first_gid[p] for p in self.node_ids], dtype=np.int64)
        return np.searchsorted(starts, np.asarray(gids, dtype=np.int64), side="right") - 1

    def locate(self, gids) -> tuple[np.ndarray, np.ndarray]:
        """(population name, node id) of each gid (object and int64 arrays)."""
        gids = np.asarray(gids, dtype=np.int64)
        names = list(self.first_gid)
        starts = np.array([self.first_gid[p] for p in names], dtype=np.int64)
        k = np.searchsorted(starts, gids, side="right") - 1
        if len(gids) and (
            np.any(k < 0) or np.any(gids - starts[k] >= np.array([self.sizes[p] for p in names])[k])
        ):
            raise ValueError(f"gids {gids.tolist()} outside the populations' ranges {self.first_gid}")
        return np.array(names, dtype=object)[k], gids - starts[k]


def gid_ranges(circuit) -> tuple[dict[str, int], dict[str, int]]:
    """(first gid, size) of each population of ``circuit`` with biophysical nodes
    (:class:`NeuronSelection`'s rule)."""
    first, sizes, end = {}, {}, 0
    for name, pop in circuit.nodes.items():
        if pop.type in ("biophysical", "mixed") and np.any(pop.model_types() == "biophysical"):
            first[name], sizes[name] = end, int(pop.size)
            end += int(pop.size)
    return first, sizes


def choose_neurons(
    circuit_config: Path,
    node_set: str | None,
    node_sets_file: Path | None,
    config_file: str | None = None,
) -> NeuronSelection:
    """The simulated compartmental neurons: the node set's nodes of ``model_type`` biophysical, in
    every population it reaches, or without a node set every biophysical node of the circuit.
    (Point neurons and virtual nodes of the same populations are built by NEURON beside them,
    :func:`point_nodes`.)

    Errors name ``config_file`` (the simulation config, when known) and the key to fix.
    """
    from multiscale_run.circuit.sonata import Circuit

    circuit = Circuit(circuit_config)
    first, sizes = gid_ranges(circuit)
    biophysical = {
        name: np.flatnonzero(circuit.nodes[name].model_types() == "biophysical").astype(np.int64)
        for name in first
    }
    if not biophysical:
        raise UserError(
            "the circuit has no biophysical node population", str(circuit_config), "networks.nodes"
        )
    members = None
    if node_set:
        sets = _node_sets(node_set, node_sets_file, config_file)
        if node_set not in sets:
            raise UserError(f"node set {node_set!r} is not in {node_sets_file}", config_file, "node_set")
        members = materialize(node_set, circuit, sets)
        biophysical = {p: np.intersect1d(ids, members.get(p, [])) for p, ids in biophysical.items()}
    _refuse_lone_point_neurons(circuit, first, members, config_file)
    chosen = {p: np.sort(ids).astype(np.int64) for p, ids in biophysical.items() if len(ids)}
    if not chosen:
        raise UserError(f"node set {node_set!r} selects no biophysical node", config_file, "node_set")
    return NeuronSelection(first, sizes, chosen)


def _refuse_lone_point_neurons(circuit, first: dict, members: dict | None, config_file: str | None) -> None:
    """Point neurons are built only inside a population that has biophysical cells (they share
    its gid range): the node set's (``members``; None: the whole circuit's) point neurons of any
    other population are an error naming one, never left out."""
    for name, pop in circuit.nodes.items():
        if name in first:
            continue
        ids = np.flatnonzero(np.isin(pop.model_types(), POINT_MODEL_TYPES))
        if members is not None:
            ids = np.intersect1d(ids, members.get(name, []))
        if len(ids):
            raise UserError(
                f"population {name} node {int(ids[0])} is a point neuron ({len(ids)} in all) of a population "
                "without biophysical cells: msr builds point neurons only beside biophysical ones in "
                "their population (leave them out of the node set)",
                config_file,
                "node_set" if members is not None else "network",
            )


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


def simulated_nodes(config: Config) -> NeuronSelection:
    """The neurons this simulation runs (:func:`choose_neurons`)."""
    return choose_neurons(config.circuit_config, config.node_set, config.node_sets_file, str(config.path))
