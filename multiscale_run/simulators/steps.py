"""``StepsSim``: ions in the extracellular space (ECS), on the tetrahedral mesh.

Three interchangeable backends advance the per-tet amounts of each configured species:

* ``TetOpSplit`` (default): STEPS 5's stochastic operator-splitting solver, MPI-parallel; every
  rank creates the same simulation with a tet partition (see :func:`multiscale_run.mesh.slab_partition`).
* ``Tetexact``: STEPS's exact SSA, serial: every rank runs the whole mesh with the same seed.
* ``deterministic``: implicit-Euler finite-volume diffusion with the same two-point fluxes STEPS
  uses (:class:`FiniteVolumeDiffusion`); needs no STEPS, runs identically on every rank.

This is the only module that imports ``steps``. Values live on the global ``tet`` space
(identical on every rank, mesh order). Amounts are kept as molecule counts; concentrations are
``count / (N_A · V_tet)``. Setting a negative value clamps it to zero and counts it (a tet can
never go negative); :meth:`StepsSim.clamp_report` says how often and how much.

Unit conversions for the couplings (see docs/steps.md): a membrane current ``I`` (nA) of an ion
of valence ``z`` over ``dt`` (ms) carries ``I · dt · 1e-12 / (z · e)`` ions (Faraday's law per
ion, e = 1.602176634e-19 C); ``mA/cm² · µm²`` is ``1e-2 nA``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from multiscale_run import mesh as ecs_mesh
from multiscale_run.errors import UserError
from multiscale_run.parallel import Parallel
from multiscale_run.simulators.base import Simulator
from multiscale_run.spaces import SegmentGeometry, Space, TetGeometry, Variable, VesselGeometry

log = logging.getLogger(__name__)

#: Avogadro constant, 1/mol (SI 2019 exact)
AVOGADRO_PER_MOL = 6.02214076e23
#: the Avogadro constant STEPS 5 converts concentrations with (CODATA 2006); using it when
#: handing STEPS concentrations makes it store exactly the counts we mean
STEPS_AVOGADRO_PER_MOL = 6.02214179e23
#: STEPS keeps per-tet counts in 32-bit unsigned integers
STEPS_MAX_COUNT = 2**32 - 1
#: elementary charge, C (SI 2019 exact)
ELEMENTARY_CHARGE_C = 1.602176634e-19
#: ions carried by 1 nA during 1 ms for valence 1: 1e-9 A · 1e-3 s / e
IONS_PER_NA_MS = 1e-12 / ELEMENTARY_CHARGE_C
#: ions carried by a current density of 1 mA/cm² through 1 µm² during 1 ms (1 mA/cm² · µm² = 1e-2 nA)
IONS_PER_MA_CM2_UM2_MS = 1e-2 * IONS_PER_NA_MS
#: 1 µm³ in litres
LITRES_PER_UM3 = 1e-15
#: diffusion coefficient conversion: 1 m²/s = 1e12 µm² / 1e3 ms
UM2_PER_MS_PER_M2_PER_S = 1e9

SOLVERS = ("TetOpSplit", "Tetexact", "deterministic")
#: relative residual of the deterministic diffusion solve
_CG_RTOL = 1e-12


# --- unit conversions (pure) ------------------------------------------------------------------
def molecules_from_mM(conc_mM: np.ndarray, volume_um3: np.ndarray) -> np.ndarray:
    """Molecules in a volume at a concentration: c[mM]·1e-3 mol/L · V[µm³]·1e-15 L · N_A."""
    return (
        np.asarray(conc_mM, dtype=float) * 1e-3 * np.asarray(volume_um3) * LITRES_PER_UM3 * AVOGADRO_PER_MOL
    )


def mM_from_molecules(count: np.ndarray, volume_um3: np.ndarray) -> np.ndarray:
    """Concentration (mM) of ``count`` molecules in ``volume_um3``."""
    return np.asarray(count, dtype=float) / (np.asarray(volume_um3) * LITRES_PER_UM3 * AVOGADRO_PER_MOL) * 1e3


def current_to_molecules(current_nA: np.ndarray, dt_ms: float, charge: int) -> np.ndarray:
    """Ions carried by a current (nA, positive outward = into the ECS) during ``dt_ms``.

    Faraday: n = I·dt / (z·e). For a NEURON density ``i`` (mA/cm²) on a segment of area ``a``
    (µm²), pass ``current_nA = i · a · 1e-2``.
    """
    if charge == 0:
        raise ValueError("a neutral species carries no current")
    return np.asarray(current_nA, dtype=float) * dt_ms * IONS_PER_NA_MS / charge


def auto_molecules_per_particle(max_initial_molecules: float, headroom: float = 100.0) -> float:
    """The smallest power of 10 of molecules per STEPS particle that keeps ``headroom`` × the
    largest initial tet amount within STEPS's 32-bit counts.

    Physiological amounts overflow them: 140 mM Na+ in a 25 000 µm³ tet is 2e12 molecules
    (MultiscaleRun scaled its STEPS concentrations for the same reason). The headroom lets a
    species rise 100-fold (K+ from 3 mM) before :meth:`_StepsBackend.set_counts` refuses.
    Fewer particles mean more stochastic noise: the relative noise of a tet is ~1/√particles.
    """
    needed = max_initial_molecules * headroom / STEPS_MAX_COUNT
    return 1.0 if needed <= 1.0 else float(10.0 ** np.ceil(np.log10(needed)))


# --- settings ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SpeciesSettings:
    """One extracellular species: D in m²/s, initial concentration in mM, valence."""

    name: str
    diffusion_m2_per_s: float
    conc_0_mM: float
    charge: int = 1

    @property
    def diffusion_um2_per_ms(self) -> float:
        return self.diffusion_m2_per_s * UM2_PER_MS_PER_M2_PER_S


DEFAULT_SPECIES = {
    # free-solution diffusion coefficients at 25 °C, K+ 1.957e-9 and Na+ 1.334e-9 m²/s (CRC
    # Handbook of Chemistry and Physics, "Ionic conductivity and diffusion at infinite
    # dilution"); resting ECS concentrations K+ 3 mM, Na+ 140 mM
    "K": {"diffusion_m2_per_s": 2e-9, "conc_0_mM": 3.0, "charge": 1},
    "Na": {"diffusion_m2_per_s": 1.33e-9, "conc_0_mM": 140.0, "charge": 1},
}


@dataclass(frozen=True)
class StepsSettings:
    """The ``multiscale_run.steps`` section, typed; ``dt_ms`` = ndts · run.dt."""

    dt_ms: float
    species: tuple[SpeciesSettings, ...]
    solver: str = "TetOpSplit"
    seed: int = 1
    substeps: int = 1
    mesh_file: Path | None = None
    mesh_scale_um: float = 1.0
    mesh_generation: dict = field(default_factory=dict)
    #: molecules one STEPS particle stands for; None chooses a power of 10 (see
    #: :func:`auto_molecules_per_particle`)
    molecules_per_particle: float | None = None

    @classmethod
    def from_section(cls, section: Mapping, run_dt_ms: float, random_seed: int = 1) -> StepsSettings:
        solver = section.get("solver", "TetOpSplit")
        if solver not in SOLVERS:
            raise UserError(
                f"unknown solver {solver!r} (expected one of {', '.join(SOLVERS)})",
                path="multiscale_run.steps.solver",
            )
        species = tuple(
            SpeciesSettings(
                name=name,
                diffusion_m2_per_s=float(spec.get("diffusion_m2_per_s", 2e-9)),
                conc_0_mM=float(spec.get("conc_0_mM", 0.0)),
                charge=int(spec.get("charge", 1)),
            )
            for name, spec in section.get("species", DEFAULT_SPECIES).items()
        )
        if not species:
            raise UserError("at least one species is needed", path="multiscale_run.steps.species")
        seed = section.get("seed")
        mesh_file = section.get("mesh_file")
        return cls(
            dt_ms=int(section.get("ndts", 40)) * float(run_dt_ms),
            species=species,
            solver=solver,
            seed=int(random_seed if seed is None else seed),
            substeps=int(section.get("substeps", 1)),
            mesh_file=Path(mesh_file) if mesh_file else None,
            mesh_scale_um=float(section.get("mesh_scale_um", 1.0)),
            mesh_generation=dict(section.get("mesh_generation", {})),
            molecules_per_particle=section.get("molecules_per_particle"),
        )


# --- backends ---------------------------------------------------------------------------------
class FiniteVolumeDiffusion:
    """Deterministic diffusion of molecule counts on a tet mesh (implicit Euler, mass-conserving).

    Cell-centred finite volumes with two-point fluxes between face neighbours, as STEPS does for
    its diffusion rates (Hepburn et al. 2012, BMC Syst Biol 6:36): flux from i to j =
    D·A_ij/d_ij·(c_i − c_j), with A_ij the shared face area and d_ij the barycentre separation
    projected on the face normal (see :class:`multiscale_run.mesh.FaceAdjacency` for why not the
    full distance STEPS uses); the mesh boundary is reflecting (no flux). With
    L = Σ_faces w_ij (e_i − e_j)(e_i − e_j)ᵀ, w = A/d, one step of length h solves
    (V + h·D·L) c⁺ = V c. Since 1ᵀL = 0 the total amount 1ᵀVc is conserved exactly (up to the
    solve's round-off), and V + hDL is an M-matrix, so amounts never turn negative.
    """

    def __init__(self, geometry: TetGeometry, species: tuple[SpeciesSettings, ...], substep_ms: float):
        self.volume_um3 = geometry.volume_um3
        self.substep_ms = float(substep_ms)
        adjacency = ecs_mesh.face_adjacency(geometry)
        n = len(geometry.tets)
        w = adjacency.coupling_um
        off = sp.coo_matrix((-w, (adjacency.a, adjacency.b)), shape=(n, n))
        laplacian = (off + off.T).tocsr()
        laplacian = laplacian - sp.diags(np.asarray(laplacian.sum(axis=1)).ravel())
        self._laplacian = laplacian
        self._species_D = {s.name: s.diffusion_um2_per_ms for s in species}
        self._systems: dict[float, tuple[sp.csr_matrix, np.ndarray]] = {}
        for D in set(self._species_D.values()):
            if D > 0:
                system = (sp.diags(self.volume_um3) + self.substep_ms * D * laplacian).tocsr()
                self._systems[D] = (system, 1.0 / system.diagonal())

    def step(self, counts: np.ndarray, species: str) -> np.ndarray:
        """Counts after one substep.

        The SPD system is solved by Jacobi-preconditioned conjugate gradients (a direct LU of a
        3-D mesh fills in badly: minutes and GBs for 10⁵ tets). The solve's residual is then
        projected out of the total amount (a relative rescale of order ``_CG_RTOL``), so mass is
        conserved to round-off whatever the tolerance.
        """
        D = self._species_D[species]
        if D == 0:
            return counts
        system, inv_diagonal = self._systems[D]
        rhs = np.asarray(counts, dtype=float)
        conc = _jacobi_cg(system, rhs, rhs / self.volume_um3, inv_diagonal, _CG_RTOL)
        new = conc * self.volume_um3
        total, new_total = rhs.sum(), new.sum()
        return new * (total / new_total) if new_total > 0 else new


def _jacobi_cg(
    A: sp.csr_matrix, b: np.ndarray, x: np.ndarray, inv_diagonal: np.ndarray, rtol: float
) -> np.ndarray:
    """Solve the SPD system A x = b by conjugate gradients with a Jacobi preconditioner.

    Inner products are written as ``(u * v).sum()`` on purpose: BLAS ``dot`` spawns threads,
    which on a busy machine under MPI is 100× slower for vectors of this size, and the
    pairwise sum is deterministic, so every rank gets bitwise the same answer.
    """
    x = np.array(x, dtype=float)
    r = b - A @ x
    z = inv_diagonal * r
    p = z.copy()
    rz = (r * z).sum()
    limit = (rtol * np.sqrt((b * b).sum())) ** 2
    for _ in range(10 * len(b) + 100):
        if (r * r).sum() <= limit:
            return x
        Ap = A @ p
        alpha = rz / (p * Ap).sum()
        x += alpha * p
        r -= alpha * Ap
        z = inv_diagonal * r
        rz, rz_old = (r * z).sum(), rz
        p = z + (rz / rz_old) * p
    raise RuntimeError("finite-volume diffusion: conjugate gradients did not converge")


class _DeterministicBackend:
    """Counts held as floats and advanced by :class:`FiniteVolumeDiffusion` on every rank."""

    def __init__(self, geometry: TetGeometry, settings: StepsSettings):
        self._substeps = settings.substeps
        self._fv = FiniteVolumeDiffusion(geometry, settings.species, settings.dt_ms / settings.substeps)
        self._counts = {
            s.name: molecules_from_mM(np.full(len(geometry.tets), s.conc_0_mM), geometry.volume_um3)
            for s in settings.species
        }
        self._t_ms = 0.0

    def run(self, t_ms: float) -> None:
        n_sub = round((t_ms - self._t_ms) / self._fv.substep_ms)
        for name, counts in self._counts.items():
            for _ in range(n_sub):
                counts = self._fv.step(counts, name)
            self._counts[name] = counts
        self._t_ms += n_sub * self._fv.substep_ms

    def get_counts(self, species: str) -> np.ndarray:
        return self._counts[species].copy()

    def set_counts(self, species: str, counts: np.ndarray) -> None:
        self._counts[species] = np.array(counts, dtype=float)


class _StepsBackend:
    """STEPS 5 (steps.interface, "API 2"): TetOpSplit (MPI-parallel) or Tetexact (serial).

    STEPS names are prefixed (``ecs_<name>``) because short names such as ``K`` clash with names
    STEPS reserves. The mesh is handed over as arrays (``TetMesh.FromData``, in metres), so
    STEPS's tet order is ours. Counts in STEPS are integers: a fractional amount set through
    :meth:`set_counts` keeps its sub-molecule remainder per tet and adds it to the next set, so
    summed currents are conserved exactly over time. ``check=False`` skips STEPS's model check,
    which prints to stdout on every rank (the model here is two diffusion rules).

    A distributed-mesh solver (``DistTetOpSplit``) would replace the TetMesh/partition pair by a
    ``DistMesh`` loaded from the mesh file and its local-to-global tet ids; it needs a STEPS
    built with Omega_h (see docs/steps.md).
    """

    def __init__(self, geometry: TetGeometry, settings: StepsSettings, parallel: Parallel):
        try:
            import steps.interface  # noqa: F401 - selects STEPS's API 2 before the modules below
        except ImportError as exc:
            raise UserError(
                f"solver {settings.solver!r} needs STEPS 5, which is not installed ({exc}); "
                "install it (see install.sh) or use solver 'deterministic'",
                path="multiscale_run.steps.solver",
            ) from exc
        from steps import geom as sgeom
        from steps import model as smodel
        from steps import rng as srng
        from steps import sim as ssim

        self._n_tet = len(geometry.tets)
        self._names = {s.name: f"ecs_{s.name}" for s in settings.species}
        mdl = smodel.Model()
        with mdl:
            vsys = smodel.VolumeSystem(name="ecs_vsys")
            specs = {
                s.name: smodel.Species(name=self._names[s.name], valence=s.charge) for s in settings.species
            }
            with vsys:
                for s in settings.species:
                    if s.diffusion_m2_per_s > 0:
                        smodel.Diffusion(specs[s.name], s.diffusion_m2_per_s, name=f"diff_{s.name}")
        verts_m = (geometry.vertices_um * 1e-6).ravel().tolist()
        mesh = sgeom.TetMesh.FromData(verts_m, geometry.tets.ravel().tolist())
        with mesh:
            sgeom.Compartment(mesh.tets, vsys, name="ecs")
        if settings.solver == "TetOpSplit":
            # every rank must build the same simulation (a rank that does not hangs the others)
            hosts = ecs_mesh.slab_partition(geometry, parallel.size)
            partition = sgeom.MeshPartition(mesh, tet_hosts=hosts.tolist())
            rng = srng.RNG("mt19937", 512, settings.seed + parallel.rank)
            self._sim = ssim.Simulation(
                "TetOpSplit", mdl, mesh, rng, ssim.MPI.EF_NONE, partition, check=False
            )
        else:
            # serial solver run redundantly: the same seed keeps every rank's copy identical
            rng = srng.RNG("mt19937", 512, settings.seed)
            self._sim = ssim.Simulation("Tetexact", mdl, mesh, rng, check=False)
        self._sim.newRun()
        self._solver = self._sim.stepsSolver
        self._batch_set = settings.solver == "TetOpSplit"
        self._index = np.arange(self._n_tet, dtype=self._index_dtype())
        steps_mesh = mesh.stepsMesh
        self._volume_L = np.array([steps_mesh.getTetVol(i) for i in range(self._n_tet)]) * 1e3
        initial = {
            s.name: molecules_from_mM(np.full(self._n_tet, s.conc_0_mM), geometry.volume_um3)
            for s in settings.species
        }
        self.molecules_per_particle = settings.molecules_per_particle or auto_molecules_per_particle(
            max(float(c.max(initial=0.0)) for c in initial.values())
        )
        self._remainder = {s.name: np.zeros(self._n_tet) for s in settings.species}
        for name, counts in initial.items():
            self.set_counts(name, counts)

    def _index_dtype(self) -> type:
        probe = np.zeros(1)
        for dtype in (np.uint32, np.uint64, np.int64, np.int32):
            try:
                self._solver.getBatchTetSpecCountsNP(
                    np.zeros(1, dtype=dtype), next(iter(self._names.values())), probe
                )
                return dtype
            except (TypeError, ValueError):
                continue
        raise RuntimeError("cannot find the index type STEPS's getBatchTetSpecCountsNP accepts")

    def run(self, t_ms: float) -> None:
        self._sim.run(t_ms * 1e-3)

    def get_counts(self, species: str) -> np.ndarray:
        """Molecules per tet (STEPS particles × molecules_per_particle)."""
        return self._particles(species) * self.molecules_per_particle

    def _particles(self, species: str) -> np.ndarray:
        out = np.zeros(self._n_tet)
        self._solver.getBatchTetSpecCountsNP(self._index, self._names[species], out)
        return out

    def set_counts(self, species: str, counts: np.ndarray) -> None:
        # STEPS sets tets by concentration only (M) and turns it into a count with stochastic
        # rounding of the fraction; handing it whole particles, converted with STEPS's own tet
        # volumes and Avogadro constant, leaves nothing to round, and reading back the counts it
        # made keeps the remainder exact whatever happened.
        target = np.asarray(counts, dtype=float) + self._remainder[species]
        whole = np.floor(target / self.molecules_per_particle)
        if whole.max(initial=0.0) > STEPS_MAX_COUNT:
            i = int(np.argmax(whole))
            raise UserError(
                f"{species}: tet {i} would hold {whole[i]:.3g} particles of {self.molecules_per_particle:g} "
                "molecules, more than STEPS's 32-bit counts hold; raise molecules_per_particle, use "
                "smaller tets or the deterministic solver",
                path="multiscale_run.steps.molecules_per_particle",
            )
        name = self._names[species]
        if self._batch_set:
            conc_M = whole / (self._volume_L * STEPS_AVOGADRO_PER_MOL)
            self._solver.setBatchTetSpecConcsNP(self._index, name, np.ascontiguousarray(conc_M))
        else:
            # Tetexact implements no batch setter: one call per changed tet (small meshes only)
            for i in np.flatnonzero(whole != self._particles(species)):
                self._solver.setTetSpecCount(int(i), name, float(whole[i]))
        self._remainder[species] = target - self.get_counts(species)

    def remainder(self, species: str) -> np.ndarray:
        """Amounts per tet (molecules, less than one particle) not yet handed to STEPS."""
        return self._remainder[species].copy()


# --- the adapter ------------------------------------------------------------------------------
@dataclass
class ClampReport:
    """Negative values set into tets and clamped to zero, per variable."""

    events: dict[str, int] = field(default_factory=dict)
    molecules: dict[str, float] = field(default_factory=dict)

    def add(self, variable: str, n_tets: int, molecules: float) -> None:
        self.events[variable] = self.events.get(variable, 0) + n_tets
        self.molecules[variable] = self.molecules.get(variable, 0.0) + molecules


class StepsSim(Simulator):
    """Extracellular species on the tet mesh, behind the adapter contract.

    Build from a config (``StepsSim(config, parallel, segment_geometry=..., vessel_geometry=...)``;
    the geometries only matter when the mesh has to be generated) or directly from settings and
    a mesh (:meth:`from_settings`). Variables (space ``tet``): ``<species>_count`` (molecules) and
    ``<species>_conc`` (mM), both writable, plus read-only ``volume`` (µm³).
    """

    name = "steps"

    def __init__(
        self,
        config: Any,
        parallel: Parallel,
        *,
        segment_geometry: SegmentGeometry | None = None,
        vessel_geometry: VesselGeometry | None = None,
        geometry: TetGeometry | None = None,
    ):
        settings = StepsSettings.from_section(
            config.simulator("steps"), config.run.dt_ms, config.run.random_seed
        )
        if geometry is None:
            mesh_file = settings.mesh_file or Path(config.base_dir) / "mesh" / "extracellular.msh"
            geometry = load_or_generate_mesh(
                mesh_file,
                settings,
                parallel,
                segment_geometry=segment_geometry,
                vessel_geometry=vessel_geometry,
            )
        self._init(settings, geometry, parallel)

    @classmethod
    def from_settings(cls, settings: StepsSettings, geometry: TetGeometry, parallel: Parallel) -> StepsSim:
        self = cls.__new__(cls)
        self._init(settings, geometry, parallel)
        return self

    def _init(self, settings: StepsSettings, geometry: TetGeometry, parallel: Parallel) -> None:
        self.settings = settings
        self.parallel = parallel
        self._geometry = geometry
        self._species = {s.name: s for s in settings.species}
        self._clamps = ClampReport()
        if settings.solver == "deterministic":
            self._backend: Any = _DeterministicBackend(geometry, settings)
        else:
            self._backend = _StepsBackend(geometry, settings, parallel)
        self._t_ms = 0.0
        log.info(
            "STEPS: %d tets, %s solver, species %s, dt %g ms",
            len(geometry.tets),
            settings.solver,
            ", ".join(self._species),
            settings.dt_ms,
        )

    # --- contract ---
    @property
    def dt_ms(self) -> float:
        return self.settings.dt_ms

    @classmethod
    def declared_variables(cls, section: dict) -> dict[str, Variable]:
        """``<species>_count`` and ``<species>_conc`` of every configured species, and ``volume``."""
        return cls._variables_of(section.get("species", {}))

    def variables(self) -> dict[str, Variable]:
        return self._variables_of(self._species)

    @staticmethod
    def _variables_of(species) -> dict[str, Variable]:
        out = {"volume": Variable("volume", Space.TET, "um3", writable=False, description="tet volume")}
        for name in species:
            out[f"{name}_count"] = Variable(
                f"{name}_count", Space.TET, "1", description=f"{name} molecules per tet"
            )
            out[f"{name}_conc"] = Variable(
                f"{name}_conc", Space.TET, "mM", description=f"{name} concentration"
            )
        return out

    def advance(self, t_ms: float) -> None:
        self._backend.run(t_ms)
        self._t_ms = t_ms

    def get(self, variable: str) -> np.ndarray:
        species, kind = self._parse(variable)
        if kind == "volume":
            return self._geometry.volume_um3.copy()
        counts = self._backend.get_counts(species)
        return counts if kind == "count" else mM_from_molecules(counts, self._geometry.volume_um3)

    def set(self, variable: str, values: np.ndarray) -> None:
        species, kind = self._parse(variable)
        if kind == "volume":
            raise ValueError("volume is read-only")
        values = np.asarray(values, dtype=float)
        if values.shape != (len(self._geometry.tets),):
            raise ValueError(
                f"{variable}: expected {len(self._geometry.tets)} tet values, got shape {values.shape}"
            )
        counts = values if kind == "count" else molecules_from_mM(values, self._geometry.volume_um3)
        negative = counts < 0
        if negative.any():
            lost = float(-counts[negative].sum())
            self._clamps.add(variable, int(negative.sum()), lost)
            log.warning(
                "steps: %d tets of %s went negative at t=%g ms; clamped to 0 (%.3g molecules added)",
                int(negative.sum()),
                variable,
                self._t_ms,
                lost,
            )
            counts = np.where(negative, 0.0, counts)
        self._backend.set_counts(species, counts)

    def add(self, variable: str, delta: np.ndarray) -> None:
        """Add an amount to every tet (``<species>_count`` molecules or ``<species>_conc`` mM)."""
        self.set(variable, self.get(variable) + np.asarray(delta, dtype=float))

    # --- extras ---
    def tet_geometry(self) -> TetGeometry:
        return self._geometry

    def total_molecules(self, species: str) -> float:
        """All molecules of ``species`` in the mesh, including sub-molecule remainders held back
        from STEPS's integer counts."""
        total = float(self._backend.get_counts(species).sum())
        if isinstance(self._backend, _StepsBackend):
            total += float(self._backend.remainder(species).sum())
        return total

    def clamp_report(self) -> ClampReport:
        return self._clamps

    def species(self) -> dict[str, SpeciesSettings]:
        return dict(self._species)

    def _parse(self, variable: str) -> tuple[str, str]:
        if variable == "volume":
            return "", "volume"
        species, _, kind = variable.rpartition("_")
        if species not in self._species or kind not in ("count", "conc"):
            raise KeyError(f"steps has no variable {variable!r} (known: {', '.join(self.variables())})")
        return species, kind


def load_or_generate_mesh(
    mesh_file: Path,
    settings: StepsSettings,
    parallel: Parallel,
    *,
    segment_geometry: SegmentGeometry | None = None,
    vessel_geometry: VesselGeometry | None = None,
) -> TetGeometry:
    """Read the mesh; if the file is missing, rank 0 generates it around all segments and vessels.

    Collective: every rank must call it (the bounding box is reduced over ranks).
    """
    mesh_file = Path(mesh_file)
    if not parallel.all(mesh_file.is_file()):
        lo = np.full(3, np.inf)
        hi = np.full(3, -np.inf)
        for points in _geometry_points(segment_geometry, vessel_geometry):
            if len(points):
                lo = np.minimum(lo, points.min(axis=0))
                hi = np.maximum(hi, points.max(axis=0))
        lo, hi = parallel.min_max(lo, hi)
        if not np.all(np.isfinite(lo)):
            raise UserError(
                f"mesh file {mesh_file} does not exist and there are no segments or vessels to mesh around",
                path="multiscale_run.steps.mesh_file",
            )
        error = None
        if parallel.is_root:
            try:
                ecs_mesh.generate_mesh(mesh_file, lo, hi, {"mesh_generation": settings.mesh_generation})
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
        error = parallel.bcast(error)
        if error is not None:
            raise RuntimeError(f"mesh generation failed on rank 0: {error}")
    return ecs_mesh.read_mesh(mesh_file, settings.mesh_scale_um)


def _geometry_points(segments: SegmentGeometry | None, vessels: VesselGeometry | None) -> list[np.ndarray]:
    out = []
    if segments is not None:
        out += [np.asarray(segments.start_um).reshape(-1, 3), np.asarray(segments.end_um).reshape(-1, 3)]
    if vessels is not None:
        r = np.asarray(vessels.radius_um, dtype=float)[:, None]
        for ends in (vessels.start_um, vessels.end_um):
            ends = np.asarray(ends, dtype=float).reshape(-1, 3)
            out += [ends - r, ends + r]
    return out
