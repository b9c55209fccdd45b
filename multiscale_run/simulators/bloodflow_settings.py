"""The blood-flow adapter's settings: the ``multiscale_run.bloodflow`` section, typed and checked
once (its defaults come from the schema, ``config/schema/bloodflow.json``). Units: µm, Pa, Pa·s,
µm³/s."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from multiscale_run.errors import UserError

VISCOSITY_LAWS = ("constant", "pries1992")
SOLVERS = ("petsc", "scipy")
SCIPY_METHODS = ("direct", "cg")
_WHERE = "multiscale_run.bloodflow"


@dataclass(frozen=True)
class KspSettings:
    """PETSc KSP of the reduced Laplacian; convergence on the unpreconditioned residual."""

    type: str
    pc_type: str
    rtol: float
    atol: float
    max_it: int
    options: Mapping[str, str]


@dataclass(frozen=True)
class InletOutletSettings:
    """``inlet``: what entry nodes prescribe (pressure Pa, flow µm³/s or mean velocity µm/s);
    empty node lists: detected from the vessel types."""

    inlet: str
    inlet_pressure_Pa: float
    inlet_flow_um3_s: float
    inlet_velocity_um_s: float
    outlet_pressure_Pa: float
    entry_nodes: tuple[int, ...]
    exit_nodes: tuple[int, ...]


@dataclass(frozen=True)
class BloodflowSettings:
    """``dt_ms`` = ndts · run.dt; ``population`` empty: the circuit's only vasculature."""

    dt_ms: float
    population: str
    viscosity_law: str
    viscosity_Pa_s: float
    plasma_viscosity_Pa_s: float
    hematocrit: float
    boundary: InletOutletSettings
    solver: str
    scipy_method: str
    ksp: KspSettings

    def __post_init__(self) -> None:
        for key, value, allowed in (
            ("viscosity_law", self.viscosity_law, VISCOSITY_LAWS),
            ("solver", self.solver, SOLVERS),
            ("scipy_method", self.scipy_method, SCIPY_METHODS),
        ):
            if value not in allowed:
                raise UserError(f"{value!r} is not one of {list(allowed)}", path=f"{_WHERE}.{key}")
        for key in ("dt_ms", "viscosity_Pa_s", "plasma_viscosity_Pa_s"):
            if not getattr(self, key) > 0:
                raise UserError(f"{key} must be > 0, got {getattr(self, key)}", path=f"{_WHERE}.{key}")
        if not 0 <= self.hematocrit < 1:
            raise UserError(
                f"hematocrit must lie in [0, 1), got {self.hematocrit}", path=f"{_WHERE}.hematocrit"
            )

    @property
    def viscosity_law_arguments(self) -> dict:
        """The keyword arguments of :func:`multiscale_run.bloodflow.viscosity.apparent_viscosity_Pa_s`."""
        return {
            "law": self.viscosity_law,
            "viscosity_Pa_s": self.viscosity_Pa_s,
            "plasma_viscosity_Pa_s": self.plasma_viscosity_Pa_s,
            "hematocrit": self.hematocrit,
        }

    @classmethod
    def from_section(cls, section: Mapping, run_dt_ms: float) -> BloodflowSettings:
        """From a schema-filled ``multiscale_run.bloodflow`` section."""
        bcs, ksp = section["boundary_conditions"], section["ksp"]
        return cls(
            dt_ms=int(section["ndts"]) * run_dt_ms,
            population=section["population"],
            viscosity_law=section["viscosity_law"],
            viscosity_Pa_s=float(section["viscosity_Pa_s"]),
            plasma_viscosity_Pa_s=float(section["plasma_viscosity_Pa_s"]),
            hematocrit=float(section["hematocrit"]),
            boundary=InletOutletSettings(
                inlet=bcs["inlet"],
                inlet_pressure_Pa=float(bcs["inlet_pressure_Pa"]),
                inlet_flow_um3_s=float(bcs["inlet_flow_um3_s"]),
                inlet_velocity_um_s=float(bcs["inlet_velocity_um_s"]),
                outlet_pressure_Pa=float(bcs["outlet_pressure_Pa"]),
                entry_nodes=tuple(int(i) for i in bcs["entry_nodes"]),
                exit_nodes=tuple(int(i) for i in bcs["exit_nodes"]),
            ),
            solver=section["solver"],
            scipy_method=section["scipy_method"],
            ksp=KspSettings(
                type=ksp["type"],
                pc_type=ksp["pc_type"],
                rtol=float(ksp["rtol"]),
                atol=float(ksp["atol"]),
                max_it=int(ksp["max_it"]),
                options={str(k): str(v) for k, v in ksp["options"].items()},
            ),
        )
