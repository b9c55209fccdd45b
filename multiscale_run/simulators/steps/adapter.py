"""``StepsSim``: ions in the extracellular space (ECS), on the tetrahedral mesh.

Three interchangeable backends advance the per-tet amounts of each configured species:

* ``TetOpSplit`` (default): STEPS 5's stochastic operator-splitting solver, MPI-parallel; every
  rank creates the same simulation with a tet partition (see :func:`multiscale_run.mesh.slab_partition`).
* ``Tetexact``: STEPS's exact SSA, serial: every rank runs the whole mesh with the same seed.
* ``deterministic``: implicit-Euler finite-volume diffusion with the same two-point fluxes STEPS
  uses (:class:`FiniteVolumeDiffusion`); needs no STEPS, runs identically on every rank.

Only :mod:`.backend` imports ``steps``. Values live on the global ``tet`` space
(identical on every rank, mesh order). Amounts are kept as molecule counts; concentrations are
``count / (N_A · V_tet)``. Setting a negative value clamps it to zero and counts it (a tet can
never go negative); :meth:`StepsSim.clamp_report` says how often and how much.

Unit conversions for the couplings (see docs/steps.md): a membrane current ``I`` (nA) of an ion
of valence ``z`` over ``dt`` (ms) carries ``I · dt · 1e-12 / (z · e)`` ions (Faraday's law per
ion, e = 1.602176634e-19 C); ``mA/cm² · µm²`` is ``1e-2 nA``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from multiscale_run import mesh as ecs_mesh
from multiscale_run.errors import UserError
from multiscale_run.parallel import Parallel
from multiscale_run.simulators.base import Simulator
from multiscale_run.simulators.steps.backend import _StepsBackend
from multiscale_run.simulators.steps.diffusion import _DeterministicBackend
from multiscale_run.simulators.steps.settings import SpeciesSettings, StepsSettings
from multiscale_run.simulators.steps.units import mM_from_molecules, molecules_from_mM
from multiscale_run.spaces import Kind, SegmentGeometry, Space, TetGeometry, Variable, VesselGeometry

log = logging.getLogger(__name__)


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
        out = {"volume": Variable("volume", Space.TET, "um3", False, "tet volume", Kind.EXTENSIVE)}
        for name in species:
            out[f"{name}_count"] = Variable(
                f"{name}_count", Space.TET, "1", description=f"{name} molecules per tet", kind=Kind.EXTENSIVE
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

    def save_state(self) -> dict[str, np.ndarray]:
        """The backend's amounts and time, and the clamp counters."""
        clamps = {"events": self._clamps.events, "molecules": self._clamps.molecules}
        return {"t_ms": np.float64(self._t_ms), "clamps": np.array(json.dumps(clamps))} | {
            f"backend/{k}": v for k, v in self._backend.save_state().items()
        }

    def restore_state(self, state: dict[str, np.ndarray]) -> None:
        self._t_ms = float(state["t_ms"])
        clamps = json.loads(str(state["clamps"]))
        self._clamps = ClampReport(clamps["events"], clamps["molecules"])
        backend = {k.removeprefix("backend/"): v for k, v in state.items() if k.startswith("backend/")}
        self._backend.restore_state(backend, step=round(self._t_ms / self.dt_ms))

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
                ecs_mesh.ensure_mesh(mesh_file, {"mesh_generation": settings.mesh_generation}, (lo, hi))
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
