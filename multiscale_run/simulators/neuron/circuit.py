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
from multiscale_run.nodes import choose_neurons, point_nodes
from multiscale_run.simulators.neuron.morphology import LocalMorphology, read_morphology, rotation_matrices
from multiscale_run.simulators.neuron.settings import NeuronSettings


class SonataCells:
    """The simulated node population of ``settings.circuit_config`` (``node_ids``: all ranks'
    compartmental cells; ``point_ids``: its point neurons, see :func:`~multiscale_run.nodes.point_nodes`)."""

    def __init__(self, settings: NeuronSettings, cells: tuple[str, np.ndarray] | None = None):
        """``cells``: (population, node ids) when the run chose them already (else chosen here)."""
        self.settings = settings
        self.circuit = Circuit(settings.circuit_config)
        if cells is None:
            cells = choose_neurons(settings.circuit_config, settings.node_set, settings.node_sets_file)
        name, self.node_ids = cells
        self.population = self.circuit.node_population(name)
        self.point_ids = point_nodes(
            settings.circuit_config, name, settings.node_set, settings.node_sets_file
        )

    def attributes(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        """Every attribute of nodes ``ids`` (groups merged with the node types CSV)."""
        return {name: self.population.get(name, ids) for name in sorted(self.population.attribute_names)}

    def components(self) -> dict:
        """The population's component folders (config ``components`` with its overrides)."""
        props = self.population.properties
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

    def afferent(self, edge_name: str, targets: np.ndarray) -> dict[str, np.ndarray]:
        """Attributes of the edges of ``edge_name`` whose target is in ``targets``."""
        return self.circuit.edges[edge_name].afferent(targets)

    def incoming_populations(self) -> list[tuple[str, str]]:
        """(edge population, source node population) of chemical edges onto the simulated cells."""
        return [
            (name, edges.source)
            for name, edges in sorted(self.circuit.edges.items())
            if edges.target == self.population.name and edges.type in ("chemical", "")
        ]


def placed_morphology_points(settings: NeuronSettings) -> tuple[np.ndarray, np.ndarray]:
    """(points µm (n, 3), node id of each) of every morphology sample of the simulated cells,
    placed and rotated in the circuit, read without NEURON (``msr check`` tests them against an
    existing mesh)."""
    reader = SonataCells(settings)
    ids = reader.node_ids
    attrs, comps = reader.attributes(ids), reader.components()
    rot = rotation_matrices(attrs, len(ids))
    pos = np.stack([attrs.get(c, np.zeros(len(ids))) for c in "xyz"], axis=1).astype(float)
    morphologies: dict[Path, LocalMorphology] = {}
    points, owners = [], []
    for i, node_id in enumerate(ids):
        path = reader.morphology_path(str(attrs["morphology"][i]), comps)
        morph = morphologies.setdefault(path, read_morphology(path))
        local = np.concatenate([morph.soma_center[None, :], *morph.points])
        points.append((local - morph.soma_center) @ rot[i].T + pos[i])
        owners.append(np.full(len(local), node_id))
    if not points:
        return np.zeros((0, 3)), np.zeros(0, np.int64)
    return np.concatenate(points), np.concatenate(owners)
