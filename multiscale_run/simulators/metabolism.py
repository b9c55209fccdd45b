"""MetabolismSim: the J15 metabolism model, one ODE system per local neuron.

A thin adapter over :mod:`multiscale_run.metabolism` (model, batched RODAS4 integrator) or the
optional Julia backend. Model time is in s, the orchestrator's in ms. Equations and the
coupled-mode contract: docs/metabolism.md.

Variables: the 33 states (writable), derived ADP/AMP, the per-cell inputs (writable) and the
model's fluxes (read-only, :mod:`multiscale_run.metabolism.flux_variables`), evaluated at the
current state and time. In standalone mode ``F_in`` is the flow protocol's F_in(t) (read-only).
"""

from __future__ import annotations

import logging

import numpy as np

from multiscale_run.errors import UserError
from multiscale_run.metabolism.flux_variables import FLUX_VARIABLES, available_fluxes
from multiscale_run.metabolism.model import ModelOptions, fluxes
from multiscale_run.metabolism.parameters import INPUTS, PARAMETERS, STATE_NAMES, STATE_UNITS
from multiscale_run.metabolism.solver import DERIVED_NAMES, J15Batch
from multiscale_run.simulators.base import Simulator
from multiscale_run.simulators.metabolism_settings import MetabolismSettings
from multiscale_run.spaces import Space, Variable

log = logging.getLogger(__name__)

_DERIVED_DESCRIPTIONS = {
    "ADP_n": "neuronal ADP (adenylate kinase equilibrium)",
    "AMP_n": "neuronal AMP",
    "ADP_g": "astrocytic ADP",
    "AMP_g": "astrocytic AMP",
}


