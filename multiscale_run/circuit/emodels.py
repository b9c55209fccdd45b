"""The default circuit's electrical models (e-models) as data.

An e-model says which NEURON mechanisms (templates/mod) go in which section list and with what
parameters. The circuit builder writes each one as ``<biophysical_neuron_models_dir>/<name>.json``
and the nodes refer to them with ``model_template = "msr:<name>"``; NeuronSim applies them.
Section lists are applied in the order all, somatic, axonal, dendritic, basal, apical (later
ones override). Parameters use NEURON's names (``gbar`` of ``msr_nat`` is ``gbar_msr_nat``).

Channel densities follow Pospischil et al. (2008), Biol. Cybern. 99:427-441 (regular spiking:
gNa 56, gKd 6 mS/cm2, V_T -56.2 mV; fast spiking: gNa 58, gKd 3.9 mS/cm2, V_T -57.9 mV), with a
spike-initiating axon (about 4x the somatic Na+ density) and weakly active dendrites. The
passive leak (pas, g 3e-5 S/cm2, e = v_init) sets the membrane time constant (~33 ms at
cm 1 uF/cm2); the ionic leaks (msr_ionleak) are calibrated at initialisation.
"""

from __future__ import annotations

import copy

_ION_HOMEOSTASIS = {"msr_ionleak": {}, "msr_nakdyn": {}, "msr_nakpump": {}}


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
