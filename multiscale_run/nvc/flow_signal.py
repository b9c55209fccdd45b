"""The flow-inducing signal of Friston et al. (2000), one system per endfoot, integrated exactly.

Model (Friston, Mechelli, Turner & Price 2000, "Nonlinear responses in fMRI: the Balloon model,
Volterra kernels, and other hemodynamics", NeuroImage 12:466-477, eqs. 3-4): neuronal activity
``u`` (dimensionless, 1 = the activity of the modelled stimulus) drives a vasoactive signal ``s``
(s⁻¹) that dilates the vessel; inflow ``f`` (relative to rest) follows it and is pulled back by
flow-dependent autoregulation::

    ds/dt = ε u − κ s − γ (f − 1)
    df/dt = s

with the paper's estimates: efficacy ε = 0.54 s⁻², signal decay κ = 1/τ_s = 1/1.54 s, autoregulation
γ = 1/τ_f = 1/2.46 s (the same values are the priors of dynamic causal modelling, Friston,
Harrison & Penny 2003, NeuroImage 19:1273, Table 1: κ = 0.65 s⁻¹, γ = 0.41 s⁻¹).

The system is linear with constant coefficients, so with ``u`` held over a step ``h`` the exact
update is ``x ← Φ x + Γ u`` for ``x = (s, f − 1)``, ``Φ = exp(A h)``, ``Γ = A⁻¹ (Φ − I) b``,
``A = [[−κ, −γ], [1, 0]]``, ``b = (ε, 0)`` (zero-order hold): no step-size error, the same
numbers on every rank, one small matrix product for all endfeet at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import expm


@dataclass(frozen=True)
class FlowSignalParameters:
    """ε (s⁻² per unit activity), κ (s⁻¹) and γ (s⁻¹) of Friston et al. 2000."""

    efficacy_per_s2: float = 0.54
    signal_decay_per_s: float = 1.0 / 1.54
    autoregulation_per_s: float = 1.0 / 2.46

    def __post_init__(self):
        for name in ("efficacy_per_s2", "signal_decay_per_s", "autoregulation_per_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")

    @property
    def system(self) -> tuple[np.ndarray, np.ndarray]:
        """``(A, b)`` of ``dx/dt = A x + b u`` for ``x = (s, f − 1)``."""
        a = np.array([[-self.signal_decay_per_s, -self.autoregulation_per_s], [1.0, 0.0]])
        return a, np.array([self.efficacy_per_s2, 0.0])


def step_operators(params: FlowSignalParameters, h_s: float) -> tuple[np.ndarray, np.ndarray]:
    """``(Φ, Γ)``: the exact update over ``h_s`` seconds with the activity held constant."""
    a, b = params.system
    phi = expm(a * h_s)
    gamma = np.linalg.solve(a, (phi - np.eye(2)) @ b)  # A is invertible: det A = γ > 0
    return phi, gamma


class FlowSignalBatch:
    """One flow-inducing system per endfoot. State: ``state`` (n, 2) = (s in s⁻¹, f − 1) and the
    held ``activity`` (n,); ``signal_per_s`` and ``flow`` are views of ``state``."""

    def __init__(self, n: int, params: FlowSignalParameters, step_s: float):
        self.params = params
        self.step_s = step_s
        phi, gamma = step_operators(params, step_s)
        self._phi_t = np.ascontiguousarray(phi.T)
        self._gamma = gamma
        self.state = np.zeros((n, 2))
        self.activity = np.zeros(n)

    @property
    def signal_per_s(self) -> np.ndarray:
        return self.state[:, 0]

    @property
    def flow(self) -> np.ndarray:
        return 1.0 + self.state[:, 1]

    def step(self) -> None:
        """Advance every system by one step with the current activity."""
        self.state = self.state @ self._phi_t + self.activity[:, None] * self._gamma
