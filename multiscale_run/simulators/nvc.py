"""NvcSim: neurovascular coupling, one flow-inducing system per astrocytic endfoot.

A thin adapter over :mod:`multiscale_run.nvc.flow_signal` (Friston et al. 2000). It reads the
endfeet of the NGV circuit (:mod:`multiscale_run.circuit.ngv`) and the resting radius of the
vessel segment each sits on, and owns the ``endfoot`` space (every endfoot, identical on all
ranks). Activity comes in by couplings (extracellular K+ near the endfoot from STEPS, or the K+
current released in the astrocyte's territory from NEURON, each through a named conversion of
:mod:`multiscale_run.coupling.conversions`); the radius goes out by a coupling to the blood-flow
simulator. Model and calibration: docs/nvc.md.

Radius: the endfoot's vessel takes the radius at which Poiseuille flow through it alone, at its
resting pressure drop, is the model's inflow ``f``: ``r = r₀ f^(1/4)`` (flow ∝ r⁴, Poiseuille).

State (what a checkpoint saves): :attr:`NvcSim.core`'s arrays ``state`` (n, 2: the signal s and
f − 1 of each endfoot) and ``activity`` (n), and :attr:`NvcSim.t_ms`.
"""

from __future__ import annotations

import logging

import numpy as np

from multiscale_run.bloodflow.network import read_sonata_vasculature
from multiscale_run.circuit.ngv import read_astrocytes, read_endfeet
from multiscale_run.errors import UserError
from multiscale_run.nvc.flow_signal import FlowSignalBatch, FlowSignalParameters
from multiscale_run.simulators.base import Simulator
from multiscale_run.spaces import EndfootGeometry, Space, Variable

log = logging.getLogger(__name__)

_E = Space.ENDFOOT
VARIABLES = {
    "activity": Variable("activity", _E, "1", True, "neuronal activity u driving the endfoot (0 at rest)"),
    "signal": Variable("signal", _E, "1/s", True, "flow-inducing (vasoactive) signal s"),
    "flow": Variable("flow", _E, "1", True, "inflow f of the endfoot's vessel relative to rest"),
    "radius": Variable("radius", _E, "um", False, "lumen radius of the endfoot's vessel, r0 f^(1/4)"),
    "resting_radius": Variable("resting_radius", _E, "um", False, "resting lumen radius r0 of the vessel"),
}


def parameters_from_section(section: dict, path: str) -> FlowSignalParameters:
    try:
        return FlowSignalParameters(**section.get("parameters", {}))
    except (TypeError, ValueError) as exc:
        raise UserError(str(exc), path, "multiscale_run.nvc.parameters") from None


class NvcSim(Simulator):
    """Neurovascular coupling on the ``endfoot`` space."""

    name = "nvc"

    def __init__(self, config, parallel):
        section = config.simulator("nvc")
        path = str(config.path)
        self._dt_ms = int(section["ndts"]) * config.run.dt_ms
        self.t_ms = 0.0
        circuit = config.circuit_config
        feet = read_endfeet(circuit, section.get("population", ""))
        astrocytes = read_astrocytes(circuit, section.get("astrocyte_population", ""))
        if feet.astrocyte.size and feet.astrocyte.max() >= astrocytes.node_ids.size:
            raise UserError(
                f"endfoot population {feet.population!r} names astrocytes beyond the "
                f"{astrocytes.node_ids.size} of population {astrocytes.population!r}",
                str(circuit),
            )
        vasculature = _vasculature(circuit, feet.vasculature)
        self._geometry = EndfootGeometry(
            surface_um=feet.surface_um,
            vessel_segment=feet.vessel_segment,
            astrocyte_um=astrocytes.position_um[feet.astrocyte],
            territory_radius_um=np.full(feet.vessel_segment.size, float(section["territory_radius_um"])),
            n_vessels=vasculature.n_segments,
        )
        self.resting_radius_um = vasculature.radius_um[feet.vessel_segment]
        params = parameters_from_section(section, path)
        self.core = FlowSignalBatch(feet.vessel_segment.size, params, self._dt_ms * 1e-3)
        log.info(
            "nvc: %d endfeet of %d astrocytes on %d vessel segments",
            feet.vessel_segment.size,
            astrocytes.node_ids.size,
            np.unique(feet.vessel_segment).size,
        )

    @classmethod
    def declared_variables(cls, section: dict | None = None) -> dict[str, Variable]:
        return dict(VARIABLES)

    @property
    def dt_ms(self) -> float:
        return self._dt_ms

    def variables(self) -> dict[str, Variable]:
        return self.declared_variables()

    def advance(self, t_ms: float) -> None:
        """Step every endfoot up to ``t_ms`` (whole steps of ``dt_ms``, activity held)."""
        steps = round((t_ms - self.t_ms) / self._dt_ms)
        if steps < 0 or abs(self.t_ms + steps * self._dt_ms - t_ms) > 1e-6 * self._dt_ms:
            raise ValueError(f"nvc advances in whole steps of {self._dt_ms} ms ({self.t_ms} ms -> {t_ms} ms)")
        for _ in range(steps):
            self.core.step()
        self.t_ms = t_ms

    def get(self, variable: str) -> np.ndarray:
        core = self.core
        if variable == "activity":
            return core.activity.copy()
        if variable == "signal":
            return core.signal_per_s.copy()
        if variable == "flow":
            return core.flow.copy()
        if variable == "radius":
            bad = np.flatnonzero(core.flow <= 0)
            if bad.size:
                raise RuntimeError(
                    f"nvc: the inflow of {bad.size} endfeet fell to <= 0 (endfoot {bad[0]}: "
                    f"f = {core.flow[bad[0]]:.3g}); the activity driving them is beyond the model"
                )
            return self.resting_radius_um * core.flow**0.25
        if variable == "resting_radius":
            return self.resting_radius_um.copy()
        raise KeyError(f"nvc has no variable {variable!r} (known: {', '.join(VARIABLES)})")

    def set(self, variable: str, values: np.ndarray) -> None:
        if variable not in VARIABLES:
            raise KeyError(f"nvc has no variable {variable!r} (known: {', '.join(VARIABLES)})")
        if not VARIABLES[variable].writable:
            raise KeyError(f"nvc variable {variable!r} is read-only")
        values = np.asarray(values, dtype=np.float64)
        n = self.resting_radius_um.size
        if values.shape != (n,):
            raise ValueError(f"nvc.set({variable!r}) needs {n} values (one per endfoot), got {values.shape}")
        if variable == "activity":
            self.core.activity = values.copy()
        elif variable == "signal":
            self.core.state[:, 0] = values
        else:  # flow: the state holds f - 1
            self.core.state[:, 1] = values - 1.0

    def save_state(self) -> dict[str, np.ndarray]:
        """Each endfoot's signal and flow, the activity driving them, and the time."""
        return {
            "t_ms": np.float64(self.t_ms),
            "state": self.core.state.copy(),
            "activity": self.core.activity.copy(),
        }

    def restore_state(self, state: dict[str, np.ndarray]) -> None:
        self.t_ms = float(state["t_ms"])
        self.core.state = state["state"].copy()
        self.core.activity = state["activity"].copy()

    def endfoot_geometry(self) -> EndfootGeometry:
        return self._geometry


def _vasculature(circuit_config, population: str):
    import libsonata

    config = libsonata.CircuitConfig.from_file(str(circuit_config))
    nodes_file = config.node_population_properties(population).elements_path
    return read_sonata_vasculature(nodes_file, population)
