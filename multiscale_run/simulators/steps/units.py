"""Physical constants and unit conversions of the extracellular species (pure, no STEPS).

Concentrations are ``count / (N_A · V_tet)``. The currents-to-ions conversion of the couplings is
the named transform ``monovalent_current_nA_to_ions`` (:mod:`multiscale_run.coupling.conversions`).
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
