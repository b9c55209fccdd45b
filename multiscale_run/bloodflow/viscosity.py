"""Blood viscosity laws for Poiseuille flow in vessels.

* ``constant``: one apparent blood viscosity (Pa·s) for every vessel.
* ``pries1992``: the in-vitro relative apparent viscosity of blood in glass tubes as a function of
  tube diameter D (µm) and discharge hematocrit H_D, from Pries, Neuhaus & Gaehtgens (1992),
  "Blood viscosity in tube flow: dependence on diameter and hematocrit", Am J Physiol 263:
  H1770–H1778 (their eqs. for η_0.45 and C):

      η_0.45(D) = 220·exp(−1.3 D) + 3.2 − 2.44·exp(−0.06 D^0.645)
      C(D)      = (0.8 + exp(−0.075 D))·(−1 + 1/(1 + 10⁻¹¹ D¹²)) + 1/(1 + 10⁻¹¹ D¹²)
      η_rel     = 1 + (η_0.45 − 1)·((1 − H_D)^C − 1)/((1 − 0.45)^C − 1)

  The apparent viscosity is η_rel times the plasma viscosity. It reproduces the
  Fåhræus–Lindqvist effect (a minimum near D ≈ 6–7 µm, 3.2 in wide tubes at H_D = 0.45).
"""

from __future__ import annotations

import numpy as np

VISCOSITY_LAWS = ("constant", "pries1992")


def pries1992_relative_viscosity(diameter_um: np.ndarray, hematocrit: float = 0.45) -> np.ndarray:
    """Relative apparent viscosity η_rel (dimensionless) of Pries et al. (1992), in vitro."""
    d = np.asarray(diameter_um, dtype=np.float64)
    if np.any(d <= 0):
        raise ValueError("vessel diameters must be > 0 µm")
    if not 0.0 <= hematocrit < 1.0:
        raise ValueError(f"hematocrit must be in [0, 1), got {hematocrit}")
    eta_045 = 220.0 * np.exp(-1.3 * d) + 3.2 - 2.44 * np.exp(-0.06 * d**0.645)
    shape = 1.0 / (1.0 + 1e-11 * d**12)
    c = (0.8 + np.exp(-0.075 * d)) * (shape - 1.0) + shape
    return 1.0 + (eta_045 - 1.0) * ((1.0 - hematocrit) ** c - 1.0) / ((1.0 - 0.45) ** c - 1.0)


def apparent_viscosity_Pa_s(
    radius_um: np.ndarray,
    law: str = "constant",
    viscosity_Pa_s: float = 1.2e-3,
    plasma_viscosity_Pa_s: float = 1.2e-3,
    hematocrit: float = 0.45,
) -> np.ndarray:
    """Apparent blood viscosity (Pa·s) of each vessel of radius ``radius_um`` (µm).

    ``constant`` returns ``viscosity_Pa_s`` everywhere; ``pries1992`` returns
    ``plasma_viscosity_Pa_s · η_rel(2 r, hematocrit)``.
    """
    r = np.asarray(radius_um, dtype=np.float64)
    if law == "constant":
        if viscosity_Pa_s <= 0:
            raise ValueError("viscosity_Pa_s must be > 0")
        return np.full(r.shape, float(viscosity_Pa_s))
    if law == "pries1992":
        if plasma_viscosity_Pa_s <= 0:
            raise ValueError("plasma_viscosity_Pa_s must be > 0")
        return plasma_viscosity_Pa_s * pries1992_relative_viscosity(2.0 * r, hematocrit)
    raise ValueError(f"unknown viscosity law {law!r} (expected one of {', '.join(VISCOSITY_LAWS)})")
