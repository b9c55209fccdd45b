TITLE msr_gclamp: a conductance injected through an electrode (SONATA input_type conductance)

COMMENT
A dynamic clamp: the electrode injects i = g*(e - v) (nA, positive depolarises, as IClamp's i),
i.e. a membrane current g*(v - e), with g (uS) played from a Vector and e the reversal
potential (mV; SONATA's "reversal", default 0). A g below 0 (an Ornstein-Uhlenbeck signal can
cross 0) injects nothing: neurodamus clamps such samples to an open series resistance the same
way. See docs/circuits.md, "Inputs".
ENDCOMMENT

NEURON {
    POINT_PROCESS msr_gclamp
    ELECTRODE_CURRENT i
    RANGE g, e, i
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
}

PARAMETER {
    g = 0 (uS)
    e = 0 (mV)
}

ASSIGNED {
    v (mV)
    i (nA)
}

BREAKPOINT {
    if (g > 0) {
        i = g*(e - v)
    } else {
        i = 0
    }
}
