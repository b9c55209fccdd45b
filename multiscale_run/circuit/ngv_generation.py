"""A generated NGV fragment for the default circuit: astrocytes around the neurons, their endfeet
on the nearest vessel segments, written as :mod:`multiscale_run.circuit.ngv` reads them.

Plausible, not reconstructed:

* protoplasmic astrocytes tile the grey matter in non-overlapping domains of about 66 000 µm³
  (Bushong et al. 2002, J Neurosci 22:183), a sphere of radius ~25 µm; the somata sit on a
  jittered cubic grid of spacing twice that radius (jitter ±20 % of it), and only astrocytes whose
  territory reaches a neuron soma (within two territory radii) are kept;
* nearly every cortical astrocyte contacts a blood vessel (McCaslin et al. 2011, J Cereb Blood
  Flow Metab 31:795): each gets 1-3 endfeet, on its nearest vessel segments (distance from the
  soma to the segment's axis), each endfoot touching the wall at the point facing the soma;
* endfoot compartments 10-20 µm long and 0.5-1 µm thick, perimeter π × diameter, soma radius
  4-6 µm: round values of the right order, not taken from a source (nothing here reads them).

The microdomains and endfeet-meshes companion files that a SONATA NGV circuit config names are
written empty (libsonata requires them to be named; multiscale-run does not read them).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import h5py
import libsonata
import numpy as np

from multiscale_run.bloodflow.network import read_sonata_vasculature
from multiscale_run.circuit.sonata_files import write_edges, write_nodes

log = logging.getLogger(__name__)

ASTROCYTES = "astrocytes"
ENDFEET = "endfoot"
TERRITORY_RADIUS_UM = 25.0


def _populations(config: libsonata.CircuitConfig, kind: str) -> list[str]:
    return sorted(n for n in config.node_populations if config.node_population_properties(n).type == kind)


def place_astrocytes(soma_um: np.ndarray, rng: np.random.Generator, radius_um: float) -> np.ndarray:
    """Astrocyte somata (µm) on a jittered grid of spacing ``2 radius_um`` around ``soma_um``,
    those within ``2 radius_um`` of a neuron soma."""
    spacing = 2.0 * radius_um
    lo, hi = soma_um.min(axis=0) - spacing, soma_um.max(axis=0) + spacing
    axes = [np.arange(a, b + spacing, spacing) for a, b in zip(lo, hi, strict=True)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    grid = grid + rng.uniform(-0.2, 0.2, grid.shape) * spacing
    nearest = np.min(np.linalg.norm(grid[:, None, :] - soma_um[None, :, :], axis=2), axis=1)
    return grid[nearest <= spacing]


def nearest_walls(start: np.ndarray, end: np.ndarray, radius: np.ndarray, point: np.ndarray, k: int):
    """The ``k`` segments whose axes pass closest to ``point`` and, on each, the wall point facing it."""
    d = end - start
    t = np.clip(np.einsum("ij,ij->i", point - start, d) / np.einsum("ij,ij->i", d, d), 0.0, 1.0)
    foot = start + t[:, None] * d
    order = np.argsort(np.linalg.norm(foot - point, axis=1), kind="stable")[:k]
    towards = point - foot[order]
    towards /= np.maximum(np.linalg.norm(towards, axis=1), 1e-12)[:, None]
    return order, foot[order] + radius[order, None] * towards


def build_ngv(directory: Path, seed: int = 1, radius_um: float = TERRITORY_RADIUS_UM) -> dict:
    """Add an astrocyte population and its endfoot edges to ``directory/circuit_config.json``
    (which must hold the neurons and the vasculature). Returns counts and the file paths."""
    directory = Path(directory)
    circuit_path = directory / "circuit_config.json"
    config = libsonata.CircuitConfig.from_file(str(circuit_path))
    neurons = config.node_population(_populations(config, "biophysical")[0])
    sel = neurons.select_all()
    soma = np.column_stack([np.asarray(neurons.get_attribute(a, sel), dtype=np.float64) for a in "xyz"])
    (vasc_name,) = _populations(config, "vasculature")
    vasc_file = config.node_population_properties(vasc_name).elements_path
    net = read_sonata_vasculature(vasc_file, vasc_name)
    vasculature = libsonata.NodeStorage(vasc_file).open_population(vasc_name)

    rng = np.random.default_rng(seed + 7919)
    astro = place_astrocytes(soma, rng, radius_um)
    n_astro = len(astro)
    write_nodes(
        directory / "astrocytes.h5",
        ASTROCYTES,
        {
            "x": astro[:, 0].astype(np.float32),
            "y": astro[:, 1].astype(np.float32),
            "z": astro[:, 2].astype(np.float32),
            "radius": rng.uniform(4.0, 6.0, n_astro).astype(np.float32),
            "morphology": np.array([f"GLIA_{i:04d}" for i in range(n_astro)]),
        },
        model_type="biophysical",
    )
    sources, targets, surface = [], [], []
    for i, point in enumerate(astro):
        segments, walls = nearest_walls(
            net.start_um, net.end_um, net.radius_um, point, int(rng.integers(1, 4))
        )
        sources += [i] * len(segments)
        targets += segments.tolist()
        surface.append(walls)
    surface = np.concatenate(surface)
    targets = np.asarray(targets, dtype=np.int64)
    n = len(targets)
    target_sel = libsonata.Selection(targets)
    diameter = rng.uniform(0.5, 1.0, n)
    write_edges(
        directory / "endfeet.h5",
        ENDFEET,
        (ASTROCYTES, n_astro),
        (vasc_name, net.n_segments),
        np.asarray(sources),
        targets,
        {
            "endfoot_id": np.arange(n, dtype=np.uint64),
            "endfoot_surface_x": surface[:, 0].astype(np.float32),
            "endfoot_surface_y": surface[:, 1].astype(np.float32),
            "endfoot_surface_z": surface[:, 2].astype(np.float32),
            "endfoot_compartment_length": rng.uniform(10.0, 20.0, n).astype(np.float32),
            "endfoot_compartment_diameter": diameter.astype(np.float32),
            "endfoot_compartment_perimeter": (np.pi * diameter).astype(np.float32),
            "astrocyte_section_id": np.ones(n, dtype=np.uint32),
            "vasculature_section_id": np.asarray(
                vasculature.get_attribute("section_id", target_sel), dtype=np.uint32
            ),
            "vasculature_segment_id": np.asarray(
                vasculature.get_attribute("segment_id", target_sel), dtype=np.uint32
            ),
        },
    )
    for companion in ("microdomains.h5", "endfeet_meshes.h5"):
        h5py.File(directory / companion, "w").close()
    _register(circuit_path)
    log.info("wrote %d astrocytes with %d endfeet on %d vessel segments", n_astro, n, np.unique(targets).size)
    return {"astrocytes": n_astro, "endfeet": n, "vessel_segments": int(np.unique(targets).size)}


def _register(circuit_path: Path) -> None:
    data = json.loads(circuit_path.read_text())
    networks = data["networks"]
    networks["nodes"] = [e for e in networks["nodes"] if ASTROCYTES not in e.get("populations", {})]
    networks["nodes"].append(
        {
            "nodes_file": "$BASE_DIR/astrocytes.h5",
            "populations": {
                ASTROCYTES: {"type": "astrocyte", "microdomains_file": "$BASE_DIR/microdomains.h5"}
            },
        }
    )
    networks["edges"] = [e for e in networks["edges"] if ENDFEET not in e.get("populations", {})]
    networks["edges"].append(
        {
            "edges_file": "$BASE_DIR/endfeet.h5",
            "populations": {
                ENDFEET: {"type": "endfoot", "endfeet_meshes_file": "$BASE_DIR/endfeet_meshes.h5"}
            },
        }
    )
    data.setdefault("manifest", {}).setdefault("$BASE_DIR", ".")
    circuit_path.write_text(json.dumps(data, indent=2) + "\n")
