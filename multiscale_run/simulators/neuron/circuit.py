"""Reading the simulated part of a SONATA circuit with libsonata (no NEURON): nodes, their
attributes and components, morphology files, afferent edges.

:class:`SonataCells` is what the adapter builds from, and what ``msr check`` reads to place the
morphologies against an existing mesh (:func:`placed_morphology_points`) without building cells.
"""

from __future__ import annotations

import json
from pathlib import Path

import libsonata
import numpy as np

from multiscale_run.errors import UserError
from multiscale_run.nodes import choose_neurons
from multiscale_run.simulators.neuron.morphology import LocalMorphology, read_morphology, rotation_matrices
from multiscale_run.simulators.neuron.settings import NeuronSettings


class SonataCells:
    """The simulated node population of ``settings.circuit_config`` (``node_ids``: all ranks')."""

    def __init__(self, settings: NeuronSettings, cells: tuple[str, np.ndarray] | None = None):
        """``cells``: (population, node ids) when the run chose them already (else chosen here)."""
        self.settings = settings
        self.circuit = libsonata.CircuitConfig.from_file(str(settings.circuit_config))
        if cells is None:
            cells = choose_neurons(settings.circuit_config, settings.node_set, settings.node_sets_file)
        name, self.node_ids = cells
        self.population = self.circuit.node_population(name)

    def attributes(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        """Position, morphology, model template and orientation attributes of nodes ``ids``."""
        sel = libsonata.Selection(ids.astype(np.uint64)) if len(ids) else libsonata.Selection([])
        names = self.population.attribute_names
        wanted = [
            "x",
            "y",
            "z",
            "morphology",
            "model_template",
            *[n for n in names if n.startswith(("orientation_", "rotation_angle_"))],
        ]
        out = {}
        for name in wanted:
            if name in names:
                out[name] = np.asarray(self.population.get_attribute(name, sel))
        return out

    def components(self) -> dict:
        props = self.circuit.node_population_properties(self.population.name)
        raw = json.loads(Path(self.settings.circuit_config).read_text())
        base = Path(self.settings.circuit_config).parent
        templates = raw.get("components", {}).get("templates_dir")
        return {
            "morphologies_dir": Path(props.morphologies_dir) if props.morphologies_dir else None,
            "alternate": {k: Path(v) for k, v in props.alternate_morphology_formats.items()},
            "emodels_dir": Path(props.biophysical_neuron_models_dir)
            if props.biophysical_neuron_models_dir
            else None,
            "templates_dir": (base / templates).resolve() if templates else None,
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

    def afferent(self, edge_name: str, targets: np.ndarray) -> dict[str, np.ndarray]:
        """Attributes of the edges of ``edge_name`` whose target is in ``targets``."""
        edges = self.circuit.edge_population(edge_name)
        try:
            sel = edges.afferent_edges(targets.astype(np.uint64).tolist())
        except libsonata.SonataError:  # no indices: filter the whole population
            all_targets = edges.target_nodes(libsonata.Selection([(0, edges.size)]))
            sel = libsonata.Selection(np.flatnonzero(np.isin(all_targets, targets)).astype(np.uint64))
        out = {
            "source": np.asarray(edges.source_nodes(sel), dtype=np.int64),
            "target": np.asarray(edges.target_nodes(sel), dtype=np.int64),
        }
        for name in edges.attribute_names:
            out[name] = np.asarray(edges.get_attribute(name, sel))
        return out

    def incoming_populations(self) -> list[tuple[str, str]]:
        """(edge population, source node population) of chemical edges onto the simulated cells."""
        out = []
        for name in sorted(self.circuit.edge_populations):
            edges = self.circuit.edge_population(name)
            props = self.circuit.edge_population_properties(name)
            if edges.target == self.population.name and props.type in ("chemical", ""):
                out.append((name, edges.source))
        return out


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
