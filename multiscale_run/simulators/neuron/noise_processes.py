"""The stochastic currents of SONATA's noise clamps, sampled on a grid of step ``dt`` from the
clamp's start (index 0 = the delay), each from the input's own random stream.

- Ornstein-Uhlenbeck: ``x' = −x/τ + σ·sqrt(2/τ)·ξ``, updated exactly (Gillespie 1996, Phys Rev E
  54:2084): ``x(t+dt) = x(t)·e^(−dt/τ) + σ·sqrt(1 − e^(−2dt/τ))·N(0, 1)``, from x = 0 at the start
  (stationary standard deviation σ after a few τ).
- Shot noise: Poisson events of ``rate`` (Hz) from the start, each a bi-exponential
  ``A·(e^(−t/τd) − e^(−t/τr))/x_peak`` (peak A) with gamma-distributed amplitudes of mean
  ``amp_mean`` and variance ``amp_var`` (negative amp_mean: negative amplitudes), evaluated
  exactly at the grid times.
- From a signal's mean μ, standard deviation s and ``relative_skew`` r (SONATA
  ``absolute_shot_noise``, ``relative_shot_noise``): Campbell's theorem (Rice 1944, "Mathematical
  analysis of random noise", BSTJ 23:282) gives μ = λ·E[A]·∫h, s² = λ·E[A²]·∫h², κ3 = λ·E[A³]·∫h³.
  With gamma amplitudes of shape k the skewness is c·(k+2)/(k+1), c = s·∫h·∫h³/(μ·(∫h²)²): it
  ranges over [c, 2c) as k goes from ∞ (equal amplitudes) to 0, and r places it linearly there,
  so 1/(k+1) = r: ``amp_mean = a·(1 − r)``, ``amp_var = a²·r·(1 − r)``, ``λ = μ/(amp_mean·∫h)``
  with ``a = s²·∫h/(μ·∫h²)``.
"""

from __future__ import annotations

import math

import numpy as np


def ornstein_uhlenbeck(tau: float, sigma: float, dt: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples (deviations from the mean), x[0] = 0."""
    from scipy.signal import lfilter  # 1-2 s to import: only runs with noise inputs pay it

    decay = math.exp(-dt / tau)
    kicks = sigma * math.sqrt(1.0 - decay * decay) * rng.standard_normal(n)
    kicks[0] = 0.0
    return lfilter([1.0], [1.0, -decay], kicks)


def peak(rise: float, decay: float) -> float:
    """Peak of e^(−t/decay) − e^(−t/rise) (at t = ln(decay/rise)·rise·decay/(decay − rise))."""
    t_peak = math.log(decay / rise) * rise * decay / (decay - rise)
    return math.exp(-t_peak / decay) - math.exp(-t_peak / rise)


def kernel_integrals(rise: float, decay: float) -> tuple[float, float]:
    """(∫h, ∫h²) of the peak-normalised bi-exponential h, over t ≥ 0."""
    x = peak(rise, decay)
    first = (decay - rise) / x
    second = (decay / 2 + rise / 2 - 2 * rise * decay / (rise + decay)) / x**2
    return first, second


def params_from_moments(
    mean: float, sd: float, relative_skew: float, rise: float, decay: float
) -> tuple[float, float, float]:
    """(rate Hz, amp_mean nA, amp_var nA²) of the shot noise of mean ``mean`` and standard
    deviation ``sd`` (nA) whose skewness lies ``relative_skew`` of the way from the least to the
    greatest a gamma-amplitude shot noise can have (module docstring)."""
    if mean == 0:
        raise ValueError("a shot noise has a non-zero mean")
    first, second = kernel_integrals(rise, decay)
    a = sd * sd * first / (mean * second)
    amp_mean = a * (1.0 - relative_skew)
    amp_var = a * a * relative_skew * (1.0 - relative_skew)
    rate_per_ms = mean / (amp_mean * first)
    return 1000.0 * rate_per_ms, amp_mean, amp_var


def signal(
    rise: float,
    decay: float,
    rate: float,
    amp_mean: float,
    amp_var: float,
    dt: float,
    n: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``n`` samples of the shot noise (module docstring), events from t = 0 on."""
    from scipy.signal import lfilter

    span = (n - 1) * dt
    count = rng.poisson(rate / 1000.0 * span)
    times = np.sort(rng.uniform(0.0, span, count))  # a Poisson process's events, given their count
    size = abs(amp_mean)
    amps = rng.gamma(size * size / amp_var, amp_var / size, count) if amp_var > 0 else np.full(count, size)
    amps *= math.copysign(1.0, amp_mean)
    at = np.minimum(np.ceil(times / dt - 1e-12).astype(np.int64), n - 1)  # first sample at or after
    lag = at * dt - times
    out = np.zeros(n)
    for tau, sign in ((decay, 1.0), (rise, -1.0)):
        kicks = np.bincount(at, weights=amps * np.exp(-lag / tau), minlength=n)
        out += sign * lfilter([1.0], [1.0, -math.exp(-dt / tau)], kicks)
    return out / peak(rise, decay)
