TITLE msr_nat: HH-type transient Na+ channel

COMMENT
Kinetics of Traub & Miles (1991) in the form of Pospischil et al. (2008), "Minimal
Hodgkin-Huxley type models for different classes of cortical and thalamic neurons",
Biol. Cybern. 99:427-441, eqs. for I_Na with the threshold shift vtraub (their V_T).
Rates are in 1/ms at 36 degC and scaled by q10^((celsius - 36)/10).
ENDCOMMENT

NEURON {
    SUFFIX msr_nat
    USEION na READ ena WRITE ina
    RANGE gbar, g, vtraub
    GLOBAL q10
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0.05 (S/cm2)
    vtraub = -56.2 (mV)
    q10 = 3
}

ASSIGNED {
    v (mV)
    ena (mV)
    ina (mA/cm2)
    g (S/cm2)
    celsius (degC)
    minf
    hinf
    mtau (ms)
    htau (ms)
}

STATE { m h }

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar*m*m*m*h
    ina = g*(v - ena)
}

INITIAL {
    rates(v - vtraub)
    m = minf
    h = hinf
}

DERIVATIVE states {
    rates(v - vtraub)
    m' = (minf - m)/mtau
    h' = (hinf - h)/htau
}

PROCEDURE rates(x (mV)) {
    LOCAL am, bm, ah, bh, tadj
    : tabulated over x = v - vtraub, so cells with different vtraub share one table
    TABLE minf, mtau, hinf, htau DEPEND celsius, q10 FROM -150 TO 150 WITH 1500
    UNITSOFF
    tadj = q10^((celsius - 36)/10)
    am = 0.32*vtrap(13 - x, 4)
    bm = 0.28*vtrap(x - 40, 5)
    ah = 0.128*exp((17 - x)/18)
    bh = 4/(1 + exp((40 - x)/5))
    minf = am/(am + bm)
    mtau = 1/((am + bm)*tadj)
    hinf = ah/(ah + bh)
    htau = 1/((ah + bh)*tadj)
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
