"""Which adapter class serves which simulator name, and the variables each declares.

Adapters are imported lazily: checking a config must not import NEURON or STEPS unless that
simulator is enabled.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from multiscale_run.simulators.base import Variable

ADAPTERS = {
    "neuron": ("multiscale_run.simulators.neuron", "NeuronSim"),
    "steps": ("multiscale_run.simulators.steps", "StepsSim"),
    "bloodflow": ("multiscale_run.simulators.bloodflow", "BloodflowSim"),
    "metabolism": ("multiscale_run.simulators.metabolism", "MetabolismSim"),
}

#: Libraries a simulator needs beyond the core install (``./install.sh``), by simulator name:
#: (importable module, the step that installs it).
LIBRARIES = {"steps": ("steps", "--steps")}


def missing_library(name: str) -> str | None:
    """Why simulator ``name`` cannot run in this environment, naming the install step; None if it can.

    Looks the module up without importing it (importing STEPS takes seconds)."""
    if name not in LIBRARIES:
        return None
    module, option = LIBRARIES[name]
    try:
        if importlib.util.find_spec(module) is not None:
            return None
    except (ImportError, ValueError):  # ValueError: blocked in sys.modules
        pass
    script = Path(__file__).resolve().parents[2] / "install.sh"
    where = str(script) if script.is_file() else "install.sh in the multiscale-run sources"
    return (
        f"the {name} simulator needs the Python module {module!r}, which is not installed here: "
        f"run {where} {option} (docs/install.md)"
    )


def adapter_class(name: str) -> type:
    module, cls = ADAPTERS[name]
    return getattr(importlib.import_module(module), cls)


def declared_variables(name: str, section: dict) -> dict[str, Variable]:
    """The variables simulator ``name`` exposes with the settings of its config ``section``."""
    return adapter_class(name).declared_variables(section)
