TITLE msr_ionleak: Na+ and K+ leak conductances

COMMENT
Ohmic leaks carried by Na+ and K+ (Jolivet et al. 2015 use the same form for the neuronal Na+
leak, v_LeakNa = g_Na (E_Na - V)). Unlike a non-specific leak (pas), they move ions, so with
the Na+/K+-ATPase (msr_nakpump) they set the resting ion balance: multiscale-run calibrates gna
and gk per segment at initialisation so that at v_init the net Na+ and K+ currents are zero
(see docs/neuron.md).
ENDCOMMENT

NEURON {
    SUFFIX msr_ionleak
    USEION na READ ena WRITE ina
    USEION k READ ek WRITE ik
    RANGE gna, gk
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gna = 0 (S/cm2)
    gk = 0 (S/cm2)
}

ASSIGNED {
    v (mV)
    ena (mV)
    ek (mV)
    ina (mA/cm2)
    ik (mA/cm2)
}

BREAKPOINT {
    ina = gna*(v - ena)
    ik = gk*(v - ek)
}
