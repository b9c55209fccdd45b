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

#: Libraries beyond the core install (``./install.sh``) that a simulator needs for some values of one
#: of its settings: simulator -> (setting, values that need it, importable module, how to install it).
LIBRARIES = {
    "steps": ("solver", ("TetOpSplit", "Tetexact"), "steps", "run {install} --steps (docs/install.md)"),
    "metabolism": ("backend", ("julia",), "juliacall", "pip install juliacall (Julia is optional)"),
}


def _importable(module: str) -> bool:
    """Whether ``module`` can be imported, looked up without importing it (STEPS takes seconds)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: blocked in sys.modules
        return False


def missing_library(name: str, section: dict) -> tuple[str, str] | None:
    """``(setting, reason)`` when simulator ``name`` configured by ``section`` needs a library that
    is not installed here, the reason naming the install step; None when it can run."""
    if name not in LIBRARIES:
        return None
    setting, values, module, how = LIBRARIES[name]
    value = section.get(setting)
    if value not in values or _importable(module):
        return None
    script = Path(__file__).resolve().parents[2] / "install.sh"
    install = str(script) if script.is_file() else "install.sh of the multiscale-run sources"
    return setting, (
        f"{setting} {value!r} of the {name} simulator needs the Python module {module!r}, which is "
        f"not installed here: {how.format(install=install)}"
    )


def adapter_class(name: str) -> type:
    module, cls = ADAPTERS[name]
    return getattr(importlib.import_module(module), cls)


def declared_variables(name: str, section: dict) -> dict[str, Variable]:
    """The variables simulator ``name`` exposes with the settings of its config ``section``."""
    return adapter_class(name).declared_variables(section)
