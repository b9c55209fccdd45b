"""``BloodflowSim``: steady Poiseuille blood flow on the vasculature graph (the only module
importing ``petsc4py``).

The numerics are the plain functions of :mod:`multiscale_run.bloodflow`; this adapter reads the
SONATA vasculature population named by the circuit config, turns its typed settings
(:mod:`multiscale_run.simulators.bloodflow_settings`) into boundary conditions and a viscosity
law, and solves the reduced Laplacian with PETSc (KSP, conjugate gradients + hypre BoomerAMG
algebraic multigrid by default, rows distributed over the MPI ranks) or with scipy (every rank
solves the same system).

Variables (space ``vessel``, one value per vessel segment in vasculature node order):
``flow`` µm³/s (signed, start -> end node), ``abs_flow`` µm³/s (its magnitude), ``volume`` µm³,
``radius`` µm (writable: the flow is recomputed at the next :meth:`BloodflowSim.advance`),
``pressure`` Pa (mean of the two end-node pressures). Node pressures: :attr:`BloodflowSim.node_pressure_Pa`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph

from multiscale_run.bloodflow.network import VascularNetwork, read_sonata_vasculature
from multiscale_run.bloodflow.poiseuille import (
    BoundaryConditions,
    FlowSolution,
    solve_flow,
    solve_reduced_scipy,
)
from multiscale_run.parallel import Parallel
from multiscale_run.simulators.base import Simulator
from multiscale_run.simulators.bloodflow_settings import BloodflowSettings, InletOutletSettings
from multiscale_run.spaces import Space, Variable, VesselGeometry

log = logging.getLogger(__name__)

#: prefix of PETSc options a user may pass in ``ksp.options`` (e.g. ``{"ksp_monitor": ""}``)
PETSC_PREFIX = "msr_bloodflow_"

#: BoomerAMG settings for 3-D problems (hypre reference manual, BoomerAMG: strong threshold 0.5
#: for 3-D Laplacians; HMIS coarsening with extended+i interpolation truncated to 4 entries per
#: row, and aggressive coarsening of the first level, keep the coarse operators sparse). Measured
#: on 1 rank, machine loaded (load average 6 on 2 cores): a looped 1e6-segment lattice 3.5 s
#: against 8.7 s with hypre's defaults; a 1e6-segment random tree 4.7 s against 4.6 s.
#: ``ksp.options`` overrides them.
HYPRE_OPTIONS = {
    "pc_hypre_boomeramg_strong_threshold": "0.5",
    "pc_hypre_boomeramg_coarsen_type": "HMIS",
    "pc_hypre_boomeramg_interp_type": "ext+i",
    "pc_hypre_boomeramg_P_max": "4",
    "pc_hypre_boomeramg_agg_nl": "1",
}


def petsc_available() -> bool:
    try:
        import petsc4py  # noqa: F401
    except ImportError:
        return False
    return True


def _row_ranges(n: int, size: int) -> np.ndarray:
    """Contiguous row blocks as PETSc's PETSC_DECIDE makes them: sizes differ by at most one."""
    counts = np.full(size, n // size, dtype=np.int64)
    counts[: n % size] += 1
    return np.concatenate([[0], np.cumsum(counts)])


def solve_reduced_petsc(
    matrix: sp.spmatrix,
    rhs: np.ndarray,
    parallel: Parallel | None = None,
    ksp_type: str = "cg",
    pc_type: str = "hypre",
    rtol: float = 1e-12,
    atol: float = 0.0,
    max_it: int = 10000,
    options: dict[str, str] | None = None,
    reorder: bool = True,
) -> np.ndarray:
    """Solve the SPD system with a PETSc KSP distributed over the ranks of ``parallel`` (default:
    every rank). Every rank passes the same global ``matrix``/``rhs``, inserts only its
    contiguous block of rows, and receives the whole solution. Convergence is judged on the
    unpreconditioned residual ``‖b − A x‖ ≤ max(rtol·‖b‖, atol)``, so the flow imbalance at every
    node is bounded directly."""
    import petsc4py

    petsc4py.init()
    from petsc4py import PETSc

    parallel = parallel if parallel is not None else Parallel()
    comm = parallel.comm
    n = matrix.shape[0]
    if n == 0:
        return np.zeros(0)
    matrix = sp.csr_matrix(matrix)
    if reorder and comm.Get_size() > 1:
        # vessel graphs come in arbitrary node order; a bandwidth-reducing order makes the
        # contiguous row blocks compact subgraphs, so few matrix entries couple two ranks
        perm = csgraph.reverse_cuthill_mckee(matrix, symmetric_mode=True)
        solution = np.empty(n)
        solution[perm] = solve_reduced_petsc(
            matrix[perm][:, perm],
            rhs[perm],
            parallel,
            ksp_type,
            pc_type,
            rtol,
            atol,
            max_it,
            options,
            reorder=False,
        )
        return solution
    ranges = _row_ranges(n, comm.Get_size())
    lo, hi = int(ranges[comm.Get_rank()]), int(ranges[comm.Get_rank() + 1])
    block = matrix[lo:hi]
    block.sort_indices()
    pcomm = PETSc.Comm(comm)
    indptr = block.indptr.astype(PETSc.IntType)
    indices = block.indices.astype(PETSc.IntType)
    A = PETSc.Mat().createAIJ(
        size=((hi - lo, n), (hi - lo, n)), csr=(indptr, indices, block.data), comm=pcomm
    )
    A.setOption(PETSc.Mat.Option.SPD, True)
    A.assemble()
    b = A.createVecLeft()
    b.setArray(np.ascontiguousarray(rhs[lo:hi], dtype=PETSc.ScalarType))
    x = A.createVecRight()
    opts = PETSc.Options()
    options = {
        **(HYPRE_OPTIONS if pc_type == "hypre" else {}),
        **{k.lstrip("-"): v for k, v in (options or {}).items()},
    }
    for key, value in options.items():
        opts[PETSC_PREFIX + key] = value
    ksp = PETSc.KSP().create(comm=pcomm)
    try:
        ksp.setOptionsPrefix(PETSC_PREFIX)
        ksp.setOperators(A)
        ksp.setType(ksp_type)
        try:
            ksp.getPC().setType(pc_type)
        except PETSc.Error:
            if pc_type != "hypre":
                raise
            # a PETSc built without hypre: PETSc's own algebraic multigrid is the next best
            log.warning("PETSc has no hypre: blood flow uses the gamg preconditioner instead")
            ksp.getPC().setType("gamg")
        ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)
        ksp.setTolerances(rtol=rtol, atol=atol, max_it=max_it)
        ksp.setFromOptions()
        ksp.solve(b, x)
        reason = ksp.getConvergedReason()
        if reason <= 0:
            raise RuntimeError(
                f"PETSc KSP {ksp_type}/{pc_type} did not converge (reason {reason}, "
                f"{ksp.getIterationNumber()} iterations, residual {ksp.getResidualNorm():.3e})"
            )
        log.debug("PETSc %s/%s converged in %d iterations", ksp_type, pc_type, ksp.getIterationNumber())
        local = np.array(x.getArray(readonly=True), dtype=np.float64)
    finally:
        ksp.destroy()
        A.destroy()
        b.destroy()
        x.destroy()
        for key in options:
            opts.delValue(PETSC_PREFIX + key)
    return parallel.allgatherv(local, np.diff(ranges))


