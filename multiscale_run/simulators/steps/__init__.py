"""The STEPS adapter: extracellular species on the tet mesh (units, settings, backends, adapter).

Only :mod:`.backend` imports ``steps`` (lazily, for the stochastic solvers).
"""

from multiscale_run.simulators.steps.adapter import StepsSim
from multiscale_run.simulators.steps.settings import SpeciesSettings, StepsSettings

__all__ = ["SpeciesSettings", "StepsSettings", "StepsSim"]
