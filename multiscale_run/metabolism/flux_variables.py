"""The fluxes of the J15 model as read-only simulator variables (reports and couplings).

Each variable is one entry of :func:`.model.fluxes` at the current state and time. Rates (mM s⁻¹
per own compartment, spec §4) are named ``v_`` + the flux name of the paper (``v_HK_n`` is
v_HK,n, ``v_LAC_ne`` is v_LAC,ne, …); other quantities keep their names. A variable exists only
when its flux acts under the run's :class:`~.model.ModelOptions`: in coupled mode NEURON owns the
neuronal Na+ leak and pump, so there is no ``v_LeakNa_n``/``v_Pump_n``; the HH currents exist only
when the HH neuron evolves, ``g_e`` only with the standalone drive, the capillary supply only when
the capillary is dynamic.
"""

from __future__ import annotations

from multiscale_run.metabolism.model import ModelOptions

_RATE = "mM/s"

#: name -> (key of fluxes(), unit, description)
FLUX_VARIABLES: dict[str, tuple[str, str, str]] = {
    "v_LeakNa_n": ("LeakNa_n", _RATE, "neuronal Na+ leak (§4.1)"),
    "v_LeakNa_g": ("LeakNa_g", _RATE, "astrocytic Na+ leak (§4.1)"),
    "v_Pump_n": ("Pump_n", _RATE, "neuronal Na+/K+-ATPase (§4.1)"),
    "v_Pump_g": ("Pump_g", _RATE, "astrocytic Na+/K+-ATPase (§4.1)"),
    "v_stim_n_total": ("stim_n", _RATE, "total stimulation Na+ influx into the neuron (input + drive)"),
    "v_stim_g_total": ("stim_g", _RATE, "total stimulation Na+ influx into the astrocyte (input + drive)"),
    "E_Na": ("E_Na", "mV", "neuronal Na+ reversal potential"),
    "g_e": ("g_e", "mS/cm2", "excitatory synaptic conductance of the standalone drive (§4.13)"),
    "I_Na": ("I_Na", "uA/cm2", "HH Na+ current (§4.12)"),
    "I_K": ("I_K", "uA/cm2", "HH K+ current (§4.12)"),
    "I_L": ("I_L", "uA/cm2", "HH leak current (§4.12)"),
    "I_Ca": ("I_Ca", "uA/cm2", "HH Ca2+ current (§4.12)"),
    "I_mAHP": ("I_mAHP", "uA/cm2", "Ca2+-activated K+ current (§4.12)"),
    "I_syn_e": ("I_syn_e", "uA/cm2", "excitatory synaptic current (§4.13)"),
    "v_GLC_ce": ("GLC_ce", _RATE, "glucose transport capillary -> ECS (§4.2)"),
    "v_GLC_cg": ("GLC_cg", _RATE, "glucose transport capillary -> astrocyte (§4.2)"),
    "v_GLC_eg": ("GLC_eg", _RATE, "glucose transport ECS -> astrocyte (§4.2)"),
    "v_GLC_en": ("GLC_en", _RATE, "glucose transport ECS -> neuron (§4.2)"),
    "v_LAC_ne": ("LAC_ne", _RATE, "lactate transport neuron -> ECS (§4.5)"),
    "v_LAC_ge": ("LAC_ge", _RATE, "lactate transport astrocyte -> ECS (§4.5)"),
    "v_LAC_gc": ("LAC_gc", _RATE, "lactate transport astrocyte -> capillary (§4.5)"),
    "v_LAC_ec": ("LAC_ec", _RATE, "lactate transport ECS -> capillary (§4.5)"),
    "O2_p": ("O2_p", "mM", "O2 in plasma at equilibrium with haemoglobin (§3)"),
    "v_O2_c": ("O2_c", _RATE, "capillary O2 supply 2 F_in/V_cap (O2_a - O2_c) (§4.10)"),
    "v_GLC_c": ("GLC_c", _RATE, "capillary glucose supply (§4.10)"),
    "v_LAC_c": ("LAC_c", _RATE, "capillary lactate supply (§4.10)"),
    "F_out": ("F_out", "1/s", "venous outflow of the balloon model (§4.11)"),
    "O2_v": ("O2_v", "mM", "venous O2 (§3)"),
}
for _x, _cell in (("n", "neuronal"), ("g", "astrocytic")):
    FLUX_VARIABLES |= {
        f"v_HK_{_x}": (f"HK_{_x}", _RATE, f"{_cell} hexokinase-phosphofructokinase (§4.3)"),
        f"v_PGK_{_x}": (f"PGK_{_x}", _RATE, f"{_cell} phosphoglycerate kinase (§4.3)"),
        f"v_PK_{_x}": (f"PK_{_x}", _RATE, f"{_cell} pyruvate kinase (§4.3)"),
        f"v_LDH_{_x}": (f"LDH_{_x}", _RATE, f"{_cell} lactate dehydrogenase, net (§4.4)"),
        f"v_MitoIn_{_x}": (f"MitoIn_{_x}", _RATE, f"{_cell} mitochondrial pyruvate uptake (§4.6)"),
        f"v_MitoOut_{_x}": (f"MitoOut_{_x}", _RATE, f"{_cell} oxidative phosphorylation (§4.6)"),
        f"v_Sh_{_x}": (f"Sh_{_x}", _RATE, f"{_cell} NADH shuttle (§4.6)"),
        f"v_CK_{_x}": (f"CK_{_x}", _RATE, f"{_cell} creatine kinase, net (§4.7)"),
        f"v_O2_{_x}": (f"O2_{_x}", _RATE, f"O2 transport capillary -> {_cell} mitochondria (§4.9)"),
    }

_HH = ("I_Na", "I_K", "I_L", "I_Ca", "I_mAHP", "I_syn_e")
_CAPILLARY = ("v_O2_c", "v_GLC_c", "v_LAC_c")


def available_fluxes(opts: ModelOptions) -> tuple[str, ...]:
    """The flux variables that act under ``opts`` (see the module docstring)."""
    stim = opts.stimulus
    absent = set()
    if not opts.neuron_na_leak:
        absent.add("v_LeakNa_n")
    if not opts.neuron_pump:
        absent.add("v_Pump_n")
    if stim is None:
        absent.add("g_e")
    if stim is None or stim.long_mode:
        absent.update(_HH)
    if not opts.capillary:
        absent.update(_CAPILLARY)
    return tuple(name for name in FLUX_VARIABLES if name not in absent)