def find_vasculature(circuit_config: Path, population: str = "") -> tuple[Path, str]:
    """The node file and population name of the circuit's vasculature population (the named one,
    else the only population of type ``vasculature``)."""
    import libsonata

    from multiscale_run.errors import UserError

    config = libsonata.CircuitConfig.from_file(str(circuit_config))
    names = sorted(config.node_populations)
    if population:
        if population not in names:
            raise UserError(f"no node population {population!r} (found {names})", str(circuit_config))
        return Path(config.node_population_properties(population).elements_path), population
    vasc = [name for name in names if config.node_population_properties(name).type == "vasculature"]
    if len(vasc) != 1:
        raise UserError(
            f"expected exactly one node population of type 'vasculature', found {vasc or 'none'}; "
            "set multiscale_run.bloodflow.population",
            str(circuit_config),
        )
    return Path(config.node_population_properties(vasc[0]).elements_path), vasc[0]


def boundary_conditions(network: VascularNetwork, settings: InletOutletSettings) -> BoundaryConditions:
    """Entry/exit nodes (listed in the settings, else detected from vessel types) and their values."""
    from multiscale_run.errors import UserError

    detected_entries, detected_exits = network.detect_entries_exits()
    entries = np.asarray(settings.entry_nodes or detected_entries, dtype=np.int64)
    exits = np.asarray(settings.exit_nodes or detected_exits, dtype=np.int64)
    if exits.size == 0 and entries.size == 0:
        raise UserError(
            "the vasculature has no arterial/venous dead ends to use as inlets/outlets; "
            "list them in boundary_conditions.entry_nodes / exit_nodes",
            path="multiscale_run.bloodflow.boundary_conditions",
        )
    try:
        return BoundaryConditions(
            entry_nodes=entries,
            exit_nodes=exits,
            inlet=settings.inlet,
            inlet_pressure_Pa=settings.inlet_pressure_Pa,
            inlet_flow_um3_s=settings.inlet_flow_um3_s,
            inlet_velocity_um_s=settings.inlet_velocity_um_s,
            outlet_pressure_Pa=settings.outlet_pressure_Pa,
        )
    except ValueError as exc:
        raise UserError(str(exc), path="multiscale_run.bloodflow.boundary_conditions") from exc


