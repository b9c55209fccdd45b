TITLE msr_nakdyn: intracellular Na+ and K+ concentration dynamics

COMMENT
Well-mixed intracellular Na+ and K+ in each segment, driven by the total transmembrane Na+
and K+ currents of every mechanism (channels, leaks, pump):
    d[ion]i/dt = -i_ion * (area/volume) / (z F),  area/volume = 4/diam of a cylinder,
which in NEURON units is -i (mA/cm2) * 4e4 / (F (C/mol) * diam (um)) mM/ms.
The extracellular nao and ko are not written here: they are parameters set from outside
(e.g. by the extracellular reaction-diffusion simulator), initialised from nao0_na_ion and
ko0_k_ion.
ENDCOMMENT

NEURON {
    SUFFIX msr_nakdyn
    USEION na READ ina WRITE nai
    USEION k READ ik WRITE ki
}

UNITS {
    (mA) = (milliamp)
    (mM) = (milli/liter)
    (um) = (micron)
    FARADAY = (faraday) (coulomb)
}

ASSIGNED {
    ina (mA/cm2)
    ik (mA/cm2)
    diam (um)
}

STATE {
    nai (mM)
    ki (mM)
}

BREAKPOINT {
    SOLVE states METHOD cnexp
}

DERIVATIVE states {
    UNITSOFF
    nai' = -ina*4e4/(FARADAY*diam)
    ki' = -ik*4e4/(FARADAY*diam)
    UNITSON
}
