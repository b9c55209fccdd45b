"""Step sizes: quiet phases take the long steps the error control allows (no fixed cap binds),
without losing accuracy; the standalone HH neuron keeps a cap only while its stimulus is on."""

from __future__ import annotations

import numpy as np
from test_metabolism_adapter import make_config

from multiscale_run.metabolism.model import ModelOptions
from multiscale_run.metabolism.parameters import STATE_NAMES
from multiscale_run.metabolism.solver import HH_STIMULUS_MAX_STEP_S, J15Batch
from multiscale_run.metabolism.stimulus import Stimulus
from multiscale_run.parallel import Parallel
from multiscale_run.simulators.metabolism import MetabolismSim

RESTING_PUMP_ATP = 0.17859  # mM/s, the resting v_Pump,n (spec §8.1)


def resting_sim(tmp_path, **section) -> MetabolismSim:
    sim = MetabolismSim(make_config(tmp_path, ndts=24_000_000, **section), Parallel(), np.arange(4))
    sim.set("J_pump_ATP_n", np.full(4, RESTING_PUMP_ATP))
    # a small, different drive per cell: each relaxes to its own nearby steady state
    sim.set("v_stim_n", np.array([0.0, 0.01, 0.02, 0.05]))
    return sim


def test_quiet_coupled_cells_take_long_steps_and_stay_accurate(tmp_path):
    free = resting_sim(tmp_path)
    free.advance(60_000.0)  # 60 s in one coupling step
    steps = free.core.stats.per_cell_steps
    # the old fixed 100-ms cap forced 600 steps per cell
    assert steps.max() < 100, steps
    capped = resting_sim(tmp_path, max_step_ms=100.0)
    capped.advance(60_000.0)
    assert capped.core.stats.per_cell_steps.min() >= 600
    for name in STATE_NAMES:
        np.testing.assert_allclose(free.get(name), capped.get(name), rtol=1e-5, atol=1e-9, err_msg=name)


def test_standalone_hh_is_capped_only_while_the_stimulus_is_on():
    stim = Stimulus(t1_s=2.0, t_stim_s=3.0)
    batch = J15Batch(1, ModelOptions.standalone(stim))
    caps = batch.integrator.max_step(np.array([0.0, 1.99, 2.0, 4.99, 5.0, 100.0]))
    np.testing.assert_array_equal(
        caps, [np.inf, np.inf, HH_STIMULUS_MAX_STEP_S, HH_STIMULUS_MAX_STEP_S, np.inf, np.inf]
    )
    long_mode = J15Batch(1, ModelOptions.standalone(Stimulus(long_mode=True)))
    assert np.all(np.isinf(long_mode.integrator.max_step(np.array([0.0, 1.0]))))
    explicit = J15Batch(1, ModelOptions.standalone(stim), max_step_s=0.5)
    np.testing.assert_array_equal(explicit.integrator.max_step(np.array([0.0, 3.0])), [0.5, 0.5])
