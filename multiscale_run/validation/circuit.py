"""Semantic checks that read the circuit and the mesh: the rank count, the NGV populations the
neurovascular coupling reads, the mesh coverage."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from multiscale_run.config.model import Config
from multiscale_run.config.problems import Problem

log = logging.getLogger(__name__)


def count_cells(config: Config) -> int | None:
    """Number of neurons the simulation runs (its node set), or None if the circuit cannot be read."""
    from multiscale_run.nodes import simulated_nodes

    try:
        return len(simulated_nodes(config).gids)
    except Exception as exc:  # any reader failure means: unknown (other checks name the cause)
        log.debug("cannot count cells: %s", exc)
        return None


def check_ranks(config: Config, ranks: int, problems: list[Problem]) -> None:
    if ranks < 1:
        problems.append(config.problem("", f"rank count {ranks} is not allowed", "at least 1"))
        return
    if ranks > 1 and config.enabled("neuron"):
        cells = count_cells(config)
        if cells is not None and ranks > cells:
            problems.append(
                config.problem(
                    "node_set" if config.node_set else "network",
                    f"{ranks} MPI ranks for {cells} cells would leave ranks without cells",
                    f"at most {cells} ranks",
                )
            )


def check_mesh_coverage(config: Config, warnings: list[Problem]) -> None:
    """Neurons partly outside an existing extracellular mesh exchange nothing there with STEPS.

    (A missing mesh is generated around every segment, so it covers them all.)"""
    if not (config.enabled("steps") and config.enabled("neuron")):
        return
    section = config.simulator("steps")
    mesh_file = Path(section["mesh_file"])
    if not mesh_file.is_file():
        return
    from multiscale_run.mesh import locate_points, read_mesh
    from multiscale_run.simulators.neuron.circuit import placed_morphology_points
    from multiscale_run.simulators.neuron.settings import settings_from_config

    points, owners = placed_morphology_points(settings_from_config(config))
    outside = locate_points(points, read_mesh(mesh_file, section.get("mesh_scale_um", 1.0))) < 0
    if outside.any():
        from multiscale_run.nodes import simulated_nodes

        cells = np.unique(owners[outside])
        population, node_id = (v[0] for v in simulated_nodes(config).locate(cells[:1]))
        warnings.append(
            config.problem(
                "multiscale_run.steps.mesh_file",
                f"{int(outside.sum())} of {len(points)} morphology points of {len(cells)} neuron(s) "
                f"(e.g. population {population} node {int(node_id)}) lie outside the mesh {mesh_file}: "
                "those parts exchange nothing with the extracellular space",
                "a mesh that holds every neuron, or no mesh file so that one is generated",
            )
        )


def check_ngv(config: Config, problems: list[Problem]) -> None:
    """With NVC enabled, the circuit must hold the astrocytes and endfeet it reads, as it reads them."""
    if not (config.enabled("nvc") and config.circuit_config.is_file()):
        return
    from multiscale_run.circuit.ngv import read_astrocytes, read_endfeet

    section = config.simulator("nvc")
    try:
        feet = read_endfeet(config.circuit_config, section.get("population", ""))
        astrocytes = read_astrocytes(config.circuit_config, section.get("astrocyte_population", ""))
    except Exception as exc:  # the reader's own errors and libsonata's: both name what is wrong
        problems.append(
            config.problem(
                "multiscale_run.nvc",
                f"{config.circuit_config}: {getattr(exc, 'message', exc)}",
                "a circuit with an astrocyte population and endfoot edges to the vasculature "
                "(msr init --bloodflow generates one)",
            )
        )
        return
    if feet.astrocyte.size and feet.astrocyte.max() >= astrocytes.node_ids.size:
        problems.append(
            config.problem(
                "multiscale_run.nvc",
                f"endfoot population {feet.population!r} names astrocytes beyond the "
                f"{astrocytes.node_ids.size} of population {astrocytes.population!r}",
                "endfeet whose source nodes are astrocytes of the population",
            )
        )
