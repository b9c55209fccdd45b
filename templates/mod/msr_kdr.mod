TITLE msr_kdr: HH-type delayed-rectifier K+ channel

COMMENT
Kinetics of Traub & Miles (1991) in the form of Pospischil et al. (2008), Biol. Cybern.
99:427-441, eqs. for I_Kd with the threshold shift vtraub (their V_T).
Rates are in 1/ms at 36 degC and scaled by q10^((celsius - 36)/10).
ENDCOMMENT

NEURON {
    SUFFIX msr_kdr
    USEION k READ ek WRITE ik
    RANGE gbar, g, vtraub
    GLOBAL q10
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0.006 (S/cm2)
    vtraub = -56.2 (mV)
    q10 = 3
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    g (S/cm2)
    celsius (degC)
    ninf
    ntau (ms)
}

STATE { n }

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar*n*n*n*n
    ik = g*(v - ek)
}

INITIAL {
    rates(v - vtraub)
    n = ninf
}

DERIVATIVE states {
    rates(v - vtraub)
    n' = (ninf - n)/ntau
}

PROCEDURE rates(x (mV)) {
    LOCAL an, bn, tadj
    : tabulated over x = v - vtraub, so cells with different vtraub share one table
    TABLE ninf, ntau DEPEND celsius, q10 FROM -150 TO 150 WITH 1500
    UNITSOFF
    tadj = q10^((celsius - 36)/10)
    an = 0.032*vtrap(15 - x, 5)
    bn = 0.5*exp((10 - x)/40)
    ninf = an/(an + bn)
    ntau = 1/((an + bn)*tadj)
    UNITSON
}

FUNCTION vtrap(x, y) {
    : x/(exp(x/y) - 1), continuous through x = 0 (limit y)
    if (fabs(x/y) < 1e-6) {
        vtrap = y*(1 - x/y/2)
    } else {
        vtrap = x/(exp(x/y) - 1)
    }
}
