"""A toy simulator, added to the runtime by this file and ``toy.json`` alone.

Per neuron of this rank, ``x`` relaxes towards the input ``drive`` with time constant ``tau_ms``:
over a step of ``dt``, ``x <- drive + (x - drive) exp(-dt / tau)`` (the exact solution of
``dx/dt = (drive - x) / tau`` for a constant drive).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from multiscale_run.simulators import catalogue
from multiscale_run.simulators.base import Simulator
from multiscale_run.spaces import Space, Variable

SPEC = catalogue.SimulatorSpec(
    name="toy",
    adapter=f"{__name__}:ToySim",
    schema=Path(__file__).with_name("toy.json"),
    space=Space.NEURON,
    needs=(catalogue.NODE_IDS,),
    description="the toy leaky integrator",
)


class ToySim(Simulator):
    name = "toy"

    def __init__(self, config, parallel, node_ids: np.ndarray):
        section = config.simulator("toy")
        self._dt_ms = section["ndts"] * config.run.dt_ms
        self.tau_ms = float(section["tau_ms"])
        self.values = {"x": np.zeros(len(node_ids)), "drive": np.zeros(len(node_ids))}

    @classmethod
    def declared_variables(cls, section: dict) -> dict[str, Variable]:
        return {
            "x": Variable("x", Space.NEURON, "mM", writable=False, description="relaxed value"),
            "drive": Variable("drive", Space.NEURON, "mM", description="target value"),
        }

    @property
    def dt_ms(self) -> float:
        return self._dt_ms

    def variables(self) -> dict[str, Variable]:
        return self.declared_variables({})

    def advance(self, t_ms: float) -> None:
        x, drive = self.values["x"], self.values["drive"]
        self.values["x"] = drive + (x - drive) * np.exp(-self._dt_ms / self.tau_ms)

    def get(self, variable: str) -> np.ndarray:
        return self.values[variable].copy()

    def set(self, variable: str, values: np.ndarray) -> None:
        self.values[variable] = np.asarray(values, dtype=np.float64).copy()


def register() -> None:
    catalogue.register(SPEC)
