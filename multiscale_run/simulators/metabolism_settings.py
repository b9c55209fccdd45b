"""The metabolism adapter's settings: the ``multiscale_run.metabolism`` section, typed and checked
once (its defaults come from the schema, ``config/schema/metabolism.json``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from multiscale_run.errors import UserError
from multiscale_run.metabolism.model import ModelOptions
from multiscale_run.metabolism.stimulus import Stimulus

MODES = ("coupled", "standalone")
BACKENDS = ("python", "julia")
_WHERE = "multiscale_run.metabolism"


@dataclass(frozen=True)
class MetabolismSettings:
    """``dt_ms`` = ndts · run.dt; tolerances of the stiff integrator; ``stimulus`` only in
    standalone mode (the flow protocol and drive of the model itself)."""

    dt_ms: float
    mode: str
    backend: str
    rtol: float
    atol: float
    max_step_ms: float | None
    capillary_dynamics: bool
    parameters: Mapping[str, float]
    initial_state: Mapping[str, float]
    stimulus: Stimulus | None

    def __post_init__(self) -> None:
        for key, value, allowed in (("mode", self.mode, MODES), ("backend", self.backend, BACKENDS)):
            if value not in allowed:
                raise UserError(f"{value!r} is not one of {list(allowed)}", path=f"{_WHERE}.{key}")
        for key, value in (("dt_ms", self.dt_ms), ("rtol", self.rtol), ("max_step_ms", self.max_step_ms)):
            if value is not None and not value > 0:
                raise UserError(f"{key} must be > 0, got {value}", path=f"{_WHERE}.{key}")
        if not self.atol >= 0:
            raise UserError(f"atol must be >= 0, got {self.atol}", path=f"{_WHERE}.atol")
        if (self.stimulus is not None) != (self.mode == "standalone"):
            raise UserError("a stimulus is the standalone mode's (and only its)", path=f"{_WHERE}.stimulus")

    @classmethod
    def from_section(cls, section: Mapping, run_dt_ms: float) -> MetabolismSettings:
        """From a schema-filled ``multiscale_run.metabolism`` section."""
        stimulus = None
        if section["mode"] == "standalone":
            stim = section["stimulus"]
            try:
                stimulus = Stimulus(
                    t1_s=float(stim["t1"]),
                    t_stim_s=float(stim["t_stim"]),
                    N_e=float(stim["N_e"]),
                    long_mode=bool(stim["long_mode"]),
                    cbf=bool(stim["cbf"]),
                    species=stim["species"],
                    dcbf=float(stim["dcbf"]),
                )
            except ValueError as exc:
                raise UserError(str(exc), path=f"{_WHERE}.stimulus") from None
        max_step = section["max_step_ms"]
        return cls(
            dt_ms=int(section["ndts"]) * run_dt_ms,
            mode=section["mode"],
            backend=section["backend"],
            rtol=float(section["rtol"]),
            atol=float(section["atol"]),
            max_step_ms=None if max_step is None else float(max_step),
            capillary_dynamics=bool(section["capillary_dynamics"]),
            parameters=dict(section["parameters"]),
            initial_state=dict(section["initial_state"]),
            stimulus=stimulus,
        )

    def model_options(self) -> ModelOptions:
        if self.stimulus is not None:
            return ModelOptions.standalone(self.stimulus)
        return ModelOptions.coupled(capillary=self.capillary_dynamics)
