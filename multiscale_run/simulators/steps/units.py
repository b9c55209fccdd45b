"""Physical constants and unit conversions of the extracellular species (pure, no STEPS).

A membrane current ``I`` (nA) of an ion of valence ``z`` over ``dt`` (ms) carries
``I · dt · 1e-12 / (z · e)`` ions (Faraday's law per ion, e = 1.602176634e-19 C);
``mA/cm² · µm²`` is ``1e-2 nA``. Concentrations are ``count / (N_A · V_tet)``.
"""

from __future__ import annotations

import numpy as np

#: Avogadro constant, 1/mol (SI 2019 exact)
AVOGADRO_PER_MOL = 6.02214076e23
#: the Avogadro constant STEPS 5 converts concentrations with (CODATA 2006); using it when
#: handing STEPS concentrations makes it store exactly the counts we mean
STEPS_AVOGADRO_PER_MOL = 6.02214179e23
#: STEPS keeps per-tet counts in 32-bit unsigned integers
STEPS_MAX_COUNT = 2**32 - 1
#: elementary charge, C (SI 2019 exact)
ELEMENTARY_CHARGE_C = 1.602176634e-19
#: ions carried by 1 nA during 1 ms for valence 1: 1e-9 A · 1e-3 s / e
IONS_PER_NA_MS = 1e-12 / ELEMENTARY_CHARGE_C
#: ions carried by a current density of 1 mA/cm² through 1 µm² during 1 ms (1 mA/cm² · µm² = 1e-2 nA)
IONS_PER_MA_CM2_UM2_MS = 1e-2 * IONS_PER_NA_MS
#: 1 µm³ in litres
LITRES_PER_UM3 = 1e-15
#: diffusion coefficient conversion: 1 m²/s = 1e12 µm² / 1e3 ms
UM2_PER_MS_PER_M2_PER_S = 1e9


def molecules_from_mM(conc_mM: np.ndarray, volume_um3: np.ndarray) -> np.ndarray:
    """Molecules in a volume at a concentration: c[mM]·1e-3 mol/L · V[µm³]·1e-15 L · N_A."""
    return (
        np.asarray(conc_mM, dtype=float) * 1e-3 * np.asarray(volume_um3) * LITRES_PER_UM3 * AVOGADRO_PER_MOL
    )


def mM_from_molecules(count: np.ndarray, volume_um3: np.ndarray) -> np.ndarray:
    """Concentration (mM) of ``count`` molecules in ``volume_um3``."""
    return np.asarray(count, dtype=float) / (np.asarray(volume_um3) * LITRES_PER_UM3 * AVOGADRO_PER_MOL) * 1e3


def current_to_molecules(current_nA: np.ndarray, dt_ms: float, charge: int) -> np.ndarray:
    """Ions carried by a current (nA, positive outward = into the ECS) during ``dt_ms``.

    Faraday: n = I·dt / (z·e). For a NEURON density ``i`` (mA/cm²) on a segment of area ``a``
    (µm²), pass ``current_nA = i · a · 1e-2``.
    """
    if charge == 0:
        raise ValueError("a neutral species carries no current")
    return np.asarray(current_nA, dtype=float) * dt_ms * IONS_PER_NA_MS / charge


def auto_molecules_per_particle(max_initial_molecules: float, headroom: float = 100.0) -> float:
    """The smallest power of 10 of molecules per STEPS particle that keeps ``headroom`` × the
    largest initial tet amount within STEPS's 32-bit counts.

    Physiological amounts overflow them: 140 mM Na+ in a 25 000 µm³ tet is 2e12 molecules
    (MultiscaleRun scaled its STEPS concentrations for the same reason). The headroom lets a
    species rise 100-fold (K+ from 3 mM) before :meth:`_StepsBackend.set_counts` refuses.
    Fewer particles mean more stochastic noise: the relative noise of a tet is ~1/√particles.
    """
    needed = max_initial_molecules * headroom / STEPS_MAX_COUNT
    return 1.0 if needed <= 1.0 else float(10.0 ** np.ceil(np.log10(needed)))
