"""The stochastic currents of SONATA's noise clamps as neurodamus (4.2) makes them, drawn from a
NEURON Random123 stream (:mod:`~multiscale_run.simulators.neuron.random_streams`) with the same
draws in the same order, so the same config gives the same current sample for sample. Samples
are at NEURON's ``Vector.indgen(t0, t0 + duration, dt)`` times (index 0 = the delay); the draws
depend on the whole ``duration``, the values are computed up to ``keep`` samples (what a run
reaches).

- Ornstein-Uhlenbeck: ``x' = −x/τ + σ·sqrt(2/τ)·ξ`` updated exactly (Gillespie 1996, Phys Rev E
  54:2084): ``x[n] = x[n−1]·e^(−dt/τ) + σ·sqrt(1 − e^(−2dt/τ))·N(0, 1)``, x[0] = 0 (one
  ``normal(0, 1)`` pick, then one normal per sample, the first unused).
- Shot noise: Poisson events of ``rate`` (Hz): exponential intervals (one ``negexp(1/rate)`` pick,
  then ``m = ⌊k + 3·sqrt(k)⌋`` of them, k = 1 + ⌊duration·rate/1000⌋; m more while they end
  before ``duration``, where neurodamus stops with an error), their running sum in ms,
  each event at the nearest sample (half to even) before ``duration``; gamma amplitudes of mean
  ``amp_mean`` and variance ``amp_var`` (Marsaglia & Tsang 2000, ACM TOMS 26:363, from NEURON's
  normal and uniform picks; shape < 1 boosted by U^(1/shape)), negative for a negative
  ``amp_mean``; the impulses E drive the two-stage recursion ``B[n] = b·B[n−1] + E[n−1]``,
  ``P[n] = a·P[n−1] + b·B[n−1]`` (a = e^(−dt/τd), b = e^(−dt/τr)): a sampled bi-exponential one
  step after its event, scaled to peak 1 at the continuous peak time.
- From a signal's mean μ, standard deviation s and ``relative_skew`` r (SONATA
  ``absolute_shot_noise``, ``relative_shot_noise``): Campbell's theorem generalised (Rice 1944,
  "Mathematical analysis of random noise", BSTJ 23:282) gives μ = λ·E[A]·∫h, s² = λ·E[A²]·∫h²,
  κ3 = λ·E[A³]·∫h³. With gamma amplitudes (shape k, scale θ) the skewness is c·(k+2)/(k+1),
  c = (8/3)·B/A²·s/μ with A = 1/(τd + τr), B = 1/((τd + 2τr)(2τd + τr)); r places it on [c, 2c):
  skewness = (1 + r)·c, whence (1 + k)·θ = 2s²/(A·Ξ·μ), (2 + k)·θ = 3A·s·skewness/(4B·Ξ),
  Ξ = ∫h = (τd − τr)/F_peak, ``amp_mean = k·θ``, ``amp_var = k·θ²``, ``λ = μ/(amp_mean·Ξ)``.
"""

from __future__ import annotations

import math

import numpy as np


def grid(t0: float, end: float, dt: float) -> np.ndarray:
    """The sample times from t0 to end (NEURON's ``Vector.indgen``)."""
    from neuron import h

    times = h.Vector()
    times.indgen(t0, end, dt)
    return times.as_numpy().copy()


def _picks(rng, n: int) -> np.ndarray:
    from neuron import h

    out = h.Vector(n)
    out.setrand(rng)
    return out.as_numpy().copy()


def ornstein_uhlenbeck(tau: float, sigma: float, dt: float, n: int, rng, keep: int) -> np.ndarray:
    """The first ``keep`` of ``n`` samples (deviations from the mean), x[0] = 0."""
    from scipy.signal import lfilter  # 1-2 s to import: only runs with noise inputs pay it

    rng.normal(0.0, 1.0)
    decay = math.exp(-dt / tau)
    kicks = _picks(rng, n)[:keep] * (sigma * math.sqrt(1 - decay * decay))
    kicks[0] = 0.0
    return lfilter([1.0], [1.0, -decay], kicks)


