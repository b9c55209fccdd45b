"""Optional Julia backend: the coupled-mode J15 model of ``julia/j15.jl`` through juliacall.

Used only when ``backend = "julia"`` is configured. Julia is never required: without juliacall
or a Julia installation, construction raises a :class:`~multiscale_run.errors.UserError` that
says so. Standalone mode (HH neuron) is Python-only.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from multiscale_run.errors import UserError
from multiscale_run.metabolism.model import ModelOptions, derived
from multiscale_run.metabolism.parameters import (
    ALL_PARAMETER_NAMES,
    INPUTS,
    PARAMETERS,
    STATE_INDEX,
    initial_state,
    make_parameters,
)
from multiscale_run.metabolism.solver import DERIVED_NAMES
from multiscale_run.resources import data_path


def julia_main():
    """Julia's ``Main`` with ``j15.jl`` loaded, or a UserError explaining why not."""
    try:
        from juliacall import Main as jl  # noqa: N813 - juliacall's documented import
    except Exception as exc:  # juliacall missing, or Julia absent and not downloadable
        raise UserError(
            f"the julia metabolism backend needs juliacall and a Julia installation ({exc}); "
            'use backend = "python"'
        ) from exc
    jl.include(str(data_path("julia") / "j15.jl"))
    return jl


class JuliaJ15Batch:
    """The :class:`~.solver.J15Batch` interface over ``J15.advance!`` (coupled mode only)."""

    def __init__(
        self,
        n_cells: int,
        options: ModelOptions,
        parameters: Mapping[str, float] | None = None,
        initial: Mapping[str, float] | None = None,
        rtol: float = 1e-6,
        atol: float = 1e-9,
        max_step_s: float | None = None,  # Rodas5P's own step control decides
    ):
        if options.stimulus is not None:
            raise UserError("the julia metabolism backend runs coupled mode only")
        self.jl = julia_main()
        self.n_cells = n_cells
        self.options = options
        self.params = make_parameters(n_cells, parameters)
        self.y = initial_state(n_cells, initial)
        self.t_s = 0.0
        self.rtol, self.atol = rtol, atol
        self.active = np.ones(n_cells, dtype=bool)

    def advance(self, t_end_s: float) -> None:
        cells = np.flatnonzero(self.active)
        full = {k: np.broadcast_to(v, (self.n_cells,)) for k, v in self.params.items()}
        nt = self.jl.seval("(names, values) -> [NamedTuple{Tuple(Symbol.(names))}(Tuple(v)) for v in values]")
        per_cell = nt(
            list(ALL_PARAMETER_NAMES), [[float(full[k][c]) for k in ALL_PARAMETER_NAMES] for c in cells]
        )
        u = np.ascontiguousarray(self.y[cells].T)
        self.jl.J15.advance_b(
            u, per_cell, self.t_s, t_end_s, rtol=self.rtol, atol=self.atol, capillary=self.options.capillary
        )
        self.y[cells] = u.T
        self.t_s = t_end_s

    def exclude(self, cells: np.ndarray) -> None:
        self.active[np.asarray(cells, dtype=int)] = False

    def get(self, name: str) -> np.ndarray:
        if name in STATE_INDEX:
            return self.y[:, STATE_INDEX[name]].copy()
        if name in DERIVED_NAMES:
            return np.asarray(derived(self.y, self.params)[name], dtype=float)
        return np.broadcast_to(self.params[name], (self.n_cells,)).astype(float)

    def set(self, name: str, values) -> None:
        values = np.broadcast_to(np.asarray(values, dtype=float), (self.n_cells,))
        if name in STATE_INDEX:
            self.y[:, STATE_INDEX[name]] = values
        elif name in INPUTS or name in PARAMETERS:
            self.params[name] = values.copy()
        else:
            raise KeyError(f"unknown J15 variable {name!r}")
