"""States, initial state and parameters of the J15 neuron–astrocyte–capillary model.

Source: Jolivet, Coggan, Allaman, Magistretti (2015), PLoS Comput Biol 11(2): e1004036, as
transcribed in ``/work/shared/specs/metabolism-j15.md`` (§2 states and initial values, the
MATLAB ``initstate.data``; §6 runtime parameters, ``parameters.m`` overwritten by
``NewCoeffsStab.m``). Units: time s, concentrations mM, potentials mV, conductances mS cm⁻²,
fluxes mM s⁻¹ per the volume of their own compartment.

Parameters are held per cell: :func:`make_parameters` returns a dict ``name -> ndarray`` where
every value is either a 0-d array (shared by all cells) or a 1-d array of length ``n_cells``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

#: The 33 state names in MATLAB order (spec §2).
STATE_NAMES: tuple[str, ...] = (
    "Na_n", "Na_g", "GLC_n", "GLC_g", "GAP_n", "GAP_g", "PEP_n", "PEP_g", "PYR_n", "PYR_g",
    "LAC_n", "LAC_g", "NADH_n", "NADH_g", "ATP_n", "ATP_g", "PCr_n", "PCr_g", "O2_n", "O2_g",
    "O2_c", "GLC_c", "LAC_c", "V_v", "dHb", "GLC_e", "LAC_e", "V", "h", "n", "Ca_n",
    "NADHm_n", "NADHm_g",
)  # fmt: skip
N_STATES = len(STATE_NAMES)
STATE_INDEX: dict[str, int] = {name: i for i, name in enumerate(STATE_NAMES)}

#: Units of the states, for reports.
STATE_UNITS: dict[str, str] = {name: "mM" for name in STATE_NAMES} | {
    "V_v": "1",  # fraction of tissue volume
    "dHb": "mM",  # mM × volume fraction
    "V": "mV",
    "h": "1",
    "n": "1",
}

#: Resting steady state, MATLAB ``initstate.data`` (spec §2).
INITIAL_STATE: dict[str, float] = {
    "Na_n": 7.9717478717769090,
    "Na_g": 15.105962705116731,
    "GLC_n": 1.1952401106798076,
    "GLC_g": 1.1916831724306007,
    "GAP_n": 0.0046031315201704066,
    "GAP_g": 0.004592153756399458,
    "PEP_n": 0.016409369231409576,
    "PEP_g": 0.014203935093932973,
    "PYR_n": 0.17389794176222959,
    "PYR_g": 0.16297929416942439,
    "LAC_n": 0.5981237834039330,
    "LAC_g": 0.6001383440530418,
    "NADH_n": 0.006243658877436395,
    "NADH_g": 0.10386865243459381,
    "ATP_n": 2.1973762129517347,
    "ATP_g": 2.1951002997965290,
    "PCr_n": 4.9460223423181864,
    "PCr_g": 4.9242059083825644,
    "O2_n": 0.027584951432999300,
    "O2_g": 0.027594056537295686,
    "O2_c": 6.9808721131857396,
    "GLC_c": 4.500386628495174,
    "LAC_c": 0.5488507807424990,
    "V_v": 0.021,
    "dHb": 0.057503371246197574,
    "GLC_e": 2.479690857581554,
    "LAC_e": 0.5991310930946384,
    "V": -73.59279632137904,
    "h": 0.9937194195642355,
    "n": 0.018509072079738374,
    "Ca_n": 5.100694314844131e-5,
    "NADHm_n": 0.12345447794054716,
    "NADHm_g": 0.12483363148236443,
}

#: Runtime parameter values (spec §6) with their units. Names follow the MATLAB code names where
#: the spec gives them; ``_p``/``_m`` mark the forward/backward rate constants (k⁺, k⁻).
PARAMETERS: dict[str, tuple[float, str]] = {
    # membranes and Na+ (spec §4.1)
    "SmVn": (2.5e4, "cm-1"),
    "SmVg": (2.5e4, "cm-1"),
    "gNan": (0.0136, "mS/cm2"),
    "gNag": (0.0061, "mS/cm2"),
    "gKpas": (0.2035, "mS/cm2"),
    "F": (96485.3, "C/mol"),
    "RT_F": (26.73, "mV"),
    "Na_e": (150.0, "mM"),
    "V_g": (-70.0, "mV"),
    "kPumpn": (2.2e-6, "cm/mM/s"),
    "kPumpg": (4.5e-7, "cm/mM/s"),
    "KmPump": (0.5, "mM"),
    "vPumpg0": (0.0687, "mM/s"),
    "Na_n0": (INITIAL_STATE["Na_n"], "mM"),  # reference of the electrogenic pump current (§4.12)
    # glucose transport (§4.2)
    "TGLCen": (0.041, "mM/s"),
    "TGLCce": (0.239, "mM/s"),
    "TGLCeg": (0.147, "mM/s"),
    "TGLCcg": (0.0016, "mM/s"),
    "KtGLC": (8.0, "mM"),
    # glycolysis (§4.3)
    "kHKn": (0.0504, "1/s"),
    "kHKg": (0.185, "1/s"),
    "KIATP": (1.0, "mM"),
    "nH": (4.0, "1"),
    "Kg": (0.05, "mM"),
    "kPGKn": (3.97, "1/mM/s"),
    "kPGKg": (401.7, "1/mM/s"),
    "kPKn": (36.7, "1/mM/s"),
    "kPKg": (135.2, "1/mM/s"),
    "N_NAD": (0.212, "mM"),
    # LDH (§4.4)
    "kLDHn_p": (72.3, "1/mM/s"),
    "kLDHg_p": (1.59, "1/mM/s"),
    "kLDHn_m": (0.72, "1/mM/s"),
    "kLDHg_m": (0.071, "1/mM/s"),
    # lactate transport (§4.5)
    "TLACne": (24.3, "mM/s"),
    "TLACge": (106.1, "mM/s"),
    "TLACec": (0.25, "mM/s"),
    "TLACgc": (2.59e-3, "mM/s"),
    "KtLACne": (0.74, "mM"),
    "KtLACge": (3.5, "mM"),
    "KtLACgc": (1.0, "mM"),
    "KtLACec": (1.0, "mM"),
    "FourCIN": (1.0, "1"),
    # mitochondria and shuttle (§4.6)
    "TNADHn": (10330.0, "mM/s"),
    "TNADHg": (150.0, "mM/s"),
    "Mcyton": (4.9e-8, "1"),
    "Mcytog": (2.5e-4, "1"),
    "Mmiton": (3.93e5, "1"),
    "Mmitog": (1.06e4, "1"),
    "VmaxMitoinn": (0.1303, "mM/s"),
    "VmaxMitoing": (5.7, "mM/s"),
    "VmaxMitooutn": (0.164, "mM/s"),
    "VmaxMitooutg": (0.064, "mM/s"),
    "KmMito": (0.04, "mM"),
    "KO2Mito": (0.001, "mM"),
    "KmNADn": (0.409, "mM"),
    "KmNADg": (40.3, "mM"),
    "KmNADHn": (0.0444, "mM"),
    "KmNADHg": (0.0269, "mM"),
    "KmADPn": (3.41e-3, "mM"),
    "KmADPg": (4.83e-4, "mM"),
    "MVF": (0.07, "1"),
    "O2_per_NADHm": (0.6, "1"),  # §10.2: MATLAB uses 0.6 (a NEURON port 0.625)
    "ATP_per_NADHm": (3.6, "1"),
    # ATP use and creatine kinase (§4.7, §4.8)
    "vATPasesn": (0.1695, "mM/s"),
    "vATPasesg": (0.1404, "mM/s"),
    "kCKn_p": (0.0433, "1/mM/s"),
    "kCKg_p": (0.00135, "1/mM/s"),
    "kCKn_m": (0.00028, "1/mM/s"),
    "kCKg_m": (0.00001, "1/mM/s"),
    "C_Cr": (10.0, "mM"),
    "qAK": (0.92, "1"),
    "A_tot": (2.212, "mM"),
    # O2 exchange and blood (§4.9–4.11)
    "PScapVn": (1.66, "1/s"),
    "PScapVg": (0.87, "1/s"),
    "K_O2": (0.0361, "mM"),
    "HbOP": (8.6, "mM"),
    "nh_O2": (2.73, "1"),
    "O2a": (8.35, "mM"),
    "GLCa": (4.75, "mM"),
    "LACa": (0.506, "mM"),
    "F0": (0.012, "1/s"),
    "Vv0": (0.021, "1"),
    "tau_v": (35.0, "s"),
    "alpha_v": (0.5, "1"),
    # volume fractions of tissue (§1); V_cap is also a coupling input
    "vol_n": (0.45, "1"),
    "vol_g": (0.25, "1"),
    "vol_e": (0.2, "1"),
    # HH neuron (§4.12) and synaptic drive (§4.13)
    "glia": (50.0, "mV"),
    "Cm": (1e-3, "mF/cm2"),
    "gL": (0.02, "mS/cm2"),
    "gNa": (40.0, "mS/cm2"),
    "gK": (18.0, "mS/cm2"),
    "gCa": (0.02, "mS/cm2"),
    "gmAHP": (6.5, "mS/cm2"),
    "EK": (-80.0, "mV"),
    "ECa": (120.0, "mV"),
    "Ee": (0.0, "mV"),
    "Ei": (-80.0, "mV"),
    "KD": (0.03, "mM"),
    "tauCa": (0.15, "s"),
    "Ca0": (5e-5, "mM"),
    "phih": (4.0, "1"),
    "phin": (4.0, "1"),
}

#: Per-cell inputs that couplings set (coupled mode, spec §7), with default value and unit.
#: ``F_in`` defaults to F0 and ``V_cap`` to 0.0055 (fractions of tissue volume).
INPUTS: dict[str, tuple[float, str, str]] = {
    "v_stim_n": (0.0, "mM/s", "neuronal Na+ influx added to dNa_n/dt"),
    "v_stim_g": (0.0, "mM/s", "astrocytic Na+ influx added to dNa_g/dt (coupled mode)"),
    "J_pump_ATP_n": (0.0, "mM/s", "ATP used by the neuronal Na+/K+ pump, subtracted from dATP_n/dt"),
    "F_in": (0.012, "1/s", "blood inflow (volume of blood per tissue volume per s)"),
    "V_cap": (0.0055, "1", "capillary volume fraction of tissue"),
    "K_e": (3.0, "mM", "extracellular K+ (stored and reported; J15 does not use it)"),
}

ALL_PARAMETER_NAMES: tuple[str, ...] = (*PARAMETERS, *INPUTS)


def make_parameters(n_cells: int, overrides: Mapping[str, float | np.ndarray] | None = None) -> dict:
    """Parameter dict for ``n_cells`` cells: defaults of :data:`PARAMETERS` and :data:`INPUTS`.

    ``overrides`` maps a parameter or input name to a number (all cells) or an array of length
    ``n_cells`` (per cell). Unknown names raise ``KeyError`` listing the valid ones.
    """
    params: dict[str, np.ndarray] = {name: np.asarray(v, dtype=float) for name, (v, _) in PARAMETERS.items()}
    params |= {name: np.asarray(v, dtype=float) for name, (v, _, _) in INPUTS.items()}
    for name, value in (overrides or {}).items():
        if name not in params:
            raise KeyError(f"unknown J15 parameter {name!r}; valid names: {', '.join(ALL_PARAMETER_NAMES)}")
        arr = np.asarray(value, dtype=float)
        if arr.ndim == 1 and arr.shape[0] != n_cells:
            raise ValueError(f"parameter {name!r} has {arr.shape[0]} values for {n_cells} cells")
        if arr.ndim > 1:
            raise ValueError(f"parameter {name!r} must be a number or a 1-d array per cell")
        params[name] = arr.copy()
    return params


def initial_state(n_cells: int, overrides: Mapping[str, float | np.ndarray] | None = None) -> np.ndarray:
    """The resting state (§2) for ``n_cells`` cells as an array ``[n_cells, 33]``."""
    y = np.tile(np.array([INITIAL_STATE[name] for name in STATE_NAMES]), (n_cells, 1))
    for name, value in (overrides or {}).items():
        if name not in STATE_INDEX:
            raise KeyError(f"unknown J15 state {name!r}; valid names: {', '.join(STATE_NAMES)}")
        y[:, STATE_INDEX[name]] = value
    return y


def take_cells(params: Mapping[str, np.ndarray], cells: np.ndarray) -> dict:
    """The parameters of a subset of cells (per-cell arrays indexed, shared scalars kept)."""
    return {name: (v[cells] if v.ndim else v) for name, v in params.items()}
