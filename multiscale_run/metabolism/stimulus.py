"""The external drives of the standalone J15 model: synaptic conductance and blood inflow.

Equations from the spec ``metabolism-j15.md``: §4.13 (``ExcitatoryConductance.m`` and the
mean-field ``MeanFieldJstim.m``) and §4.11 (``BloodFlow.m``, rat and human). Time in s,
conductance in mS cm⁻², flow in s⁻¹. All functions accept time arrays (one time per cell) and,
for the Jacobian's complex-step derivative in t, complex times: branches test the real part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multiscale_run.metabolism import cs_math as cm

#: ḡ: conductance per input and per Hz of input rate (mS cm⁻²), spec §4.13.
GBAR_MS_CM2 = 7.8e-6
#: Adaptation time constant of the input rate (s), spec §4.13.
TAU_RATE_S = 2.5
#: Input rate of LONG mode and of durations other than 20 s and 60 s (Hz).
LONG_RATE_HZ = 3.7


@dataclass(frozen=True)
class Stimulus:
    """A standalone-mode protocol (spec §4.11, §4.13, §8.2).

    ``t1_s`` stimulus onset, ``t_stim_s`` duration, ``N_e`` number of excitatory inputs,
    ``long_mode`` replaces the HH neuron by the mean-field Na+ influx J(g_e), ``cbf`` switches on
    the blood-flow response (otherwise F_in ≡ F0 and the capillary is clamped), ``species`` picks
    the flow protocol ("rat" or "human"), ``dcbf`` the human flow amplitude ΔCBF.
    """

    t1_s: float = 0.0
    t_stim_s: float = 20.0
    N_e: float = 240.0
    long_mode: bool = False
    cbf: bool = False
    species: str = "rat"
    dcbf: float = 0.4

    def __post_init__(self) -> None:
        if self.species not in ("rat", "human"):
            raise ValueError(f"stimulus species must be 'rat' or 'human', not {self.species!r}")

    def rates_hz(self) -> tuple[float, float]:
        """(f_0, f_∞) of the adapting input rate for this protocol (spec §4.13)."""
        if not self.long_mode and self.t_stim_s == 20.0:
            return 32.0, 3.5
        if not self.long_mode and self.t_stim_s == 60.0:
            return 23.0, 2.5
        return LONG_RATE_HZ, LONG_RATE_HZ

    def breakpoints_s(self) -> list[float]:
        """Times where the drive is discontinuous or kinked; integrators stop there."""
        t1, ts = self.t1_s, self.t_stim_s
        points = [t1, t1 + ts]
        if self.cbf and self.species == "rat":
            points += [t1 + 1.0]
        if self.cbf and self.species == "human":
            points += [t1 + 2.0, t1 + 32.0, t1 + ts + 10.0, t1 + ts + 40.0]
        return sorted(set(points))

    def g_e(self, t):
        """Excitatory synaptic conductance g_e(t) in mS cm⁻² (spec §4.13)."""
        f0, finf = self.rates_hz()
        tr = np.real(t)
        on = (tr >= self.t1_s) & (tr <= self.t1_s + self.t_stim_s)
        # the port evaluates the decay at absolute t; with t - t1 it is the same for t1 = 0 (§4.13)
        elapsed = np.where(on, t - self.t1_s, 0.0)  # masked: exp overflows far before t1
        rate = finf + (f0 - finf) * cm.exp(-elapsed / TAU_RATE_S)
        return np.where(on, self.N_e * GBAR_MS_CM2 * rate, 0.0)

    def F_in(self, t, F0):
        """Blood inflow F_in(t) in s⁻¹ (spec §4.11); F0 when CBF is off."""
        if not self.cbf:
            return F0 + 0.0 * t
        if self.species == "rat":
            return _rat_inflow(t, F0, self.t1_s, self.t_stim_s)
        return _human_inflow(t, F0, self.t1_s, self.t_stim_s, self.dcbf)


def _rat_g(x):
    """The rat flow shape g(x) = 1.1 + 1.5(e^{−x/5} − e^{−x/2}) (``BloodFlow.m``)."""
    return 1.1 + 1.5 * (cm.exp(-x / 5.0) - cm.exp(-x / 2.0))


def _rat_inflow(t, F0, t1, t_stim):
    tau_rise = 0.1 / 0.45  # 0.1 / g'(0), joins the plateau branch in value and slope
    tr = np.real(t)
    # each branch is evaluated only where it applies (masked arguments): the exponentials
    # overflow far outside their interval
    plateau = F0 * _rat_g(np.where(tr >= t1 + 1.0, t - t1 - 1.0, 0.0))
    after_arg = np.where(tr > t1 + t_stim, t - t1 - t_stim, 0.0)
    after = F0 + (F0 * _rat_g(t_stim - 1.0) - F0) * cm.exp(-after_arg / 5.0)
    before_arg = np.where(tr < t1 + 1.0, (t - t1 - 1.0) / tau_rise, 0.0)
    before = F0 * (1.0 + 0.1 * cm.exp(before_arg))
    return np.where(
        (tr >= t1 + 1.0) & (tr <= t1 + t_stim), plateau, np.where(tr > t1 + t_stim, after, before)
    )


def _human_inflow(t, F0, t1, t_stim, dcbf):
    ramp_s, lag0_s, lag1_s = 30.0, 2.0, 10.0
    tr = np.real(t)
    rise = F0 * (1.0 + dcbf * (t - t1 - lag0_s) / ramp_s)
    fall = F0 * (1.0 + dcbf * (1.0 - (t - t1 - t_stim - lag1_s) / ramp_s))
    a, b = t1 + lag0_s, t1 + lag0_s + ramp_s
    c, d = t1 + t_stim + lag1_s, t1 + t_stim + lag1_s + ramp_s
    out = np.where((tr >= a) & (tr < b), rise, F0 + 0.0 * t)
    out = np.where((tr >= b) & (tr < c), F0 * (1.0 + dcbf) + 0.0 * t, out)
    return np.where((tr >= c) & (tr < d), fall, out)


def mean_field_na_influx(g_e):
    """Mean-field neuronal Na+ influx J(g_e) in mM s⁻¹ for LONG mode (spec §4.13,
    ``MeanFieldJstim.m``); ``g_e`` in mS cm⁻². J(0) = 0."""
    x = np.asarray(g_e)
    xr = np.real(x)
    low = -0.00024 + 13.005 * x
    mid = 0.30818 + (0.00043 - 0.30818) / (1.0 + cm.exp((x - 0.00696) / 0.00182))
    xpos = np.where(xr > 0, x, 1.0)
    high = 4622.7114 + (-0.06444 - 4622.7114) / (1.0 + cm.power(xpos / 2322.61814, 0.77215))
    out = np.where(xr >= 0.008, high, np.where(xr >= 0.004, mid, low))
    return np.where(xr > 0, out, 0.0)