class MetabolismSim(Simulator):
    """The metabolism simulator on the ``neuron`` space (this rank's cells, ascending gid,
    :mod:`multiscale_run.nodes`)."""

    name = "metabolism"

    def __init__(self, config, parallel, node_ids: np.ndarray, settings: MetabolismSettings | None = None):
        """``settings``: the typed section (else parsed from ``config``'s, once)."""
        if settings is None:
            settings = MetabolismSettings.from_section(config.simulator("metabolism"), config.run.dt_ms)
        self.settings = settings
        self.parallel = parallel
        self.node_ids = np.asarray(node_ids)
        if np.any(np.diff(self.node_ids) <= 0):
            raise ValueError("MetabolismSim expects this rank's node ids in ascending order")
        self._dt_ms = settings.dt_ms
        self.t_ms = 0.0
        options = settings.model_options()
        self._standalone = options.stimulus is not None
        self._fluxes = available_fluxes(options)
        self._flux_cache: dict | None = None
        kwargs = dict(
            parameters=dict(settings.parameters),
            initial=dict(settings.initial_state),
            rtol=settings.rtol,
            atol=settings.atol,
            max_step_s=None if settings.max_step_ms is None else settings.max_step_ms * 1e-3,
        )
        try:
            if settings.backend == "julia":
                from multiscale_run.metabolism.julia_backend import JuliaJ15Batch

                self.core = JuliaJ15Batch(len(self.node_ids), options, **kwargs)
            else:
                self.core = J15Batch(len(self.node_ids), options, **kwargs)
        except KeyError as exc:
            where = str(config.path) if config is not None else None
            raise UserError(str(exc.args[0]), where, "multiscale_run.metabolism") from exc
        self._variables = self._variables_of(options)
        log.info("metabolism: %d cells, mode %s", len(self.node_ids), settings.mode)

    @classmethod
    def declared_variables(cls, section: dict | None = None) -> dict[str, Variable]:
        """Every variable: the 33 states, derived ADP/AMP (read-only), the per-cell inputs and the
        fluxes of the model the section selects (read-only; no section: the coupled default)."""
        if not section:
            return cls._variables_of(ModelOptions.coupled())
        return cls._variables_of(MetabolismSettings.from_section(section, 1.0).model_options())

    @staticmethod
    def _variables_of(options: ModelOptions) -> dict[str, Variable]:
        out = {
            name: Variable(name, Space.NEURON, STATE_UNITS[name], True, "J15 state") for name in STATE_NAMES
        }
        out |= {
            name: Variable(name, Space.NEURON, "mM", False, desc)
            for name, desc in _DERIVED_DESCRIPTIONS.items()
        }
        out |= {
            name: Variable(name, Space.NEURON, unit, True, desc) for name, (_, unit, desc) in INPUTS.items()
        }
        if options.stimulus is not None:
            out["F_in"] = Variable(
                "F_in", Space.NEURON, "1/s", False, "blood inflow of the flow protocol F_in(t)"
            )
        out |= {
            name: Variable(name, Space.NEURON, FLUX_VARIABLES[name][1], False, FLUX_VARIABLES[name][2])
            for name in available_fluxes(options)
        }
        return out

    @property
    def dt_ms(self) -> float:
        return self._dt_ms

    def variables(self) -> dict[str, Variable]:
        return self._variables

    def advance(self, t_ms: float) -> None:
        """Integrate every non-excluded cell from the current time to ``t_ms`` (ms)."""
        if t_ms < self.t_ms - 1e-9:
            raise ValueError(f"metabolism cannot go back in time ({self.t_ms} ms -> {t_ms} ms)")
        self.core.advance(t_ms * 1e-3)
        self.t_ms = t_ms
        self._flux_cache = None

    def get(self, variable: str) -> np.ndarray:
        self._check(variable)
        if variable in self._fluxes or (variable == "F_in" and self._standalone):
            key = FLUX_VARIABLES[variable][0] if variable in self._fluxes else "F_in"
            return np.broadcast_to(self._flux_values()[key], (len(self.node_ids),)).astype(np.float64)
        return np.asarray(self.core.get(variable), dtype=np.float64).copy()

    def _flux_values(self) -> dict:
        """``model.fluxes`` of every cell at its current state and time (cached until it changes)."""
        if self._flux_cache is None:
            core = self.core
            t_s = np.broadcast_to(np.asarray(core.t_s, dtype=np.float64), (len(self.node_ids),))
            self._flux_cache = fluxes(t_s, core.y, core.params, core.options)
        return self._flux_cache

    def set(self, variable: str, values: np.ndarray) -> None:
        self._check(variable)
        if variable in DERIVED_NAMES or variable in self._fluxes:
            raise ValueError(f"metabolism variable {variable!r} is derived and read-only")
        if variable == "F_in" and self._standalone:
            raise ValueError(
                "metabolism F_in follows the standalone flow protocol (stimulus) and is read-only"
            )
        values = np.asarray(values, dtype=np.float64)
        if values.ndim and values.shape != (len(self.node_ids),):
            raise ValueError(
                f"metabolism.set({variable!r}): {values.shape[0]} values for {len(self.node_ids)} local cells"
            )
        self.core.set(variable, values)
        self._flux_cache = None

    def exclude(self, local_neuron_indices: np.ndarray) -> None:
        self.core.exclude(np.asarray(local_neuron_indices, dtype=int))

    def save_state(self) -> dict[str, np.ndarray]:
        """States, each cell's time and next trial step, the active mask and the per-cell inputs
        (what couplings write). The model's constants are the config's: a run started from the
        snapshot with other constants (a sweep's warm start) integrates with its own."""
        core = self.core
        state = {
            "t_ms": np.float64(self.t_ms),
            "y": core.y,
            "t_s": np.asarray(core.t_s),
            "active": core.active,
        }
        if hasattr(core, "h_s"):  # the python integrator's step sizes (Julia restarts each advance)
            state["h_s"] = core.h_s
        state |= {f"inputs/{name}": np.asarray(core.params[name]) for name in INPUTS}
        return {key: np.array(value, copy=True) for key, value in state.items()}

    def restore_state(self, state: dict[str, np.ndarray]) -> None:
        core = self.core
        self.t_ms = float(state["t_ms"])
        core.y[...] = state["y"]
        core.t_s = state["t_s"].copy() if state["t_s"].ndim else float(state["t_s"])
        core.active[...] = state["active"]
        if "h_s" in state:
            core.h_s[...] = state["h_s"]
        for name in INPUTS:
            core.params[name] = state[f"inputs/{name}"].copy()
        self._flux_cache = None

    def _check(self, variable: str) -> None:
        if variable not in self._variables and variable not in PARAMETERS:
            raise KeyError(f"metabolism has no variable {variable!r}; known: " + ", ".join(self._variables))
