"""The closed-form solution of the neurovascular-coupling model's equations (Friston et al. 2000,
NeuroImage 12:466, eqs. 3-4), the reference of the nvc tests.

``ds/dt = εu − κs − γ(f − 1)``, ``df/dt = s`` is a damped oscillator in ``f − 1`` (natural
frequency ω₀ = √γ, damping ratio ζ = κ / (2√γ) ≈ 0.51 with the paper's values); its response to
a step of ``u`` from rest is the textbook underdamped step response
``f − 1 = (εu/γ)·[1 − e^(−ζω₀t)(cos ω_d t + (ζω₀/ω_d) sin ω_d t)]``, ω_d = ω₀√(1 − ζ²), and a
boxcar is the difference of two steps.
"""

from __future__ import annotations

import numpy as np

from multiscale_run.nvc.flow_signal import FlowSignalParameters

PAPER = FlowSignalParameters()  # ε 0.54, τ_s 1.54 s, τ_f 2.46 s


def step_response(t_s: np.ndarray, p: FlowSignalParameters, u: float) -> np.ndarray:
    w0 = np.sqrt(p.autoregulation_per_s)
    zeta = p.signal_decay_per_s / (2 * w0)
    wd = w0 * np.sqrt(1 - zeta**2)
    t = np.maximum(t_s, 0.0)
    shape = 1 - np.exp(-zeta * w0 * t) * (np.cos(wd * t) + zeta * w0 / wd * np.sin(wd * t))
    return p.efficacy_per_s2 * u / p.autoregulation_per_s * shape


def boxcar_flow(t_s, p, u, duration_s):
    return 1.0 + step_response(t_s, p, u) - step_response(t_s - duration_s, p, u)
