# J15 neuron–astrocyte–capillary metabolism model (Jolivet et al. 2015, PLoS Comput Biol
# 11(2): e1004036), the same equations as multiscale_run/metabolism/model.py, written from the
# spec metabolism-j15.md (§3–§6). Units: s, mM, mV, mS/cm². Used by the optional Julia backend
# (multiscale_run.metabolism.julia_backend); tests/unit/test_julia_j15.py keeps the state and
# parameter lists in step with the Python model.
module J15

using OrdinaryDiffEq

const STATE_NAMES = (
    :Na_n, :Na_g, :GLC_n, :GLC_g, :GAP_n, :GAP_g, :PEP_n, :PEP_g, :PYR_n, :PYR_g,
    :LAC_n, :LAC_g, :NADH_n, :NADH_g, :ATP_n, :ATP_g, :PCr_n, :PCr_g, :O2_n, :O2_g,
    :O2_c, :GLC_c, :LAC_c, :V_v, :dHb, :GLC_e, :LAC_e, :V, :h, :n, :Ca_n,
    :NADHm_n, :NADHm_g,
)

const PARAMETER_NAMES = (
    :SmVn, :SmVg, :gNan, :gNag, :gKpas, :F, :RT_F, :Na_e, :V_g, :kPumpn, :kPumpg, :KmPump,
    :vPumpg0, :Na_n0, :TGLCen, :TGLCce, :TGLCeg, :TGLCcg, :KtGLC, :kHKn, :kHKg, :KIATP, :nH,
    :Kg, :kPGKn, :kPGKg, :kPKn, :kPKg, :N_NAD, :kLDHn_p, :kLDHg_p, :kLDHn_m, :kLDHg_m,
    :TLACne, :TLACge, :TLACec, :TLACgc, :KtLACne, :KtLACge, :KtLACgc, :KtLACec, :FourCIN,
    :TNADHn, :TNADHg, :Mcyton, :Mcytog, :Mmiton, :Mmitog, :VmaxMitoinn, :VmaxMitoing,
    :VmaxMitooutn, :VmaxMitooutg, :KmMito, :KO2Mito, :KmNADn, :KmNADg, :KmNADHn, :KmNADHg,
    :KmADPn, :KmADPg, :MVF, :O2_per_NADHm, :ATP_per_NADHm, :vATPasesn, :vATPasesg, :kCKn_p,
    :kCKg_p, :kCKn_m, :kCKg_m, :C_Cr, :qAK, :A_tot, :PScapVn, :PScapVg, :K_O2, :HbOP, :nh_O2,
    :O2a, :GLCa, :LACa, :F0, :Vv0, :tau_v, :alpha_v, :vol_n, :vol_g, :vol_e, :glia, :Cm, :gL,
    :gNa, :gK, :gCa, :gmAHP, :EK, :ECa, :Ee, :Ei, :KD, :tauCa, :Ca0, :phih, :phin,
    # per-cell coupling inputs
    :v_stim_n, :v_stim_g, :J_pump_ATP_n, :F_in, :V_cap, :K_e,
)

const IX = Dict(name => i for (i, name) in enumerate(STATE_NAMES))

adp(atp, p) = 0.5 * atp * (-p.qAK + sqrt(p.qAK^2 + 4p.qAK * (p.A_tot / atp - 1)))
function damp_datp(atp, p)
    su = sqrt(p.qAK^2 + 4p.qAK * (p.A_tot / atp - 1))
    -1 + p.qAK / 2 - su / 2 + p.qAK * p.A_tot / (atp * su)
end
mm(a, b, k) = a / (a + k) - b / (b + k)