def gamma(rng, shape: float, scale: float, count: int, keep: int) -> np.ndarray:
    """The first ``keep`` of ``count`` gamma variates, in the order they are drawn."""
    from neuron import h

    if shape < 1:
        rng.uniform(0, 1)
        boost = h.Vector(count)
        boost.setrand(rng)
        boost.pow(1 / shape)
        return gamma(rng, 1 + shape, scale, count, keep) * boost.as_numpy()[:keep]
    d = shape - 1 / 3
    c = 1 / 3 / math.sqrt(d)
    out = np.empty(keep)
    for i in range(keep):
        while True:
            x = rng.normal(0, 1)
            v = 1 + c * x
            if v <= 0:
                continue
            v = v * v * v
            u = rng.uniform(0, 1)
            if u < 1 - 0.0331 * x * x * x * x or math.log(u) < 0.5 * x * x + d * (1 - v + math.log(v)):
                out[i] = scale * d * v
                break
    return out


def params_from_moments(
    mean: float, sd: float, relative_skew: float, rise: float, decay: float
) -> tuple[float, float, float]:
    """(rate Hz, amp_mean nA, amp_var nA²) of the shot noise of mean ``mean`` and standard
    deviation ``sd`` (nA) whose skewness lies ``relative_skew`` of the way from the least to the
    greatest a gamma-amplitude shot noise can have (module docstring)."""
    if mean == 0:
        raise ValueError("a shot noise has a non-zero mean")
    t_peak = math.log(decay / rise) / (1 / rise - 1 / decay)
    f_peak = math.exp(-t_peak / decay) - math.exp(-t_peak / rise)
    xi = (decay - rise) / f_peak
    a = 1 / (decay + rise)
    b = 1 / ((decay + 2 * rise) * (2 * decay + rise))
    skew = (1 + relative_skew) * ((8 / 3) * (b / a**2) * (sd / mean))
    theta1 = 2 / (a * xi) * (sd**2 / mean)  # (1 + k)·θ
    theta2 = (3 * a) / (4 * b * xi) * (sd * skew)  # (2 + k)·θ
    amp_mean = 2 * theta1 - theta2
    return mean / (amp_mean * xi) * 1000, amp_mean, amp_mean * (theta2 - theta1)


def _arrivals(h, rng, count: int) -> np.ndarray:
    """The running sum (ms) of ``count`` intervals drawn from ``rng`` (s), as NEURON's Vector
    ``setrand`` and ``integral`` make it."""
    intervals = h.Vector(count)
    intervals.setrand(rng)
    running = h.Vector()
    running.integral(intervals, 1).mul(1000)
    return running.as_numpy().copy()


def signal(
    rise: float,
    decay: float,
    rate: float,
    amp_mean: float,
    amp_var: float,
    dt: float,
    duration: float,
    n: int,
    rng,
    keep: int,
) -> np.ndarray:
    """The first ``keep`` of the ``n`` samples of the shot noise over ``duration`` ms (module
    docstring); ``amp_var`` 0: every amplitude ``amp_mean``, no amplitude drawn."""
    from neuron import h
    from scipy.signal import lfilter

    events = 1 + int(duration * (rate / 1000))
    events = int(events + 3 * math.sqrt(events))
    rng.negexp(1 / rate)
    times = _arrivals(h, rng, events)
    while times[-1] < duration:
        # neurodamus stops with an error here (its 3-sigma margin fails about once in 740 cells);
        # msr draws more intervals from the same stream, so it matches wherever neurodamus runs
        times = np.concatenate([times, times[-1] + _arrivals(h, rng, events)])
    at = np.rint(times[times < duration] / dt).astype(np.int64)
    at = at[at < n]
    used = int(np.count_nonzero(at < keep))
    size, sign = abs(amp_mean), math.copysign(1.0, amp_mean)
    if amp_var > 0:
        amps = gamma(rng, size / (amp_var / size), amp_var / size, len(at), used)
    else:
        amps = np.full(used, size)
    kicks = np.zeros(keep)
    np.add.at(kicks, at[:used], sign * amps)
    a, b = math.exp(-dt / decay), math.exp(-dt / rise)
    d, r = -math.log(a), -math.log(b)
    t_peak = math.log(r / d) / (r - d)
    norm = (a / b - 1) / (a**t_peak - b**t_peak)
    rise_stage = lfilter([0.0, 1.0], [1.0, -b], kicks)
    return lfilter([0.0, b], [1.0, -a], rise_stage) * norm
