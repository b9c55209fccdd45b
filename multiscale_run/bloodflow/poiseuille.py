"""Steady Poiseuille flow on a vessel graph: conductances, boundary conditions, the reduced
Laplacian, its solution, and the flows.

Each segment is a rigid cylinder of radius r and length L carrying laminar Hagen–Poiseuille flow,
Q = G·(p_start − p_end) with conductance G = π r⁴ / (8 μ L) (Sutera & Skalak 1993, "The history of
Poiseuille's law", Annu Rev Fluid Mech 25:1–19). Conservation of volume at every graph node that is
not a pressure boundary (Kirchhoff's current law) gives the weighted graph Laplacian system
L p = s, where s holds the flows injected at flow-boundary nodes. Removing the pressure-boundary
(Dirichlet) nodes leaves the *reduced* Laplacian L_FF, symmetric positive definite when every
connected component holds at least one Dirichlet node:

    L_FF p_F = s_F − L_FD p_D.

The unknowns are the pressures *relative to the lowest boundary pressure* p₀ (the rows of the full
Laplacian sum to zero, so L_FF (p_F − p₀) = s_F − L_FD (p_D − p₀)): the right-hand side then scales
with the pressure drops that drive the flow, not with the absolute outlet pressure, and an
iterative solver's relative stopping test ‖b − A x‖ ≤ rtol ‖b‖ bounds the flow errors relative to
the flows themselves (with absolute pressures a 2000-Pa outlet inflates ‖b‖ and the smallest flows
lose digits).

Units: µm, Pa, Pa·s, µm³/s; G in µm³/(Pa·s).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph
import scipy.sparse.linalg as spla

from multiscale_run.bloodflow.network import VascularNetwork
from multiscale_run.bloodflow.viscosity import apparent_viscosity_Pa_s

log = logging.getLogger(__name__)

INLET_KINDS = ("pressure", "flow", "velocity")

#: 1 mmHg in Pa (conventional millimetre of mercury)
PA_PER_MMHG = 133.322387415


def conductance(
    radius_um: np.ndarray, length_um: np.ndarray, viscosity_Pa_s: np.ndarray | float
) -> np.ndarray:
    """Hagen–Poiseuille conductance π r⁴ / (8 μ L) of cylinders, in µm³/(Pa·s)."""
    r = np.asarray(radius_um, dtype=np.float64)
    return np.pi * r**4 / (8.0 * np.asarray(viscosity_Pa_s, dtype=np.float64) * np.asarray(length_um))


@dataclass(frozen=True)
class BoundaryConditions:
    """Where blood enters and leaves, and how.

    ``inlet`` is ``pressure`` (``inlet_pressure_Pa`` at each entry node), ``flow`` (each entry
    node receives ``inlet_flow_um3_s``) or ``velocity`` (each entry node receives
    ``inlet_velocity_um_s`` × the cross-section π r² of its segment). Every exit node is held at
    ``outlet_pressure_Pa``. Values may be scalars or one per entry/exit node. Other dead ends are
    closed (no flux).
    """

    entry_nodes: np.ndarray
    exit_nodes: np.ndarray
    inlet: str = "pressure"
    inlet_pressure_Pa: float | np.ndarray = 8000.0
    inlet_flow_um3_s: float | np.ndarray = 1e5
    inlet_velocity_um_s: float | np.ndarray = 3.5e4
    outlet_pressure_Pa: float | np.ndarray = 2000.0

    def __post_init__(self):
        object.__setattr__(self, "entry_nodes", np.asarray(self.entry_nodes, dtype=np.int64).ravel())
        object.__setattr__(self, "exit_nodes", np.asarray(self.exit_nodes, dtype=np.int64).ravel())
        if self.inlet not in INLET_KINDS:
            raise ValueError(f"unknown inlet kind {self.inlet!r} (expected one of {', '.join(INLET_KINDS)})")
        if self.exit_nodes.size == 0 and self.inlet != "pressure":
            raise ValueError("at least one exit node with a pressure is needed when inlets prescribe flow")
        if (
            self.entry_nodes.size
            and self.exit_nodes.size
            and np.any(np.isin(self.entry_nodes, self.exit_nodes, kind="table"))
        ):
            raise ValueError("a node cannot be both an entry and an exit")


@dataclass(frozen=True)
class ReducedSystem:
    """The SPD system ``matrix @ p_free = rhs`` for the pressures of the free nodes relative to
    ``reference_pressure_Pa`` (the lowest boundary pressure; 0 without pressure boundaries)."""

    matrix: sp.csr_matrix  # (n_free, n_free), µm³/(Pa·s)
    rhs: np.ndarray  # (n_free,), µm³/s
    free_nodes: np.ndarray  # graph node id of each unknown
    fixed_nodes: np.ndarray  # Dirichlet node ids
    fixed_pressure_Pa: np.ndarray  # absolute
    isolated_nodes: np.ndarray  # nodes in components without any pressure boundary
    reference_pressure_Pa: float = 0.0

    def relative_pressures(self, p_free: np.ndarray, n_nodes: int) -> np.ndarray:
        """Node pressures relative to ``reference_pressure_Pa`` (Pa) from the solution ``p_free``;
        isolated nodes get the mean boundary pressure (they carry no flow)."""
        p = np.empty(n_nodes)
        p[self.free_nodes] = p_free
        p[self.fixed_nodes] = self.fixed_pressure_Pa - self.reference_pressure_Pa
        if self.isolated_nodes.size:
            p[self.isolated_nodes] = float(np.mean(self.fixed_pressure_Pa)) - self.reference_pressure_Pa
        return p

    def pressures(self, p_free: np.ndarray, n_nodes: int) -> np.ndarray:
        """Absolute node pressures in Pa."""
        return self.relative_pressures(p_free, n_nodes) + self.reference_pressure_Pa


def node_sources_um3_s(network: VascularNetwork, bc: BoundaryConditions) -> np.ndarray:
    """Flow injected at each graph node by flow/velocity inlets, µm³/s."""
    sources = np.zeros(network.n_nodes)
    if bc.inlet == "pressure" or bc.entry_nodes.size == 0:
        return sources
    if bc.inlet == "flow":
        q = np.broadcast_to(np.asarray(bc.inlet_flow_um3_s, dtype=np.float64), bc.entry_nodes.shape)
    else:
        # cross-section of the (only) segment at each entry node
        seg_of_node = np.full(network.n_nodes, -1, dtype=np.int64)
        seg_of_node[network.end_node] = np.arange(network.n_segments)
        seg_of_node[network.start_node] = np.arange(network.n_segments)
        segs = seg_of_node[bc.entry_nodes]
        v = np.broadcast_to(np.asarray(bc.inlet_velocity_um_s, dtype=np.float64), bc.entry_nodes.shape)
        q = v * np.pi * network.radius_um[segs] ** 2
    np.add.at(sources, bc.entry_nodes, q)
    return sources


def assemble_reduced_system(
    network: VascularNetwork, conductance_um3_Pa_s: np.ndarray, bc: BoundaryConditions
) -> ReducedSystem:
    """Build the reduced Laplacian and right-hand side (vectorised over segments)."""
    n = network.n_nodes
    g = np.asarray(conductance_um3_Pa_s, dtype=np.float64)
    a, b = network.start_node, network.end_node
    for name, nodes in (("entry", bc.entry_nodes), ("exit", bc.exit_nodes)):
        if nodes.size and (nodes.min() < 0 or nodes.max() >= n):
            raise ValueError(f"{name} node ids must lie in [0, {n})")

    fixed_p = np.full(n, np.nan)
    fixed_p[bc.exit_nodes] = np.broadcast_to(np.asarray(bc.outlet_pressure_Pa, float), bc.exit_nodes.shape)
    if bc.inlet == "pressure":
        fixed_p[bc.entry_nodes] = np.broadcast_to(
            np.asarray(bc.inlet_pressure_Pa, float), bc.entry_nodes.shape
        )
    is_fixed = ~np.isnan(fixed_p)
    reference = float(np.min(fixed_p[is_fixed])) if np.any(is_fixed) else 0.0
    relative_p = fixed_p - reference
    sources = node_sources_um3_s(network, bc)

    adjacency = sp.coo_matrix((np.ones(a.size), (a, b)), shape=(n, n))
    n_comp, comp = csgraph.connected_components(adjacency, directed=False)
    comp_fixed = np.bincount(comp[is_fixed], minlength=n_comp) > 0
    isolated = ~comp_fixed[comp]
    # a node that touches no segment at all is harmless; a fed component with no outlet is not
    used = np.zeros(n, dtype=bool)
    used[a] = used[b] = True
    if np.any(isolated & (sources != 0)):
        raise ValueError("blood enters a part of the network that has no pressure boundary (no outlet)")
    n_iso = int(np.sum(isolated & used))
    if n_iso:
        log.warning("%d vessel graph node(s) lie in components without any pressure boundary: no flow", n_iso)

    free = ~is_fixed & ~isolated
    free_nodes = np.flatnonzero(free)
    index = np.full(n, -1, dtype=np.int64)
    index[free_nodes] = np.arange(free_nodes.size)
    ia, ib = index[a], index[b]
    fa, fb = ia >= 0, ib >= 0
    n_free = free_nodes.size

    diag = np.bincount(ia[fa], weights=g[fa], minlength=n_free) + np.bincount(
        ib[fb], weights=g[fb], minlength=n_free
    )
    both = fa & fb
    rows = np.concatenate([np.arange(n_free), ia[both], ib[both]])
    cols = np.concatenate([np.arange(n_free), ib[both], ia[both]])
    vals = np.concatenate([diag, -g[both], -g[both]])
    matrix = sp.csr_matrix((vals, (rows, cols)), shape=(n_free, n_free))
    matrix.sum_duplicates()

    rhs = sources[free_nodes].copy()
    to_fixed_b = fa & is_fixed[b]
    to_fixed_a = fb & is_fixed[a]
    rhs += np.bincount(ia[to_fixed_b], weights=g[to_fixed_b] * relative_p[b[to_fixed_b]], minlength=n_free)
    rhs += np.bincount(ib[to_fixed_a], weights=g[to_fixed_a] * relative_p[a[to_fixed_a]], minlength=n_free)
    fixed_nodes = np.flatnonzero(is_fixed)
    return ReducedSystem(
        matrix=matrix,
        rhs=rhs,
        free_nodes=free_nodes,
        fixed_nodes=fixed_nodes,
        fixed_pressure_Pa=fixed_p[fixed_nodes],
        isolated_nodes=np.flatnonzero(isolated),
        reference_pressure_Pa=reference,
    )


def solve_reduced_scipy(
    matrix: sp.spmatrix, rhs: np.ndarray, method: str = "direct", rtol: float = 1e-12
) -> np.ndarray:
    """Solve the SPD reduced system with scipy: ``direct`` or Jacobi-preconditioned conjugate
    gradients (``cg``).

    ``direct`` is SuperLU in its symmetric mode: a minimum-degree ordering of A + Aᵀ applied to rows
    and columns alike, with the diagonal as pivots (``diag_pivot_thresh=0``; an SPD matrix needs no
    pivoting), i.e. an LDLᵀ-like factorisation whose fill follows the graph. SuperLU's default
    non-symmetric mode reorders only the columns and pivots rows for stability, which on looped
    vessel graphs multiplies the fill and the time (13–58× on the default vasculature, 2–4× on
    lattices; docs/bloodflow.md, Performance).
    """
    if rhs.size == 0:
        return np.zeros(0)
    if method == "direct":
        lu = spla.splu(
            sp.csc_matrix(matrix),
            permc_spec="MMD_AT_PLUS_A",
            diag_pivot_thresh=0.0,
            options={"SymmetricMode": True},
        )
        return lu.solve(np.asarray(rhs, dtype=np.float64))
    if method == "cg":
        inv_diag = 1.0 / matrix.diagonal()
        precond = spla.LinearOperator(matrix.shape, matvec=lambda x: inv_diag * x)
        x, info = spla.cg(matrix, rhs, rtol=rtol, atol=0.0, M=precond, maxiter=20 * rhs.size)
        if info != 0:
            raise RuntimeError(f"scipy CG did not converge (info={info})")
        return x
    raise ValueError(f"unknown scipy method {method!r} (expected direct or cg)")


def net_outflow_um3_s(network: VascularNetwork, flow_um3_s: np.ndarray) -> np.ndarray:
    """Net flow leaving each graph node through its segments (µm³/s): zero at internal nodes."""
    n = network.n_nodes
    return np.bincount(network.start_node, weights=flow_um3_s, minlength=n) - np.bincount(
        network.end_node, weights=flow_um3_s, minlength=n
    )


@dataclass(frozen=True)
class FlowSolution:
    """Steady flow: node pressures (Pa), segment flows (µm³/s, positive from start to end node)."""

    pressure_Pa: np.ndarray
    flow_um3_s: np.ndarray
    conductance_um3_Pa_s: np.ndarray
    inflow_um3_s: float  # total flow entering through the entry nodes
    system: ReducedSystem = field(repr=False)


def solve_flow(
    network: VascularNetwork,
    bc: BoundaryConditions,
    viscosity_Pa_s: np.ndarray | float | None = None,
    radius_um: np.ndarray | None = None,
    solver=None,
    **viscosity_law,
) -> FlowSolution:
    """Pressures and flows of ``network`` under ``bc``.

    ``viscosity_Pa_s`` (scalar or per segment) overrides the law given by ``viscosity_law``
    (keywords of :func:`apparent_viscosity_Pa_s`). ``radius_um`` overrides the network radii.
    ``solver(matrix, rhs) -> p_free`` defaults to :func:`solve_reduced_scipy` (direct).
    """
    r = network.radius_um if radius_um is None else np.asarray(radius_um, dtype=np.float64)
    if viscosity_Pa_s is None:
        viscosity_Pa_s = apparent_viscosity_Pa_s(r, **viscosity_law)
    g = conductance(r, network.length_um, viscosity_Pa_s)
    system = assemble_reduced_system(network, g, bc)
    p_free = (solver or solve_reduced_scipy)(system.matrix, system.rhs)
    # flows from the relative pressures: differences of large absolute pressures lose digits
    p_rel = system.relative_pressures(np.asarray(p_free), network.n_nodes)
    q = g * (p_rel[network.start_node] - p_rel[network.end_node])
    p = p_rel + system.reference_pressure_Pa
    # blood coming from outside at an entry node leaves that node through its segments
    inflow = float(np.sum(net_outflow_um3_s(network, q)[bc.entry_nodes]))
    return FlowSolution(
        pressure_Pa=p, flow_um3_s=q, conductance_um3_Pa_s=g, inflow_um3_s=inflow, system=system
    )


def expected_flow_ratio(
    radius_scale: float,
    diameter_um: np.ndarray | float | None = None,
    viscosity_law: str = "constant",
    hematocrit: float = 0.45,
) -> np.ndarray | float:
    """Poiseuille prediction of flow(after) / flow(before) when *every* vessel radius is multiplied
    by ``radius_scale`` and all boundaries hold fixed pressures.

    Conductances then all scale by s⁴·μ(D)/μ(sD), node pressures are unchanged, so every segment
    flow – and any linear, fixed-weight aggregate of |flow| such as the F_in a neuron receives –
    scales by the same factor: s⁴ for a constant viscosity; with ``pries1992`` per vessel of
    diameter ``diameter_um`` (µm). With flow inlets the total inflow is imposed and does not change.
    """
    s = float(radius_scale)
    if s <= 0:
        raise ValueError("radius_scale must be > 0")
    if viscosity_law == "constant":
        return s**4
    if diameter_um is None:
        raise ValueError("the pries1992 law needs the vessel diameters")
    from multiscale_run.bloodflow.viscosity import pries1992_relative_viscosity

    d = np.asarray(diameter_um, dtype=np.float64)
    return (
        s**4 * pries1992_relative_viscosity(d, hematocrit) / pries1992_relative_viscosity(s * d, hematocrit)
    )