class BloodflowSim(Simulator):
    """Steady blood flow on the vessel graph, re-solved whenever radii change."""

    name = "bloodflow"

    def __init__(
        self,
        config,
        parallel,
        network: VascularNetwork | None = None,
        settings: BloodflowSettings | None = None,
    ):
        """``settings``: the typed section (else parsed from ``config``'s, once); ``network``: the
        vessel graph (else read from the circuit's vasculature population)."""
        self._parallel = parallel
        if settings is None:
            settings = BloodflowSettings.from_section(config.simulator("bloodflow"), config.run.dt_ms)
        self.settings = settings
        self._dt_ms = settings.dt_ms
        if network is None:
            nodes_file, population = find_vasculature(config.circuit_config, settings.population)
            network = read_sonata_vasculature(nodes_file, population)
        self.network = network
        self.bc = boundary_conditions(network, settings.boundary)
        self._radius = network.radius_um.copy()
        self._length = network.length_um
        self._solver_name = settings.solver
        if self._solver_name == "petsc" and not petsc_available():
            log.warning("petsc4py is not installed: blood flow falls back to scipy")
            self._solver_name = "scipy"
        self._dirty = True
        self._solution: FlowSolution | None = None
        self._solve()
        self._resting_abs_flow = np.abs(self._solution.flow_um3_s)
        self._resting_inflow = self._solution.inflow_um3_s
        log.info(
            "blood flow: %d segments, %d inlets, %d outlets, inflow %.4g µm³/s (%s)",
            network.n_segments,
            self.bc.entry_nodes.size,
            self.bc.exit_nodes.size,
            self._solution.inflow_um3_s,
            self._solver_name,
        )

    # --- solving -------------------------------------------------------------------------------
    def _solver(self):
        ksp = self.settings.ksp
        if self._solver_name == "scipy":
            method = self.settings.scipy_method
            return lambda A, b: solve_reduced_scipy(A, b, method=method, rtol=ksp.rtol)
        return lambda A, b: solve_reduced_petsc(
            A,
            b,
            parallel=self._parallel,
            ksp_type=ksp.type,
            pc_type=ksp.pc_type,
            rtol=ksp.rtol,
            atol=ksp.atol,
            max_it=ksp.max_it,
            options=dict(ksp.options),
        )

    def _solve(self) -> None:
        from multiscale_run.bloodflow.viscosity import apparent_viscosity_Pa_s

        mu = apparent_viscosity_Pa_s(self._radius, **self.settings.viscosity_law_arguments)
        self._solution = solve_flow(
            self.network, self.bc, viscosity_Pa_s=mu, radius_um=self._radius, solver=self._solver()
        )
        self._solved_radius = self._radius
        self._dirty = False

    # --- Simulator contract --------------------------------------------------------------------
    @property
    def dt_ms(self) -> float:
        return self._dt_ms

    @classmethod
    def declared_variables(cls, section: dict | None = None) -> dict[str, Variable]:
        v = Space.VESSEL
        return {
            "flow": Variable("flow", v, "um3/s", writable=False, description="blood flow, start -> end node"),
            "abs_flow": Variable("abs_flow", v, "um3/s", writable=False, description="|flow|"),
            "volume": Variable("volume", v, "um3", writable=False, description="lumen volume π r² L"),
            "radius": Variable("radius", v, "um", writable=True, description="lumen radius"),
            "pressure": Variable("pressure", v, "Pa", writable=False, description="mean end-node pressure"),
            "flow_ratio": Variable(
                "flow_ratio",
                v,
                "1",
                writable=False,
                description="|flow| / resting |flow| (dead ends: total inflow / resting): metabolism F_in",
            ),
        }

    def variables(self) -> dict[str, Variable]:
        return self.declared_variables()

    def advance(self, t_ms: float) -> None:
        """Steady flow has no dynamics: re-solve only if radii changed since the last solve."""
        if self._dirty:
            self._solve()

    def get(self, variable: str) -> np.ndarray:
        sol = self._solution
        if variable == "flow":
            return sol.flow_um3_s.copy()
        if variable == "abs_flow":
            return np.abs(sol.flow_um3_s)
        if variable == "flow_ratio":
            # Vessels without flow at rest (dead ends) follow the network's total inflow.
            rest = self._resting_abs_flow
            network = sol.inflow_um3_s / self._resting_inflow if self._resting_inflow else 1.0
            carrying = rest > 1e-9 * rest.max(initial=0.0)
            return np.divide(np.abs(sol.flow_um3_s), rest, out=np.full_like(rest, network), where=carrying)
        if variable == "volume":
            return self.network.volume_um3(self._radius)
        if variable == "radius":
            return self._radius.copy()
        if variable == "pressure":
            p = sol.pressure_Pa
            return 0.5 * (p[self.network.start_node] + p[self.network.end_node])
        raise KeyError(f"bloodflow has no variable {variable!r} (known: {', '.join(self.variables())})")

    def set(self, variable: str, values: np.ndarray) -> None:
        if variable != "radius":
            if variable in self.variables():
                raise KeyError(f"bloodflow variable {variable!r} is read-only")
            raise KeyError(f"bloodflow has no variable {variable!r} (known: {', '.join(self.variables())})")
        values = np.asarray(values, dtype=np.float64)
        if values.shape != self._radius.shape:
            raise ValueError(
                f"radius needs {self._radius.size} values (one per vessel), got shape {values.shape}"
            )
        if not np.all(np.isfinite(values)) or np.any(values <= 0):
            raise ValueError("vessel radii must be finite and > 0 µm")
        self._radius = values.copy()
        self._dirty = True

    def save_state(self) -> dict[str, np.ndarray]:
        """The radii, and those of the last solve (the flow is a function of them: re-solved on
        restore, deterministic for a given rank count)."""
        return {
            "radius": self._radius.copy(),
            "solved_radius": self._solved_radius.copy(),
            "dirty": np.bool_(self._dirty),
        }

    def restore_state(self, state: dict[str, np.ndarray]) -> None:
        self._radius = state["solved_radius"].copy()
        self._solve()
        self._radius = state["radius"].copy()
        self._dirty = bool(state["dirty"])

    # --- extras --------------------------------------------------------------------------------
    @property
    def node_pressure_Pa(self) -> np.ndarray:
        """Pressure (Pa) at every graph node, as of the last solve."""
        return self._solution.pressure_Pa.copy()

    @property
    def inflow_um3_s(self) -> float:
        """Total blood flow entering through the inlets (µm³/s), as of the last solve."""
        return self._solution.inflow_um3_s

    def vessel_geometry(self) -> VesselGeometry:
        return VesselGeometry(
            start_um=self.network.start_um.copy(),
            end_um=self.network.end_um.copy(),
            radius_um=self._radius.copy(),
        )