"""Coupled-mode right-hand side of one cell (V, h, n, Ca_n frozen; neuronal leak and pump
Na+/ATP terms off; inputs v_stim_n, v_stim_g, J_pump_ATP_n, F_in, V_cap). `capillary` evolves
O2_c, GLC_c, LAC_c and dHb."""
function rhs_coupled!(du, u, p, t; capillary::Bool = true)
    s(name) = u[IX[name]]
    N = p.N_NAD
    fill!(du, 0.0)
    r_en, r_eg = p.vol_e / p.vol_n, p.vol_e / p.vol_g
    r_ce, r_cn, r_cg = p.V_cap / p.vol_e, p.V_cap / p.vol_n, p.V_cap / p.vol_g
    pump_g = p.SmVg * p.kPumpg * s(:ATP_g) * s(:Na_g) / (1 + s(:ATP_g) / p.KmPump)
    leak_g = p.SmVg / p.F * p.gNag * (p.RT_F * log(p.Na_e / s(:Na_g)) - p.V_g)
    du[IX[:Na_n]] = p.v_stim_n
    du[IX[:Na_g]] = leak_g - 3pump_g + p.v_stim_g
    glc_ce = p.TGLCce * mm(s(:GLC_c), s(:GLC_e), p.KtGLC)
    glc_cg = p.TGLCcg * mm(s(:GLC_c), s(:GLC_g), p.KtGLC)
    glc_eg = p.TGLCeg * mm(s(:GLC_e), s(:GLC_g), p.KtGLC)
    glc_en = p.TGLCen * mm(s(:GLC_e), s(:GLC_n), p.KtGLC)
    lac_ne = p.FourCIN * p.TLACne * mm(s(:LAC_n), s(:LAC_e), p.KtLACne)
    lac_ge = p.TLACge * mm(s(:LAC_g), s(:LAC_e), p.KtLACge)
    lac_gc = p.TLACgc * mm(s(:LAC_g), s(:LAC_c), p.KtLACgc)
    lac_ec = p.TLACec * mm(s(:LAC_e), s(:LAC_c), p.KtLACec)
    o2_p = p.K_O2 * (p.HbOP / s(:O2_c) - 1)^(-1 / p.nh_O2)
    fl = Dict{Symbol,Float64}()
    for (x, kHK, kPGK, kPK, kLp, kLm, Vin, Vout, KNAD, KNADH, KADP, TN, Mc, Mm, kCp, kCm, PS) in (
        ("n", p.kHKn, p.kPGKn, p.kPKn, p.kLDHn_p, p.kLDHn_m, p.VmaxMitoinn, p.VmaxMitooutn, p.KmNADn,
         p.KmNADHn, p.KmADPn, p.TNADHn, p.Mcyton, p.Mmiton, p.kCKn_p, p.kCKn_m, p.PScapVn),
        ("g", p.kHKg, p.kPGKg, p.kPKg, p.kLDHg_p, p.kLDHg_m, p.VmaxMitoing, p.VmaxMitooutg, p.KmNADg,
         p.KmNADHg, p.KmADPg, p.TNADHg, p.Mcytog, p.Mmitog, p.kCKg_p, p.kCKg_m, p.PScapVg))
        atp, nadh, nadhm = s(Symbol("ATP_", x)), s(Symbol("NADH_", x)), s(Symbol("NADHm_", x))
        a = adp(atp, p)
        glc, pyr, o2, pcr = s(Symbol("GLC_", x)), s(Symbol("PYR_", x)), s(Symbol("O2_", x)), s(Symbol("PCr_", x))
        hk = kHK * atp * glc / (glc + p.Kg) / (1 + (atp / p.KIATP)^p.nH)
        pgk = kPGK * s(Symbol("GAP_", x)) * a * (N - nadh) / nadh
        pk = kPK * s(Symbol("PEP_", x)) * a
        ldh = kLp * pyr * nadh - kLm * s(Symbol("LAC_", x)) * (N - nadh)
        mito_in = Vin * pyr / (pyr + p.KmMito) * (N - nadhm) / (N - nadhm + KNAD)
        mito_out = Vout * o2 / (o2 + p.KO2Mito) * a / (a + KADP) * nadhm / (nadhm + KNADH)
        rc, rm = nadh / (N - nadh), (N - nadhm) / nadhm
        sh = TN * rc / (Mc + rc) * rm / (Mm + rm)
        ck = kCp * pcr * a - kCm * (p.C_Cr - pcr) * atp
        vo2 = PS * (o2_p - o2)
        du[IX[Symbol("GAP_", x)]] = 2hk - pgk
        du[IX[Symbol("PEP_", x)]] = pgk - pk
        du[IX[Symbol("PYR_", x)]] = pk - ldh - mito_in
        du[IX[Symbol("NADH_", x)]] = (pgk - ldh - sh) / (1 - p.MVF)
        du[IX[Symbol("NADHm_", x)]] = (4mito_in - mito_out + sh) / p.MVF
        du[IX[Symbol("PCr_", x)]] = -ck
        du[IX[Symbol("O2_", x)]] = vo2 - p.O2_per_NADHm * mito_out
        atp_flux = -2hk + pgk + pk + p.ATP_per_NADHm * mito_out + ck
        if x == "n"
            atp_flux += -p.vATPasesn - p.J_pump_ATP_n
        else
            atp_flux += -p.vATPasesg - 1.75pump_g + 0.75p.vPumpg0
        end
        du[IX[Symbol("ATP_", x)]] = atp_flux / (1 - damp_datp(atp, p))
        fl[Symbol("HK_", x)], fl[Symbol("LDH_", x)], fl[Symbol("O2_", x)] = hk, ldh, vo2
    end
    du[IX[:GLC_n]] = glc_en - fl[:HK_n]
    du[IX[:GLC_g]] = glc_cg + glc_eg - fl[:HK_g]
    du[IX[:LAC_n]] = fl[:LDH_n] - lac_ne
    du[IX[:LAC_g]] = fl[:LDH_g] - lac_ge - lac_gc
    supply = 2p.F_in / p.V_cap
    vv = s(:V_v) / p.Vv0
    visco = p.F0 * p.tau_v / p.Vv0 / sqrt(vv)
    dvv = (p.F_in - p.F0 * vv^(1 / p.alpha_v)) / (1 + visco)
    du[IX[:V_v]] = dvv
    if capillary
        f_out = p.F0 * vv^(1 / p.alpha_v) + visco * dvv
        o2_v = 2s(:O2_c) - p.O2a
        du[IX[:O2_c]] = supply * (p.O2a - s(:O2_c)) - fl[:O2_n] / r_cn - fl[:O2_g] / r_cg
        du[IX[:GLC_c]] = supply * (p.GLCa - s(:GLC_c)) - glc_ce / r_ce - glc_cg / r_cg
        du[IX[:LAC_c]] = supply * (p.LACa - s(:LAC_c)) + lac_ec / r_ce + lac_gc / r_cg
        du[IX[:dHb]] = p.F_in * (p.O2a - o2_v) - f_out * s(:dHb) / s(:V_v)
    end
    du[IX[:GLC_e]] = glc_ce - glc_eg / r_eg - glc_en / r_en
    du[IX[:LAC_e]] = lac_ne / r_en + lac_ge / r_eg - lac_ec
    return nothing
end

"""Advance every cell (columns of `u`, 33 × n) from t0 to t1 (s) with Rodas5P, one solve per
cell (each with its own step control). `params` is a vector of NamedTuples, one per cell."""
function advance!(u::AbstractMatrix, params, t0, t1; rtol = 1e-6, atol = 1e-9, capillary = true)
    f!(du, x, p, t) = rhs_coupled!(du, x, p, t; capillary = capillary)
    Threads.@threads for c in axes(u, 2)
        prob = ODEProblem(f!, u[:, c], (t0, t1), params[c])
        sol = solve(prob, Rodas5P(); reltol = rtol, abstol = atol, save_everystep = false)
        u[:, c] .= sol.u[end]
    end
    return u
end

end # module
