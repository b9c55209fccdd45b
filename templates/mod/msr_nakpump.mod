TITLE msr_nakpump: electrogenic Na+/K+-ATPase consuming ATP

COMMENT
Pump turnover per membrane area as in Jolivet et al. (2015), PLoS Comput. Biol. 11:e1004036
(J15, neuronal v_Pump without the surface-to-volume factor):
    rate = k_pump * atpi * nai / (1 + atpi/km_atp)            (mM cm/s = 1e-6 mol/(cm2 s))
Each turnover hydrolyses 1 ATP into 1 ADP, exports 3 Na+ and imports 2 K+, so it carries one
net outward charge: ipump = F*rate*1e-3 mA/cm2, ina = 3 ipump, ik = -2 ipump.
ATP use per segment volume (area/volume = 4/diam): d atpi/dt = -rate*4e4/diam * 1e-3 mM/ms.
J15: k_pump = 2.2e-6 cm/(mM s), km_atp = 0.5 mM, with S/V = 25000 /cm; the default k_pump here
is scaled so that the default cells (mean area/volume about 1.4 /um instead of 2.5 /um) use
ATP at rest at about the J15 resting v_Pump,n = 0.18 mM/s per cell volume (docs/neuron.md).
ATP changes over seconds, so explicit Euler at NEURON's dt is accurate and much cheaper than
an implicit solve. ATP and ADP are NEURON ion species of valence 0 (they carry no current); atpi/adpi are the
cytosolic concentrations in mM, initialised from atpi0_atp_ion/adpi0_adp_ion.
ENDCOMMENT

NEURON {
    SUFFIX msr_nakpump
    USEION na READ nai WRITE ina
    USEION k WRITE ik
    USEION atp READ atpi WRITE atpi VALENCE 0
    USEION adp READ adpi WRITE adpi VALENCE 0
    RANGE k_pump, km_atp, ipump, atp_use
    GLOBAL na_ref, k_na, n_na
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
    atpi' = -atp_use
    adpi' = atp_use
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
