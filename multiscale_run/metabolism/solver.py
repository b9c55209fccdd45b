"""The J15 model of a batch of cells with its integrator: the numerical core of MetabolismSim.

Independent of the runtime's Config: plain arguments, so it is tested directly. Times in s.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial

import numpy as np

from multiscale_run.metabolism.jacobian import sparsity_pattern
from multiscale_run.metabolism.model import ModelOptions, derived, rhs
from multiscale_run.metabolism.parameters import (
    INPUTS,
    PARAMETERS,
    STATE_INDEX,
    STATE_NAMES,
    initial_state,
    make_parameters,
)
from multiscale_run.metabolism.rodas import BatchRodas, Stats

log = logging.getLogger(__name__)

#: First trial step (s) of a fresh cell; the controller grows it by up to 6× per step.
INITIAL_STEP_S = 1e-5
#: Default step cap (s) of the standalone HH neuron while the stimulus is on, so that no spike is
#: stepped over: the cap with which the MATLAB reference stimulation is reproduced (spec §8.2,
#: tests/unit/test_metabolism_reference.py). Elsewhere the error control alone sets the step.
HH_STIMULUS_MAX_STEP_S = 0.01
DERIVED_NAMES = ("ADP_n", "AMP_n", "ADP_g", "AMP_g")


def default_max_step(options: ModelOptions):
    """The step cap when none is configured: :data:`HH_STIMULUS_MAX_STEP_S` while the stimulus of
    a standalone HH neuron is on, none otherwise (a number or a function of the cells' times)."""
    stim = options.stimulus
    if stim is None or not options.hh:
        return np.inf
    t_on, t_off = stim.t1_s, stim.t1_s + stim.t_stim_s
    # the stimulus edges are breakpoints, so a step that starts inside the window ends inside it
    return lambda t: np.where((t >= t_on) & (t < t_off), HH_STIMULUS_MAX_STEP_S, np.inf)


class J15Batch:
    """``n_cells`` independent J15 systems integrated together (state ``[n_cells, 33]``).

    ``options`` picks standalone or coupled mode (:class:`~.model.ModelOptions`); ``parameters``
    and ``initial`` override parameter/input values and initial states by name (a number for all
    cells or one value per cell); ``rtol``/``atol`` are the integrator's tolerances and
    ``max_step_s`` caps its step everywhere. ``None`` (default): no cap, except
    :data:`HH_STIMULUS_MAX_STEP_S` for the standalone HH neuron while its stimulus is on; quiet
    phases take the steps the error control allows.
    """

    def __init__(
        self,
        n_cells: int,
        options: ModelOptions,
        parameters: Mapping[str, float | np.ndarray] | None = None,
        initial: Mapping[str, float | np.ndarray] | None = None,
        rtol: float = 1e-6,
        atol: float = 1e-9,
        max_step_s: float | None = None,
        t0_s: float = 0.0,
    ):
        self.n_cells = n_cells
        self.options = options
        self.params = make_parameters(n_cells, parameters)
        self.y = initial_state(n_cells, initial)
        self.t_s = np.full(n_cells, float(t0_s))
        self.h_s = np.full(n_cells, INITIAL_STEP_S)
        self.active = np.ones(n_cells, dtype=bool)
        self.stats = Stats()
        fun = partial(rhs, opts=options)
        dynamic = np.array([i for i, name in enumerate(STATE_NAMES) if name not in options.frozen_states()])
        # structural pattern from states spread around rest and times inside/outside the drive
        rng = np.random.default_rng(0)
        samples = initial_state(3) * (1.0 + 0.2 * rng.random((3, len(STATE_NAMES))))
        samples[:, STATE_INDEX["V"]] = [-70.0, -40.0, 10.0]
        stim = options.stimulus
        t_samples = [t0_s] if stim is None else [stim.t1_s + 0.3 * stim.t_stim_s, stim.t1_s - 1.0]
        pattern = sparsity_pattern(fun, samples, np.array(t_samples), make_parameters(3))
        breakpoints = None
        if stim is not None:
            points = stim.breakpoints_s()
            breakpoints = lambda lo, hi: points  # noqa: E731 - static list of the protocol
        self.integrator = BatchRodas(
            fun,
            pattern,
            dynamic,
            rtol=rtol,
            atol=atol,
            max_step=default_max_step(options) if max_step_s is None else max_step_s,
            autonomous=stim is None,
            breakpoints=breakpoints,
        )
        log.debug("J15 Jacobian: %d probes for %d dynamic states", self.integrator.jac.n_probes, len(dynamic))

    def advance(self, t_end_s: float) -> None:
        """Integrate every active cell from its current time to ``t_end_s`` (s)."""
        cells = np.flatnonzero(self.active)
        if cells.size == self.n_cells:
            self.integrator.integrate(self.t_s, self.y, self.h_s, t_end_s, self.params, self.stats)
        elif cells.size:
            # excluded cells stay frozen: integrate a compact copy of the others
            from multiscale_run.metabolism.parameters import take_cells

            t, y, h = self.t_s[cells], self.y[cells], self.h_s[cells]
            self.integrator.integrate(t, y, h, t_end_s, take_cells(self.params, cells))
            self.t_s[cells], self.y[cells], self.h_s[cells] = t, y, h
        self.t_s[~self.active] = t_end_s

    def exclude(self, cells: np.ndarray) -> None:
        """Freeze these cells (local indices): they keep their last state."""
        self.active[np.asarray(cells, dtype=int)] = False

    def names(self) -> tuple[str, ...]:
        return (*STATE_NAMES, *DERIVED_NAMES, *INPUTS)

    def get(self, name: str) -> np.ndarray:
        """A state, derived quantity or per-cell input/parameter by name, one value per cell."""
        if name in STATE_INDEX:
            return self.y[:, STATE_INDEX[name]].copy()
        if name in DERIVED_NAMES:
            return np.asarray(derived(self.y, self.params, name)[name], dtype=float).copy()
        if name in self.params:
            return np.broadcast_to(self.params[name], (self.n_cells,)).astype(float)
        raise KeyError(f"unknown J15 variable {name!r}")

    def set(self, name: str, values: np.ndarray | float) -> None:
        """Overwrite a state or a per-cell input/parameter (one value per cell or one for all)."""
        values = np.broadcast_to(np.asarray(values, dtype=float), (self.n_cells,))
        if name in STATE_INDEX:
            self.y[:, STATE_INDEX[name]] = values
        elif name in INPUTS or name in PARAMETERS:
            self.params[name] = values.copy()
        elif name in DERIVED_NAMES:
            raise KeyError(f"{name!r} is derived from ATP and read-only")
        else:
            raise KeyError(f"unknown J15 variable {name!r}")
