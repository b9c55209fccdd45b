"""The STEPS simulator's settings: species and solver, as plain values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from multiscale_run.errors import UserError
from multiscale_run.simulators.steps.units import UM2_PER_MS_PER_M2_PER_S

SOLVERS = ("TetOpSplit", "Tetexact", "deterministic")


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
            dt_ms=int(section["ndts"]) * float(run_dt_ms),
            species=species,
            solver=solver,
            seed=int(random_seed if seed is None else seed),
            substeps=int(section.get("substeps", 1)),
            mesh_file=Path(mesh_file) if mesh_file else None,
            mesh_scale_um=float(section.get("mesh_scale_um", 1.0)),
            mesh_generation=dict(section.get("mesh_generation", {})),
            molecules_per_particle=section.get("molecules_per_particle"),
        )
