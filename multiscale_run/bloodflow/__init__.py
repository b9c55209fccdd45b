"""Steady blood flow on a vasculature graph: the pure numerics behind ``BloodflowSim``.

* :mod:`~multiscale_run.bloodflow.network` – the vessel graph (SONATA vasculature population);
* :mod:`~multiscale_run.bloodflow.viscosity` – blood viscosity laws (constant, Pries et al. 1992);
* :mod:`~multiscale_run.bloodflow.poiseuille` – conductances, boundary conditions, the reduced
  Laplacian, its direct/iterative scipy solution, flows and the closed-form dilation ratio.

Units everywhere: lengths and radii in µm, pressures in Pa, viscosities in Pa·s, flows in µm³/s,
conductances in µm³/(Pa·s), volumes in µm³.
"""

from multiscale_run.bloodflow.network import VascularNetwork, VesselType, read_sonata_vasculature
from multiscale_run.bloodflow.poiseuille import (
    BoundaryConditions,
    FlowSolution,
    ReducedSystem,
    assemble_reduced_system,
    conductance,
    expected_flow_ratio,
    solve_flow,
    solve_reduced_scipy,
)
from multiscale_run.bloodflow.viscosity import apparent_viscosity_Pa_s, pries1992_relative_viscosity

__all__ = [
    "BoundaryConditions",
    "FlowSolution",
    "ReducedSystem",
    "VascularNetwork",
    "VesselType",
    "apparent_viscosity_Pa_s",
    "assemble_reduced_system",
    "conductance",
    "expected_flow_ratio",
    "pries1992_relative_viscosity",
    "read_sonata_vasculature",
    "solve_flow",
    "solve_reduced_scipy",
]
