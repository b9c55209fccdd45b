"""msr's Na+/K+ homeostasis in cells whose model does not bring it (Allen fits, BBP templates):
what couples a foreign circuit to metabolism (``multiscale_run.neuron.homeostasis``).

Into every section of such a cell go ``msr_nakdyn`` (nai, ki integrated from the total Na+ and K+
currents of all the cell's mechanisms), ``msr_nakpump`` (the electrogenic Na+/K+-ATPase
consuming atpi, producing adpi; templates/mod, docs/neuron.md), so that atpi, adpi and nai exist
and move, and metabolism can merge them, and ``msr_pumprest``, which returns the pump's net
current at initialisation (:func:`hold_resting_pump`): a fitted cell's leak already holds its
resting pump current, which would otherwise be counted twice (measured: -4.4 mV at the soma of
a bmtk PV cell, whose clamp response fell from 20 spikes to 5). ``msr_ionleak`` is not
inserted: the cell's own channels carry its resting Na+ and K+ fluxes, and a leak calibrated
at ``v_init`` (msr's e-models rest there; these cells do not) would change the fitted
electrical behaviour.

- The pump density is set per cell as the default circuit does it
  (:func:`~multiscale_run.circuit.emodels.pump_density_for` of the cell's membrane area over
  volume), so that at J15's resting nai the cell's ATP use per volume is J15's resting
  v_Pump,n (Jolivet et al. 2015) and the J15 metabolism supplies exactly that.
- Each section's reversal potentials ena, ek are held at the values the cell model gave them
  (an Allen fit's ``conditions.erev``, a BBP template's ``ena = 50``): once a mechanism writes
  nai/ki, NEURON would otherwise recompute them from the Nernst equation at every step
  (ion_style), and the cell would no longer be the one that was fitted.

What changes electrically is the pump current's departure from its resting value (one net
outward charge per ATP; ~0.75 µA/cm² at rest for A/V = 2.3 /µm), growing ~ nai³ as nai rises
with firing: an activity-dependent hyperpolarisation (measured: the bmtk PV cell's 20 spikes
in 100-300 ms become 17 as its soma nai rises 7.97 -> 8.54 mM; the other cells keep their
counts).
"""

from __future__ import annotations

#: the mechanisms inserted, in order
MECHANISMS = ("msr_nakdyn", "msr_nakpump", "msr_pumprest")
#: the reversal potentials held
_HELD = ("ena", "ek")


def fix_reversal(h, sec, ion: str, value: float) -> None:
    """``sec``'s reversal potential ``ion`` (ena, ek, ...) held at ``value``: the ion's e_style
    becomes a parameter neither initialised nor advanced from the concentrations (NEURON's
    ion_style; its concentration style is kept), so a mechanism writing the concentration does
    not move it."""
    name = f"{ion[1:]}_ion"
    style = int(h.ion_style(name, sec=sec))  # c + 4 e + 16 einit + 32 eadvance + 64 cinit
    h.ion_style(name, style & 3, 1, 0, 0, (style >> 6) & 1, sec=sec)
    setattr(sec, ion, value)


def insert(h, sections: list) -> None:
    """Insert msr's homeostasis into the cell made of ``sections`` unless it has a pump already
    (then nothing changes)."""
    if any(h.ismembrane("msr_nakpump", sec=sec) for sec in sections):
        return
    from multiscale_run.circuit.emodels import pump_density_for

    held = [
        {ion: getattr(sec, ion) for ion in _HELD if h.ismembrane(f"{ion[1:]}_ion", sec=sec)}
        for sec in sections
    ]
    area = sum(seg.area() for sec in sections for seg in sec)
    volume = sum(seg.volume() for sec in sections for seg in sec)
    k_pump = pump_density_for(area / volume)
    for sec, values in zip(sections, held, strict=True):
        for name in MECHANISMS:
            sec.insert(name)
        sec.k_pump_msr_nakpump = k_pump
        for ion, value in values.items():
            fix_reversal(h, sec, ion, value)


def hold_resting_pump(h, sections) -> None:
    """After ``finitialize``: set each msr_pumprest segment's ``i_rest`` to the pump current there
    (then initialise again)."""
    for sec in sections:
        if h.ismembrane("msr_pumprest", sec=sec):
            for seg in sec:
                seg.msr_pumprest.i_rest = seg.msr_nakpump.ipump
