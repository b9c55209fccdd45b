TITLE msr_pumprest: returns the resting current of msr_nakpump in a fitted cell

COMMENT
A cell model fitted to recordings (an Allen Cell Types fit, a BBP e-model) has the resting
Na+/K+-ATPase current inside its fitted leak (e_pas, g_pas): the cells were recorded with their
pumps running. When msr_nakpump is added to such a cell so that metabolism sees the ATP it uses,
its net outward current at rest would be counted twice and hyperpolarise the cell (by several mV
where the fitted leak is small). This constant inward current, set to the pump current of the
segment at initialisation (i_rest, mA/cm2), cancels it: the cell rests where it was fitted, and
what the pump adds electrically is its change from rest (nai, atpi), as activity and metabolism
move them.
ENDCOMMENT

NEURON {
    SUFFIX msr_pumprest
    NONSPECIFIC_CURRENT i
    RANGE i_rest
}

UNITS {
    (mA) = (milliamp)
}

PARAMETER {
    i_rest = 0 (mA/cm2)
}

ASSIGNED {
    i (mA/cm2)
}

BREAKPOINT {
    i = -i_rest
}
