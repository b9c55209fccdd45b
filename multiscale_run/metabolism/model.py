"""The J15 right-hand side, vectorised over cells.

Equations: spec ``metabolism-j15.md`` §3 (algebraic relations), §4 (fluxes), §5 (ODEs), from
Jolivet et al. (2015) PLoS Comput Biol 11(2): e1004036 (the authors' MATLAB ``balanceequ.m`` and
``rates.m``). One call evaluates every cell: the state is an array ``[..., n_cells, 33]`` (any
leading axes, e.g. for several Jacobian probes at once) and each parameter is a 0-d array or an
array ``[n_cells]``. The code is complex-safe (no ``abs``/``max`` of states, branches on real
parts) so that :mod:`.jacobian` can differentiate it exactly by complex steps.

Two modes (docs/metabolism.md gives the coupled-mode equations):

* standalone: the model's own HH neuron (§4.12) or LONG mean-field drive, driven by a
  :class:`~.stimulus.Stimulus`;
* coupled: NEURON owns the electrical part. V, h, n, Ca_n are frozen; the neuronal Na+ leak and
  the neuronal pump's Na+ and ATP terms are off; the per-cell inputs ``v_stim_n``, ``v_stim_g``,
  ``J_pump_ATP_n`` and ``F_in`` (see :data:`.parameters.INPUTS`) drive the model instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multiscale_run.metabolism import cs_math as cm
from multiscale_run.metabolism.parameters import N_STATES, STATE_INDEX
from multiscale_run.metabolism.stimulus import Stimulus, mean_field_na_influx

I = STATE_INDEX  # noqa: E741 - short alias for the state index table

#: States of the HH neuron (frozen in coupled and LONG modes).
HH_STATES = ("V", "h", "n", "Ca_n")
#: States clamped when the capillary is not dynamic (CBF off, spec §4.11).
CAPILLARY_STATES = ("O2_c", "GLC_c", "LAC_c", "dHb")


@dataclass(frozen=True)
class ModelOptions:
    """Which processes the J15 model evolves itself.

    ``stimulus`` set: standalone mode, the drive g_e(t) and F_in(t) come from it, and ``hh``
    tells whether V, h, n, Ca_n evolve (False in LONG mode). ``stimulus`` None: coupled mode, the
    drive comes from the per-cell inputs. ``neuron_na_leak`` and ``neuron_pump`` switch the
    neuronal Na+ leak and the neuronal pump's Na+ and ATP terms; ``capillary`` switches the
    dynamics of O2_c, GLC_c, LAC_c and dHb (clamped otherwise).
    """

    stimulus: Stimulus | None = None
    hh: bool = False
    neuron_na_leak: bool = False
    neuron_pump: bool = False
    capillary: bool = True

    @classmethod
    def standalone(cls, stimulus: Stimulus) -> ModelOptions:
        return cls(
            stimulus=stimulus,
            hh=not stimulus.long_mode,
            neuron_na_leak=True,
            neuron_pump=True,
            capillary=stimulus.cbf,
        )

    @classmethod
    def coupled(cls, capillary: bool = True) -> ModelOptions:
        return cls(capillary=capillary)

    def frozen_states(self) -> tuple[str, ...]:
        """States whose derivative is identically zero under these options."""
        frozen = () if self.hh else HH_STATES
        return frozen + (() if self.capillary else CAPILLARY_STATES)


def adp(atp, p):
    """ADP (mM) from ATP by the adenylate kinase equilibrium (spec §3)."""
    q, a = p["qAK"], p["A_tot"]
    return 0.5 * atp * (-q + cm.sqrt(q * q + 4.0 * q * (a / atp - 1.0)))


def amp(atp, p):
    """AMP (mM) = A − ATP − ADP (spec §3)."""
    return p["A_tot"] - atp - adp(atp, p)


def _damp_datp(atp, p):
    """dAMP/dATP along the adenylate kinase equilibrium (spec §3)."""
    q, a = p["qAK"], p["A_tot"]
    su = cm.sqrt(q * q + 4.0 * q * (a / atp - 1.0))
    return -1.0 + 0.5 * q - 0.5 * su + q * a / (atp * su)


def _mm_diff(a, b, k):
    """Reversible Michaelis–Menten transport shape a/(a+K) − b/(b+K)."""
    return a / (a + k) - b / (b + k)


def _vtrap(x, scale):
    """x / (1 − e^{−x/scale}), continuous at x = 0 (value scale) – the HH α_m, α_n form."""
    xr = np.real(x)
    small = np.abs(xr) < 1e-9 * scale
    xs = np.where(small, 1e-9 * scale, x)
    return np.where(small, scale * (1.0 + 0.5 * x / scale), xs / (1.0 - cm.exp(-xs / scale)))


def hh_rates(V):
    """HH rates (ms⁻¹) at V (mV): (α_m, β_m, α_h, β_h, α_n, β_n) – spec §4.12."""
    a_m = 0.1 * _vtrap(V + 33.0, 10.0)
    b_m = 4.0 * cm.exp(-(V + 58.0) / 12.0)
    a_h = 0.07 * cm.exp(-(V + 50.0) / 10.0)
    b_h = 1.0 / (cm.exp(-0.1 * (V + 20.0)) + 1.0)
    a_n = 0.01 * _vtrap(V + 34.0, 10.0)
    b_n = 0.125 * cm.exp(-(V + 44.0) / 25.0)
    return a_m, b_m, a_h, b_h, a_n, b_n


def fluxes(t, y, p, opts: ModelOptions) -> dict:
    """Every flux of the model (mM s⁻¹ per own compartment; currents µA cm⁻²), by name.

    ``t`` is the time in s (a scalar or one value per cell). Useful for budgets and tests; the
    right-hand side :func:`rhs` is built from it.
    """
    # state-major contiguous copy: every per-state operation then runs on contiguous memory
    yt = np.ascontiguousarray(np.moveaxis(y, -1, 0))
    s = {name: yt[i] for name, i in I.items()}
    f: dict = {}
    N = p["N_NAD"]
    smv_f_n = p["SmVn"] / p["F"]
    smv_f_g = p["SmVg"] / p["F"]
    V = s["V"]
    E_Na = p["RT_F"] * cm.log(p["Na_e"] / s["Na_n"])
    f["E_Na"] = E_Na

    adp_n, adp_g = adp(s["ATP_n"], p), adp(s["ATP_g"], p)
    f["ADP_n"], f["ADP_g"] = adp_n, adp_g

    # Na+ (§4.1)
    f["LeakNa_n"] = smv_f_n * p["gNan"] * (E_Na - V)
    f["LeakNa_g"] = smv_f_g * p["gNag"] * (p["RT_F"] * cm.log(p["Na_e"] / s["Na_g"]) - p["V_g"])
    pump_n_base = p["kPumpn"] * s["ATP_n"] / (1.0 + s["ATP_n"] / p["KmPump"])
    f["Pump_n"] = p["SmVn"] * pump_n_base * s["Na_n"]
    f["Pump_g"] = p["SmVg"] * p["kPumpg"] * s["ATP_g"] * s["Na_g"] / (1.0 + s["ATP_g"] / p["KmPump"])

    # drive: synaptic conductance (standalone) or inputs (coupled)
    stim = opts.stimulus
    if stim is not None:
        g_e = stim.g_e(t)
        f["g_e"] = g_e
        F_in = stim.F_in(t, p["F0"])
    else:
        g_e = 0.0
        F_in = p["F_in"]
    f["F_in"] = F_in

    # HH neuron (§4.12): only needed when it evolves or drives Na+ (not coupled/LONG mode)
    if opts.hh or (stim is not None and not stim.long_mode):
        a_m, b_m, a_h, b_h, a_n, b_n = hh_rates(V)
        m_inf = a_m / (a_m + b_m)
        I_Na = p["gNa"] * cm.power(m_inf, 3) * s["h"] * (V - E_Na)
        E_L = (p["gKpas"] * p["EK"] + p["gNan"] * E_Na) / (p["gKpas"] + p["gNan"])
        I_L = p["gL"] * (V - E_L)
        I_K = p["gK"] * cm.power(s["n"], 4) * (V - p["EK"])
        m_Ca = 1.0 / (1.0 + cm.exp(-(V + 20.0) / 9.0))
        I_Ca = p["gCa"] * m_Ca * m_Ca * (V - p["ECa"])
        I_mAHP = p["gmAHP"] * s["Ca_n"] / (s["Ca_n"] + p["KD"]) * (V - p["EK"])
        dI_Pump = p["F"] * pump_n_base * (s["Na_n"] - p["Na_n0"])
        I_syn_e = -g_e * (V - p["Ee"])
        f.update(I_Na=I_Na, I_L=I_L, I_K=I_K, I_Ca=I_Ca, I_mAHP=I_mAHP, dI_Pump=dI_Pump, I_syn_e=I_syn_e)
        f["h_inf"], f["tau_h"] = a_h / (a_h + b_h), 1e-3 / (a_h + b_h)
        f["n_inf"], f["tau_n"] = a_n / (a_n + b_n), 1e-3 / (a_n + b_n)

    stim_n = p["v_stim_n"]
    stim_g = p["v_stim_g"]
    if stim is not None:
        if stim.long_mode:
            stim_n = stim_n + mean_field_na_influx(g_e)
        else:
            stim_n = stim_n + smv_f_n * (2.0 / 3.0 * I_syn_e - I_Na)
        stim_g = stim_g + smv_f_g * 2.0 / 3.0 * p["glia"] * g_e
    f["stim_n"], f["stim_g"] = stim_n, stim_g

    # glucose transport (§4.2)
    K = p["KtGLC"]
    f["GLC_ce"] = p["TGLCce"] * _mm_diff(s["GLC_c"], s["GLC_e"], K)
    f["GLC_cg"] = p["TGLCcg"] * _mm_diff(s["GLC_c"], s["GLC_g"], K)
    f["GLC_eg"] = p["TGLCeg"] * _mm_diff(s["GLC_e"], s["GLC_g"], K)
    f["GLC_en"] = p["TGLCen"] * _mm_diff(s["GLC_e"], s["GLC_n"], K)

    # lactate transport (§4.5)
    f["LAC_ne"] = p["FourCIN"] * p["TLACne"] * _mm_diff(s["LAC_n"], s["LAC_e"], p["KtLACne"])
    f["LAC_ge"] = p["TLACge"] * _mm_diff(s["LAC_g"], s["LAC_e"], p["KtLACge"])
    f["LAC_gc"] = p["TLACgc"] * _mm_diff(s["LAC_g"], s["LAC_c"], p["KtLACgc"])
    f["LAC_ec"] = p["TLACec"] * _mm_diff(s["LAC_e"], s["LAC_c"], p["KtLACec"])

    # O2 (§3, §4.9)
    O2_p = p["K_O2"] * cm.power(p["HbOP"] / s["O2_c"] - 1.0, -1.0 / p["nh_O2"])
    f["O2_p"] = O2_p

    for x, adp_x in (("n", adp_n), ("g", adp_g)):
        atp, nadh, nadhm = s[f"ATP_{x}"], s[f"NADH_{x}"], s[f"NADHm_{x}"]
        glc = s[f"GLC_{x}"]
        # glycolysis (§4.3)
        f[f"HK_{x}"] = (
            p[f"kHK{x}"] * atp * glc / (glc + p["Kg"]) / (1.0 + cm.power(atp / p["KIATP"], p["nH"]))
        )
        f[f"PGK_{x}"] = p[f"kPGK{x}"] * s[f"GAP_{x}"] * adp_x * (N - nadh) / nadh
        f[f"PK_{x}"] = p[f"kPK{x}"] * s[f"PEP_{x}"] * adp_x
        # LDH (§4.4)
        f[f"LDH_{x}"] = p[f"kLDH{x}_p"] * s[f"PYR_{x}"] * nadh - p[f"kLDH{x}_m"] * s[f"LAC_{x}"] * (N - nadh)
        # mitochondria and shuttle (§4.6)
        pyr = s[f"PYR_{x}"]
        f[f"MitoIn_{x}"] = (
            p[f"VmaxMitoin{x}"] * pyr / (pyr + p["KmMito"]) * (N - nadhm) / (N - nadhm + p[f"KmNAD{x}"])
        )
        o2 = s[f"O2_{x}"]
        f[f"MitoOut_{x}"] = (
            p[f"VmaxMitoout{x}"]
            * o2
            / (o2 + p["KO2Mito"])
            * adp_x
            / (adp_x + p[f"KmADP{x}"])
            * nadhm
            / (nadhm + p[f"KmNADH{x}"])
        )
        r_cyto = nadh / (N - nadh)
        r_mito = (N - nadhm) / nadhm
        f[f"Sh_{x}"] = (
            p[f"TNADH{x}"] * r_cyto / (p[f"Mcyto{x}"] + r_cyto) * r_mito / (p[f"Mmito{x}"] + r_mito)
        )
        # creatine kinase (§4.7)
        pcr = s[f"PCr_{x}"]
        f[f"CK_{x}"] = p[f"kCK{x}_p"] * pcr * adp_x - p[f"kCK{x}_m"] * (p["C_Cr"] - pcr) * atp
        f[f"O2_{x}"] = p[f"PScapV{x}"] * (O2_p - o2)

    # capillary supply (§4.10) and balloon (§4.11)
    supply = 2.0 * F_in / p["V_cap"]
    f["O2_c"] = supply * (p["O2a"] - s["O2_c"])
    f["GLC_c"] = supply * (p["GLCa"] - s["GLC_c"])
    f["LAC_c"] = supply * (p["LACa"] - s["LAC_c"])
    vv = s["V_v"] / p["Vv0"]
    visco = p["F0"] * p["tau_v"] / p["Vv0"] / cm.sqrt(vv)
    f["dVv"] = (F_in - p["F0"] * cm.power(vv, 1.0 / p["alpha_v"])) / (1.0 + visco)
    f["F_out"] = p["F0"] * cm.power(vv, 1.0 / p["alpha_v"]) + visco * f["dVv"]
    f["O2_v"] = 2.0 * s["O2_c"] - p["O2a"]
    return f


def rhs(t, y, p, opts: ModelOptions):
    """dy/dt of the J15 model, same shape as ``y`` ``[..., n_cells, 33]`` (spec §5)."""
    f = fluxes(t, y, p, opts)
    s = {name: y[..., i] for name, i in I.items()}
    dtype = np.result_type(y, f["F_in"], f.get("g_e", 0.0))
    dyt = np.zeros((y.shape[-1], *y.shape[:-1]), dtype=dtype)  # state-major, see fluxes()
    d = {name: dyt[i] for name, i in I.items()}  # views: writing d[...] fills dyt

    mvf = p["MVF"]
    r_en = p["vol_e"] / p["vol_n"]
    r_eg = p["vol_e"] / p["vol_g"]
    r_ce = p["V_cap"] / p["vol_e"]
    r_cn = p["V_cap"] / p["vol_n"]
    r_cg = p["V_cap"] / p["vol_g"]
    pump_n_on = 1.0 if opts.neuron_pump else 0.0

    # ions
    leak_n = f["LeakNa_n"] if opts.neuron_na_leak else 0.0
    d["Na_n"][...] = leak_n - 3.0 * pump_n_on * f["Pump_n"] + f["stim_n"]
    d["Na_g"][...] = f["LeakNa_g"] - 3.0 * f["Pump_g"] + f["stim_g"]
    # glycolysis
    d["GLC_n"][...] = f["GLC_en"] - f["HK_n"]
    d["GLC_g"][...] = f["GLC_cg"] + f["GLC_eg"] - f["HK_g"]
    for x in ("n", "g"):
        d[f"GAP_{x}"][...] = 2.0 * f[f"HK_{x}"] - f[f"PGK_{x}"]
        d[f"PEP_{x}"][...] = f[f"PGK_{x}"] - f[f"PK_{x}"]
        d[f"PYR_{x}"][...] = f[f"PK_{x}"] - f[f"LDH_{x}"] - f[f"MitoIn_{x}"]
        d[f"NADH_{x}"][...] = (f[f"PGK_{x}"] - f[f"LDH_{x}"] - f[f"Sh_{x}"]) / (1.0 - mvf)
        d[f"NADHm_{x}"][...] = (4.0 * f[f"MitoIn_{x}"] - f[f"MitoOut_{x}"] + f[f"Sh_{x}"]) / mvf
        d[f"PCr_{x}"][...] = -f[f"CK_{x}"]
        d[f"O2_{x}"][...] = f[f"O2_{x}"] - p["O2_per_NADHm"] * f[f"MitoOut_{x}"]
    # lactate
    d["LAC_n"][...] = f["LDH_n"] - f["LAC_ne"]
    d["LAC_g"][...] = f["LDH_g"] - f["LAC_ge"] - f["LAC_gc"]
    # energy
    atp_common_n = (
        -2.0 * f["HK_n"]
        + f["PGK_n"]
        + f["PK_n"]
        - p["vATPasesn"]
        + p["ATP_per_NADHm"] * f["MitoOut_n"]
        + f["CK_n"]
    )
    atp_n = atp_common_n - pump_n_on * f["Pump_n"] - p["J_pump_ATP_n"]
    d["ATP_n"][...] = atp_n / (1.0 - _damp_datp(s["ATP_n"], p))
    atp_g = (
        -2.0 * f["HK_g"]
        + f["PGK_g"]
        + f["PK_g"]
        - p["vATPasesg"]
        - 1.75 * f["Pump_g"]
        + 0.75 * p["vPumpg0"]
        + p["ATP_per_NADHm"] * f["MitoOut_g"]
        + f["CK_g"]
    )
    d["ATP_g"][...] = atp_g / (1.0 - _damp_datp(s["ATP_g"], p))
    # capillary
    if opts.capillary:
        d["O2_c"][...] = f["O2_c"] - f["O2_n"] / r_cn - f["O2_g"] / r_cg
        d["GLC_c"][...] = f["GLC_c"] - f["GLC_ce"] / r_ce - f["GLC_cg"] / r_cg
        d["LAC_c"][...] = f["LAC_c"] + f["LAC_ec"] / r_ce + f["LAC_gc"] / r_cg
        d["dHb"][...] = f["F_in"] * (p["O2a"] - f["O2_v"]) - f["F_out"] * s["dHb"] / s["V_v"]
    d["V_v"][...] = f["dVv"]
    # extracellular
    d["GLC_e"][...] = f["GLC_ce"] - f["GLC_eg"] / r_eg - f["GLC_en"] / r_en
    d["LAC_e"][...] = f["LAC_ne"] / r_en + f["LAC_ge"] / r_eg - f["LAC_ec"]
    # electrophysiology
    if opts.hh:
        I_total = f["I_L"] + f["I_Na"] + f["I_K"] + f["I_Ca"] + f["I_mAHP"] + f["dI_Pump"]
        d["V"][...] = (-I_total + f["I_syn_e"]) / p["Cm"]
        d["h"][...] = p["phih"] * (f["h_inf"] - s["h"]) / f["tau_h"]
        d["n"][...] = p["phin"] * (f["n_inf"] - s["n"]) / f["tau_n"]
        d["Ca_n"][...] = -p["SmVn"] / p["F"] * f["I_Ca"] - (s["Ca_n"] - p["Ca0"]) / p["tauCa"]
    return np.moveaxis(dyt, 0, -1)


_DERIVED = {
    "ADP_n": (adp, "ATP_n"),
    "AMP_n": (amp, "ATP_n"),
    "ADP_g": (adp, "ATP_g"),
    "AMP_g": (amp, "ATP_g"),
}


def derived(y, p, name: str | None = None) -> dict[str, np.ndarray]:
    """Derived read-only quantities: ADP_n, AMP_n, ADP_g, AMP_g (mM); only ``name`` if given."""
    names = _DERIVED if name is None else (name,)
    return {n: _DERIVED[n][0](y[..., I[_DERIVED[n][1]]], p) for n in names}


assert N_STATES == 33
