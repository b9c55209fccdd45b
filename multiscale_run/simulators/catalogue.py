"""Which adapter class serves which simulator name, and the variables each declares.

Adapters are imported lazily: checking a config must not import NEURON or STEPS unless that
simulator is enabled.
"""

from __future__ import annotations

import importlib

from multiscale_run.simulators.base import Variable

ADAPTERS = {
    "neuron": ("multiscale_run.simulators.neuron", "NeuronSim"),
    "steps": ("multiscale_run.simulators.steps", "StepsSim"),
    "bloodflow": ("multiscale_run.simulators.bloodflow", "BloodflowSim"),
    "metabolism": ("multiscale_run.simulators.metabolism", "MetabolismSim"),
}


def adapter_class(name: str) -> type:
    module, cls = ADAPTERS[name]
    return getattr(importlib.import_module(module), cls)


def declared_variables(name: str, section: dict) -> dict[str, Variable]:
    """The variables simulator ``name`` exposes with the settings of its config ``section``."""
    return adapter_class(name).declared_variables(section)
