"""The default circuit's electrical models (e-models) as data.

An e-model says which NEURON mechanisms (templates/mod) go in which section list and with what
parameters. The circuit builder writes each one as ``<biophysical_neuron_models_dir>/<name>.json``
and the nodes refer to them with ``model_template = "msr:<name>"``; NeuronSim applies them.
Section lists are applied in the order all, somatic, axonal, dendritic, basal, apical (later
ones override). Parameters use NEURON's names (``gbar`` of ``msr_nat`` is ``gbar_msr_nat``).
A section list may fix reversal potentials, ``"reversal_potentials": {"ena": 53, "ek": -107}``
(mV; ``ena``, ``ek``, ``eca``, ``ecl``), set after its mechanisms, as an Allen fit's
``conditions.erev`` does.

Channel densities follow Pospischil et al. (2008), Biol. Cybern. 99:427-441 (regular spiking:
gNa 56, gKd 6 mS/cm2, V_T -56.2 mV; fast spiking: gNa 58, gKd 3.9 mS/cm2, V_T -57.9 mV), with a
spike-initiating axon (about 4x the somatic Na+ density) and weakly active dendrites. The
passive leak (pas, g 3e-5 S/cm2, e = v_init) sets the membrane time constant (~33 ms at
cm 1 uF/cm2); the ionic leaks (msr_ionleak) are calibrated at initialisation.

The Na+/K+-ATPase density (``k_pump`` of msr_nakpump, per membrane area) is uniform over a cell
and set per morphology by :func:`with_pump_density` so that the cell's resting ATP use per volume
equals J15's resting v_Pump,n (Jolivet et al. 2015): the J15 metabolism it is coupled to supplies
exactly that at rest, so every coupled cell starts at its steady state (docs/neuron.md).
"""

from __future__ import annotations

import copy

_ION_HOMEOSTASIS = {"msr_ionleak": {}, "msr_nakdyn": {}, "msr_nakpump": {}}

#: J15 neuronal pump rate constant (cm/(mM s)) and the surface-to-volume ratio it goes with (1/µm)
J15_K_PUMP = 2.2e-6
J15_SURFACE_TO_VOLUME_PER_UM = 2.5


def pump_density_for(surface_to_volume_per_um: float) -> float:
    """``k_pump`` (cm/(mM s)) giving J15's resting ATP use per volume at this cell's area/volume."""
    return J15_K_PUMP * J15_SURFACE_TO_VOLUME_PER_UM / surface_to_volume_per_um


def with_pump_density(emodel: dict, surface_to_volume_per_um: float) -> dict:
    """A copy of ``emodel`` whose msr_nakpump ``k_pump`` matches the cell's area/volume."""
    out = copy.deepcopy(emodel)
    out["sections"]["all"]["mechanisms"]["msr_nakpump"]["k_pump"] = pump_density_for(surface_to_volume_per_um)
    out["description"] += f" (pump density for area/volume {surface_to_volume_per_um:.4f} /um)"
    return out


def _emodel(
    description: str,
    vtraub: float,
    soma: tuple[float, float],
    axon: tuple[float, float],
    dend: tuple[float, float],
) -> dict:
    def active(na: float, k: float) -> dict:
        return {"msr_nat": {"gbar": na, "vtraub": vtraub}, "msr_kdr": {"gbar": k, "vtraub": vtraub}}

    return {
        "description": description,
        "sections": {
            "all": {
                "Ra": 100.0,
                "cm": 1.0,
                "mechanisms": {"pas": {"g": 3e-5, "e": -70.0}, **copy.deepcopy(_ION_HOMEOSTASIS)},
            },
            "somatic": {"mechanisms": active(*soma)},
            "axonal": {"mechanisms": active(*axon)},
            "dendritic": {"cm": 2.0, "mechanisms": active(*dend)},
        },
    }


#: e-model name -> e-model; ``model_template`` "msr:<name>" selects one
EMODELS: dict[str, dict] = {
    "RS": _emodel("regular spiking pyramidal cell", -56.2, (0.056, 0.006), (0.2, 0.04), (0.004, 0.002)),
    "FS": _emodel("fast spiking interneuron", -57.9, (0.058, 0.0039), (0.2, 0.03), (0.004, 0.002)),
    "IR": _emodel(
        "irregular spiking interneuron (bipolar)", -55.0, (0.05, 0.005), (0.2, 0.03), (0.004, 0.002)
    ),
}
