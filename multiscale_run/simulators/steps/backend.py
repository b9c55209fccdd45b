"""The STEPS 5 backend (the only module that imports ``steps``)."""

from __future__ import annotations

import logging

import numpy as np

from multiscale_run import mesh as ecs_mesh
from multiscale_run.errors import UserError
from multiscale_run.parallel import Parallel
from multiscale_run.simulators.steps.settings import StepsSettings
from multiscale_run.simulators.steps.units import (
    STEPS_AVOGADRO_PER_MOL,
    STEPS_MAX_COUNT,
    auto_molecules_per_particle,
    molecules_from_mM,
)
from multiscale_run.spaces import TetGeometry

log = logging.getLogger(__name__)


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
            rng = srng.RNG("mt19937", 512, self._seed(settings.seed, parallel.rank))
            self._sim = ssim.Simulation(
                "TetOpSplit", mdl, mesh, rng, ssim.MPI.EF_NONE, partition, check=False
            )
        else:
            # serial solver run redundantly: the same seed keeps every rank's copy identical
            rng = srng.RNG("mt19937", 512, self._seed(settings.seed, 0))
            self._sim = ssim.Simulation("Tetexact", mdl, mesh, rng, check=False)
        self._rng, self._seed_base = (
            rng,
            (settings.seed, parallel.rank if settings.solver == "TetOpSplit" else 0),
        )
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

    @staticmethod
    def _seed(seed: int, rank: int, step: int = 0) -> int:
        """The RNG seed of a rank: ``seed + rank`` from t = 0; a resumed run starts a new stream
        per resume step (see :meth:`restore_state`)."""
        return (seed + rank + 1_000_003 * step) % 2**32

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
        self._set_particles(species, whole)
        self._remainder[species] = target - self.get_counts(species)

    def _set_particles(self, species: str, whole: np.ndarray) -> None:
        name = self._names[species]
        if self._batch_set:
            conc_M = whole / (self._volume_L * STEPS_AVOGADRO_PER_MOL)
            self._solver.setBatchTetSpecConcsNP(self._index, name, np.ascontiguousarray(conc_M))
        else:
            # Tetexact implements no batch setter: one call per changed tet (small meshes only)
            for i in np.flatnonzero(whole != self._particles(species)):
                self._solver.setTetSpecCount(int(i), name, float(whole[i]))

    def save_state(self) -> dict[str, np.ndarray]:
        """Particles and sub-particle remainders per tet and species, and the solver's time. The
        mt19937 stream's position is not reachable through STEPS's Python API (its ``checkpoint``
        files hold counts, not the generator): see :meth:`restore_state`."""
        state = {"t_s": np.float64(self._solver.getTime())}
        for name in self._names:
            state[f"particles/{name}"] = self._particles(name)
            state[f"remainder/{name}"] = self._remainder[name].copy()
        return state

    def restore_state(self, state: dict[str, np.ndarray], step: int) -> None:
        """Counts and time as saved; the generator is reseeded from (seed, rank, ``step``), so a
        resumed stochastic run is reproducible and statistically equivalent to an uninterrupted
        one, not bit-identical to it."""
        for name in self._names:
            self._set_particles(name, state[f"particles/{name}"])
            self._remainder[name] = state[f"remainder/{name}"].copy()
        self._solver.setTime(float(state["t_s"]))
        self._rng.initialize(self._seed(*self._seed_base, step))

    def remainder(self, species: str) -> np.ndarray:
        """Amounts per tet (molecules, less than one particle) not yet handed to STEPS."""
        return self._remainder[species].copy()
