TITLE msr_nakpump: electrogenic Na+/K+-ATPase consuming ATP

COMMENT
Pump turnover per membrane area after Jolivet et al. (2015), PLoS Comput. Biol. 11:e1004036
(J15, neuronal v_Pump without the surface-to-volume factor), with a cooperative Na+ dependence:
    rate = k_pump * atpi/(1 + atpi/km_atp) * na_ref * H(nai)/H(na_ref),  H(n) = 1/(1 + (k_na/n)^n_na)
(mM cm/s = 1e-6 mol/(cm2 s)). At nai = na_ref (J15 resting Na_n) this is J15's rate exactly;
around it the rate grows like nai^3 instead of nai: three internal Na+ sites, half-activation
10-30 mM (Nakao & Gadsby 1989, J. Gen. Physiol. 94:539; Blanco & Mercer 1998, Am. J. Physiol.
275:F633), so Na+ loads are cleared about 3x faster than with J15's linear form.
Each turnover hydrolyses 1 ATP into 1 ADP, exports 3 Na+ and imports 2 K+, so it carries one
net outward charge: ipump = F*rate*1e-3 mA/cm2, ina = 3 ipump, ik = -2 ipump.
ATP use per segment volume (area/volume = 4/diam): rate*4e4/diam * 1e-3 mM/ms, divided as in
J15 by (1 - dAMP/dATP) (adenylate kinase equilibrium, total A_tot): with the metabolism merged
on atpi, NEURON's pump then changes ATP exactly as J15's own pump term would.
J15: k_pump = 2.2e-6 cm/(mM s), km_atp = 0.5 mM, with S/V = 2.5 /um. The default circuit sets
k_pump per morphology (2.2e-6 * 2.5/(area/volume of the cell)), so each cell's resting ATP use
per volume is J15's v_Pump,n = 0.1786 mM/s and the coupled cell starts at steady state; the
default below is that value for a cell of area/volume 1.375 /um (docs/neuron.md).
ATP changes over seconds, so explicit Euler at NEURON's dt is accurate and much cheaper than
an implicit solve. ATP and ADP are NEURON ion species of valence 0 (they carry no current);
atpi/adpi are the cytosolic concentrations in mM, initialised from atpi0_atp_ion/adpi0_adp_ion.
ENDCOMMENT

NEURON {
    SUFFIX msr_nakpump
    USEION na READ nai WRITE ina
    USEION k WRITE ik
    USEION atp READ atpi WRITE atpi VALENCE 0
    USEION adp READ adpi WRITE adpi VALENCE 0
    RANGE k_pump, km_atp, ipump, atp_use
    GLOBAL na_ref, k_na, n_na, q_ak, a_tot
}

UNITS {
    (mA) = (milliamp)
    (mM) = (milli/liter)
    (um) = (micron)
    FARADAY = (faraday) (coulomb)
}

PARAMETER {
    k_pump = 4.0e-6 : cm/(mM s)
    km_atp = 0.5 (mM)
    na_ref = 7.9717478717769090 (mM) : J15 resting Na_n: the rate equals J15's there
    k_na = 25 (mM)                   : half-activation by internal Na+
    n_na = 3                         : Hill coefficient (3 Na+ sites)
    q_ak = 0.92                      : adenylate kinase [ADP]^2/([ATP][AMP]) (J15)
    a_tot = 2.212 (mM)               : ATP + ADP + AMP (J15)
}

ASSIGNED {
    nai (mM)
    diam (um)
    ina (mA/cm2)
    ik (mA/cm2)
    ipump (mA/cm2)
    atp_use : ATP hydrolysis per segment volume, mM/ms
}

STATE {
    atpi (mM)
    adpi (mM)
}

BREAKPOINT {
    SOLVE states METHOD euler
    UNITSOFF
    ipump = FARADAY*turnover(atpi, nai)*1e-3
    UNITSON
    ina = 3*ipump
    ik = -2*ipump
}

DERIVATIVE states {
    UNITSOFF
    atp_use = turnover(atpi, nai)*40/diam
    UNITSON
    : J15: d ATP/dt = fluxes/(1 - dAMP/dATP); ADP follows ATP + ADP + AMP = A_tot
    atpi' = -atp_use/(1 - damp_datp(atpi))
    adpi' = atp_use*(1 + damp_datp(atpi))/(1 - damp_datp(atpi))
}

FUNCTION damp_datp(atp (mM)) {
    : dAMP/dATP along the adenylate kinase equilibrium (J15; specs/metabolism-j15.md section 3)
    LOCAL su
    UNITSOFF
    if (atp <= 0 || atp >= a_tot) {
        damp_datp = 0 : the limit at atp = a_tot; outside the model range otherwise
    } else {
        su = sqrt(q_ak*q_ak + 4*q_ak*(a_tot/atp - 1))
        damp_datp = -1 + q_ak/2 - su/2 + q_ak*a_tot/(atp*su)
    }
    UNITSON
}

FUNCTION turnover(atp (mM), na (mM)) {
    : mM cm/s; J15's rate k_pump*atp*na_ref/(1 + atp/km_atp) at na = na_ref
    UNITSOFF
    turnover = k_pump*atp/(1 + atp/km_atp)*na_ref*hill(na)/hill(na_ref)
    UNITSON
}

FUNCTION hill(na (mM)) {
    UNITSOFF
    if (na <= 0) {
        hill = 0
    } else {
        hill = 1/(1 + (k_na/na)^n_na)
    }
    UNITSON
}
