"""The J15 right-hand side against the spec's resting state (§8.1) and drive formulas (§4)."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale_run.metabolism.jacobian import EPS, GroupedComplexStepJacobian, sparsity_pattern
from multiscale_run.metabolism.model import ModelOptions, adp, fluxes, rhs
from multiscale_run.metabolism.parameters import (
    STATE_INDEX,
    STATE_NAMES,
    initial_state,
    make_parameters,
)
from multiscale_run.metabolism.stimulus import Stimulus, mean_field_na_influx

REST = ModelOptions.standalone(Stimulus(t1_s=1e9))  # HH on, no stimulus within reach


def test_resting_residuals_match_spec():
    """§8.1: all residuals ≤ 3e-10 except dNa_n/dt = 1.8e-4 mM/s and dV/dt = 0.38 mV/s."""
    d = rhs(0.0, initial_state(1), make_parameters(1), REST)[0]
    for name, value in zip(STATE_NAMES, d, strict=False):
        if name == "Na_n":
            assert value == pytest.approx(1.77e-4, rel=0.01)
        elif name == "V":
            assert value == pytest.approx(0.38, abs=0.005)
        else:
            assert abs(value) <= 3e-10, name


def test_resting_residuals_with_capillary_dynamics():
    """Coupled mode at rest, capillary dynamic (F_in = F0): with the pump's ATP use given as the
    input J_pump_ATP_n = resting v_Pump,n, every state is at rest (NEURON owns leak and pump)."""
    p = make_parameters(1, {"J_pump_ATP_n": 0.17858671})
    d = rhs(0.0, initial_state(1), p, ModelOptions.coupled(capillary=True))[0]
    assert np.all(np.abs(d) <= 3e-8)
    assert d[STATE_INDEX["Na_n"]] == 0.0
    # without that input the pump's ATP use is missing: ATP_n rises
    d0 = rhs(0.0, initial_state(1), make_parameters(1), ModelOptions.coupled(capillary=True))[0]
    assert d0[STATE_INDEX["ATP_n"]] > 0.1


@pytest.mark.parametrize(
    "flux, value",
    [
        ("Pump_n", 0.17859), ("LeakNa_n", 0.53576), ("HK_n", 0.004372), ("PGK_n", 0.008744),
        ("LDH_n", -0.01011), ("LAC_ne", -0.01011), ("MitoIn_n", 0.018852), ("Sh_n", 0.018852),
        ("MitoOut_n", 0.094262), ("O2_n", 0.056557), ("Pump_g", 0.069207), ("HK_g", 0.016093),
        ("LDH_g", 0.022309), ("LAC_ge", 0.022255), ("LAC_gc", 5.36e-5), ("MitoIn_g", 0.009878),
        ("MitoOut_g", 0.049389), ("O2_g", 0.029634), ("GLC_ce", 0.029493), ("GLC_cg", 0.000369),
        ("GLC_eg", 0.015725), ("GLC_en", 0.004372), ("LAC_ec", 0.005075),
        ("ADP_n", 0.014520), ("ADP_g", 0.016761),
    ],
)  # fmt: skip
def test_resting_fluxes_match_spec(flux, value):
    f = fluxes(0.0, initial_state(1), make_parameters(1), REST)
    assert float(np.asarray(f[flux]).ravel()[0]) == pytest.approx(value, rel=2e-3)


def test_neuronal_atp_budget_closes_at_rest():
    """§8.1: neuronal ATP production 0.34808 = consumption 0.34809 mM/s."""
    f = {k: float(np.ravel(v)[0]) for k, v in fluxes(0.0, initial_state(1), make_parameters(1), REST).items()}
    p = make_parameters(1)
    made = f["PGK_n"] + f["PK_n"] - 2 * f["HK_n"] + 3.6 * f["MitoOut_n"] + f["CK_n"]
    used = float(p["vATPasesn"]) + f["Pump_n"]
    assert made == pytest.approx(0.34808, abs=2e-5)
    assert used == pytest.approx(0.34809, abs=2e-5)


def test_adenylate_kinase_equilibrium():
    """ADP²/(ATP·AMP) = q_AK and ATP + ADP + AMP = A (spec §3)."""
    p = make_parameters(1)
    atp = np.linspace(0.5, 2.2, 7)
    a = adp(atp, p)
    amp = 2.212 - atp - a
    np.testing.assert_allclose(a**2 / (atp * amp), 0.92, rtol=1e-10)


def test_synaptic_conductance_and_flow_protocols():
    stim = Stimulus()
    assert stim.g_e(np.array([0.0]))[0] == pytest.approx(0.059904, rel=1e-6)
    assert stim.g_e(np.array([20.0]))[0] == pytest.approx(0.00657, rel=1e-3)
    assert stim.g_e(np.array([20.01]))[0] == 0.0
    rat = Stimulus(cbf=True)
    t = np.linspace(0.0, 20.0, 20001)
    f = rat.F_in(t, 0.012) / 0.012
    assert f.max() == pytest.approx(1.5886, abs=2e-4)
    assert t[np.argmax(f)] == pytest.approx(4.05, abs=0.01)
    # joins smoothly at t1 + 1 s
    assert rat.F_in(np.array([1.0 - 1e-9]), 0.012)[0] == pytest.approx(rat.F_in(np.array([1.0]), 0.012)[0])
    human = Stimulus(cbf=True, species="human", t_stim_s=60.0)
    assert human.F_in(np.array([40.0]), 1.0)[0] == pytest.approx(1.4)
    assert human.F_in(np.array([17.0]), 1.0)[0] == pytest.approx(1.2)
    assert human.F_in(np.array([200.0]), 1.0)[0] == pytest.approx(1.0)


def test_mean_field_influx():
    """§4.13: J(0) = 0 and J(0.0069264 mS/cm²) = 0.1529 mM/s (LONG mode)."""
    assert mean_field_na_influx(np.array(0.0)) == 0.0
    assert mean_field_na_influx(np.array(240 * 7.8e-6 * 3.7)) == pytest.approx(0.1529, abs=1e-4)


@pytest.mark.parametrize(
    "options", [REST, ModelOptions.coupled(), ModelOptions.standalone(Stimulus(cbf=True))]
)
def test_grouped_complex_step_jacobian_matches_finite_differences(options):
    """The grouped complex-step Jacobian equals central differences of the real RHS."""
    rng = np.random.default_rng(3)
    n = 4
    y = initial_state(n) * (1 + 0.05 * rng.standard_normal((n, 33)))
    y[:, STATE_INDEX["V"]] = [-70.0, -50.0, -20.0, 10.0]
    p = make_parameters(n, {"v_stim_n": rng.random(n)})
    t = np.array([0.5, 2.0, 3.0, 7.0])

    def fun(tt, yy, pp):
        return rhs(tt, yy, pp, options)

    pattern = sparsity_pattern(fun, y, np.array([0.5]), p)
    cols = np.arange(33)
    jac = GroupedComplexStepJacobian(fun, pattern, cols)
    assert jac.n_probes < 20
    J, f_t = jac(t, y, p)
    f0 = fun(t, y, p)
    for j in range(33):
        step = 1e-5 * max(abs(y[0, j]), 1e-3)
        e = np.zeros(33)
        e[j] = step
        # fourth-order central difference: an independent check to ~1e-8
        fd = (8 * (fun(t, y + e, p) - fun(t, y - e, p)) - fun(t, y + 2 * e, p) + fun(t, y - 2 * e, p)) / (
            12 * step
        )
        # allowance for the rounding noise of the difference quotient: ~eps·|f|/step
        noise = 100 * np.finfo(float).eps * np.abs(f0) / step + 1e-12
        assert np.all(np.abs(J[:, :, j] - fd) <= 1e-6 * np.abs(fd) + noise), STATE_NAMES[j]
    dt = 1e-6
    fd_t = (fun(t + dt, y, p) - fun(t - dt, y, p)) / (2 * dt)
    np.testing.assert_allclose(f_t, fd_t, rtol=1e-4, atol=1e-8)
    assert EPS < 1e-15
