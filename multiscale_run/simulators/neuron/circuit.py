"""Reading the simulated part of a SONATA circuit (:mod:`multiscale_run.circuit.sonata`, no
NEURON): nodes, their attributes and components, morphology files, afferent edges.

:class:`SonataCells` is what the adapter builds from, and what ``msr check`` reads to place the
morphologies against an existing mesh (:func:`placed_morphology_points`) without building cells.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from multiscale_run.circuit.node_sets import resolve_node_set
from multiscale_run.circuit.sonata import Circuit
from multiscale_run.errors import UserError
from multiscale_run.nodes import NeuronSelection, choose_neurons, point_nodes
from multiscale_run.simulators.neuron.morphology import LocalMorphology, read_morphology, rotation_matrices
from multiscale_run.simulators.neuron.settings import NeuronSettings


class SonataCells:
    """The simulated node populations of ``settings.circuit_config``, addressed by gid
    (:class:`~multiscale_run.nodes.NeuronSelection`: ``gid = first_gid[population] + node id``).

    ``node_ids``: every rank's compartmental cells (gids); ``point_ids``: the point neurons of
    the same populations (gids), see :func:`~multiscale_run.nodes.point_nodes`."""

    def __init__(self, settings: NeuronSettings, cells: NeuronSelection | None = None):
        """``cells``: the run's choice when it made one already (else chosen here)."""
        self.settings = settings
        self.circuit = Circuit(settings.circuit_config)
        if cells is None:
            cells = choose_neurons(settings.circuit_config, settings.node_set, settings.node_sets_file)
        self.selection = cells
        self.node_ids = cells.gids
        points = [
            cells.to_gids(
                p, point_nodes(settings.circuit_config, p, settings.node_set, settings.node_sets_file)
            )
            for p in cells.populations
        ]
        self.point_ids = np.concatenate(points).astype(np.int64)

    def _parts(self, gids) -> list[tuple[object, np.ndarray, np.ndarray]]:
        """(population, node ids, mask over ``gids``) of each simulated population among ``gids``."""
        names, ids = self.selection.locate(gids)
        parts = [(self.circuit.nodes[p], ids[names == p], names == p) for p in self.selection.populations]
        return [part for part in parts if part[2].any()] or [parts[0]]

    def get(self, name: str, gids) -> np.ndarray:
        """Attribute ``name`` of the nodes ``gids`` (None where their population has none)."""
        parts = self._parts(gids)
        if len(parts) == 1:
            return parts[0][0].get(name, parts[0][1])
        values = [pop.get(name, ids) for pop, ids, _ in parts]
        numeric = all(v.dtype.kind in "biuf" for v in values)
        out = np.empty(len(gids), dtype=np.result_type(*values) if numeric else object)
        for (_, _, mask), v in zip(parts, values, strict=True):
            out[mask] = v
        return out

    def attributes(self, gids) -> dict[str, np.ndarray]:
        """Every attribute of nodes ``gids`` (groups merged with the node types CSV)."""
        names = set().union(*(pop.attribute_names for pop, _, _ in self._parts(gids)))
        return {name: self.get(name, gids) for name in sorted(names)}

    def model_types(self, gids) -> np.ndarray:
        """Each node's ``model_type``."""
        out = np.empty(len(gids), dtype=object)
        for pop, ids, mask in self._parts(gids):
            out[mask] = pop.model_types(ids)
        return out

    def population_of(self, gid: int) -> tuple[object, int]:
        """(population, node id) of one gid."""
        names, ids = self.selection.locate([gid])
        return self.circuit.nodes[names[0]], int(ids[0])

    def describe(self, gid: int) -> str:
        """``population P node N`` of a gid, as errors name a node."""
        pop, node_id = self.population_of(gid)
        return f"population {pop.name} node {node_id}"

    def gids_in(self, members: dict[str, np.ndarray]) -> np.ndarray:
        """The gids of ``members`` ({population: node ids}, a materialized node set) in the
        simulated populations' gid ranges."""
        parts = [
            self.selection.to_gids(p, ids) for p, ids in members.items() if p in self.selection.first_gid
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    def components(self, gid: int) -> dict:
        """The component folders of the population of node ``gid`` (config ``components`` with its
        population's overrides)."""
        props = self.population_of(gid)[0].properties
        path = lambda key: Path(props[key]) if props.get(key) else None  # noqa: E731
        return {
            "morphologies_dir": path("morphologies_dir"),
            "alternate": {k: Path(v) for k, v in (props.get("alternate_morphologies") or {}).items()},
            "emodels_dir": path("biophysical_neuron_models_dir"),
            "templates_dir": path("templates_dir"),
            "point_models_dir": path("point_neuron_models_dir"),
            "synaptic_models_dir": path("synaptic_models_dir"),
        }

    @staticmethod
    def morphology_path(name: str, comps: dict) -> Path:
        dirs = [d for d in (comps["morphologies_dir"], *comps["alternate"].values()) if d]
        candidates = (
            [d / name for d in dirs]
            if Path(name).suffix
            else [d / f"{name}{ext}" for d in dirs for ext in (".swc", ".h5", ".asc")]
        )
        for path in candidates:
            if path.exists():
                return path
        raise UserError(f"morphology {name!r} not found in {[str(d) for d in dirs]}")

    def node_set(self, rule, where: str) -> dict[str, np.ndarray]:
        """{population: node ids} of a node set: a name in the node sets file, an inline rule, or
        (bmtk's convention for spike inputs) the name of a population, meaning all its nodes."""
        return resolve_node_set(rule, self.circuit, self.settings.node_sets_file, where)

    def afferent(self, edge_name: str, gids: np.ndarray) -> dict[str, np.ndarray]:
        """Attributes of the edges of ``edge_name`` whose target is one of the cells ``gids``:
        ``target`` as a gid, ``target_node_id`` and ``source`` as node ids of their populations."""
        edges = self.circuit.edges[edge_name]
        names, ids = self.selection.locate(gids)
        attrs = edges.afferent(ids[names == edges.target])
        attrs["target_node_id"] = attrs["target"]
        attrs["target"] = self.selection.to_gids(edges.target, attrs["target"])
        return attrs

    def incoming_populations(self) -> list[tuple[str, str]]:
        """(edge population, source node population) of chemical edges onto the simulated cells."""
        return [
            (name, edges.source)
            for name, edges in sorted(self.circuit.edges.items())
            if edges.target in self.selection.node_ids and edges.type in ("chemical", "")
        ]


def placed_morphology_points(settings: NeuronSettings) -> tuple[np.ndarray, np.ndarray]:
    """(points µm (n, 3), gid of each) of every morphology sample of the simulated cells,
    placed and rotated in the circuit, read without NEURON (``msr check`` tests them against an
    existing mesh)."""
    reader = SonataCells(settings)
    ids = reader.node_ids
    attrs = reader.attributes(ids)
    rot = rotation_matrices(attrs, len(ids))
    pos = np.stack([attrs.get(c, np.zeros(len(ids))) for c in "xyz"], axis=1).astype(float)
    morphologies: dict[Path, LocalMorphology] = {}
    points, owners = [], []
    for i, node_id in enumerate(ids):
        path = reader.morphology_path(str(attrs["morphology"][i]), reader.components(int(node_id)))
        morph = morphologies.setdefault(path, read_morphology(path))
        local = np.concatenate([morph.soma_center[None, :], *morph.points])
        points.append((local - morph.soma_center) @ rot[i].T + pos[i])
        owners.append(np.full(len(local), node_id))
    if not points:
        return np.zeros((0, 3)), np.zeros(0, np.int64)
    return np.concatenate(points), np.concatenate(owners)
