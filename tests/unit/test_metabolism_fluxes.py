"""The J15 fluxes as metabolism variables: resting values against the published resting fluxes
(spec §8.1, from Jolivet et al. 2015), budgets against the states' own time derivatives, the
standalone flow protocol F_in(t) against its formula (spec §4.11), and read-only-ness."""

from __future__ import annotations

import numpy as np
import pytest
from test_metabolism_adapter import make_config

from multiscale_run.metabolism.parameters import INPUTS
from multiscale_run.parallel import Parallel
from multiscale_run.simulators.metabolism import MetabolismSim

#: spec §8.1, resting fluxes per own compartment (mM/s), as published (5 significant digits)
RESTING = {
    "v_HK_n": 0.004372,
    "v_PGK_n": 0.008744,
    "v_LDH_n": -0.01011,
    "v_LAC_ne": -0.01011,
    "v_MitoIn_n": 0.018852,
    "v_Sh_n": 0.018852,
    "v_MitoOut_n": 0.094262,
    "v_O2_n": 0.056557,
    "v_Pump_g": 0.069207,
    "v_HK_g": 0.016093,
    "v_LDH_g": 0.022309,
    "v_LAC_ge": 0.022255,
    "v_LAC_gc": 5.36e-5,
    "v_MitoIn_g": 0.009878,
    "v_MitoOut_g": 0.049389,
    "v_O2_g": 0.029634,
    "v_GLC_ce": 0.029493,
    "v_GLC_cg": 0.000369,
    "v_GLC_eg": 0.015725,
    "v_GLC_en": 0.004372,
    "v_LAC_ec": 0.005075,
}


def test_resting_fluxes_match_the_published_values(tmp_path):
    sim = MetabolismSim(make_config(tmp_path), Parallel(), np.arange(4))
    for name, value in RESTING.items():
        assert sim.variables()[name].unit == "mM/s"
        np.testing.assert_allclose(sim.get(name), value, rtol=2e-3, atol=1e-7, err_msg=name)


def test_standalone_mode_has_the_neuronal_pump_and_leak(tmp_path):
    config = make_config(tmp_path, mode="standalone", stimulus={"long_mode": True})
    sim = MetabolismSim(config, Parallel(), np.arange(1))
    assert sim.get("v_Pump_n") == pytest.approx(0.17859, rel=1e-4)
    assert sim.get("v_LeakNa_n") == pytest.approx(0.53576, rel=1e-4)
    coupled = MetabolismSim(make_config(tmp_path), Parallel(), np.arange(1))
    # in coupled mode NEURON owns them: no variable that would report a flux that does not act
    assert "v_Pump_n" not in coupled.variables() and "v_LeakNa_n" not in coupled.variables()
    with pytest.raises(KeyError, match="no variable 'v_Pump_n'"):
        coupled.get("v_Pump_n")


def test_driven_fluxes_are_the_rates_of_change_of_the_states(tmp_path):
    """Under a constant drive, dGLC_n/dt = v_GLC_en − v_HK_n and dLAC_n/dt = v_LDH_n − v_LAC_ne
    (spec §5), measured by a centred difference of the integrated states."""
    sim = MetabolismSim(make_config(tmp_path), Parallel(), np.arange(3))
    sim.set("v_stim_n", np.array([0.0, 0.5, 1.5]))
    sim.set("J_pump_ATP_n", np.array([0.17859, 0.35, 0.6]))
    sim.advance(2000.0)
    fl = {name: sim.get(name) for name in ("v_GLC_en", "v_HK_n", "v_LDH_n", "v_LAC_ne")}
    dt = 1.0  # ms
    states = []
    for t in (2000.0 - dt, 2000.0 + dt):
        probe = MetabolismSim(make_config(tmp_path), Parallel(), np.arange(3))
        probe.set("v_stim_n", np.array([0.0, 0.5, 1.5]))
        probe.set("J_pump_ATP_n", np.array([0.17859, 0.35, 0.6]))
        probe.advance(t)
        states.append({name: probe.get(name) for name in ("GLC_n", "LAC_n")})
    rate = {name: (states[1][name] - states[0][name]) / (2 * dt * 1e-3) for name in ("GLC_n", "LAC_n")}
    np.testing.assert_allclose(rate["GLC_n"], fl["v_GLC_en"] - fl["v_HK_n"], rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(rate["LAC_n"], fl["v_LDH_n"] - fl["v_LAC_ne"], rtol=1e-3, atol=1e-6)
    # the drive moved them off rest
    assert abs(rate["LAC_n"][2]) > 1e-4


def test_standalone_cbf_reports_the_protocol_flow(tmp_path):
    """Rat protocol (spec §4.11): F_in = F0·g(t − t1 − 1) during the stimulus, peak 1.5886·F0 at
    t − t1 = 4.05 s; after it F0 + (F0·g(t_stim − 1) − F0)·e^{−(t − t1 − t_stim)/5}."""
    f0 = INPUTS["F_in"][0]
    config = make_config(
        tmp_path, mode="standalone", stimulus={"long_mode": True, "cbf": True, "t1": 0.0, "t_stim": 10.0}
    )
    sim = MetabolismSim(config, Parallel(), np.arange(2))
    assert not sim.variables()["F_in"].writable
    sim.advance(4054.0)
    np.testing.assert_allclose(sim.get("F_in"), 1.5886 * f0, rtol=1e-4)
    sim.advance(15000.0)

    def g(x):
        return 1.1 + 1.5 * (np.exp(-x / 5) - np.exp(-x / 2))

    np.testing.assert_allclose(sim.get("F_in"), f0 + (f0 * g(9.0) - f0) * np.exp(-1.0), rtol=1e-12)
    with pytest.raises(ValueError, match="F_in follows the standalone flow protocol"):
        sim.set("F_in", np.full(2, 0.02))


def test_fluxes_are_read_only_and_follow_the_state(tmp_path):
    sim = MetabolismSim(make_config(tmp_path), Parallel(), np.arange(2))
    with pytest.raises(ValueError, match="read-only"):
        sim.set("v_HK_n", np.zeros(2))
    before = sim.get("v_HK_g")
    sim.set("GLC_g", np.array([0.5, 2.0]))  # hexokinase is Michaelis–Menten in glucose
    after = sim.get("v_HK_g")
    assert after[0] < before[0] < after[1]
