"""The NEURON adapter: settings, circuit reading, cells, synapses, inputs, segment pointers.

Only this package imports ``neuron`` (lazily, when a :class:`NeuronSim` is built).
"""

from multiscale_run.simulators.neuron.adapter import NeuronSim
from multiscale_run.simulators.neuron.settings import NeuronSettings, settings_from_config

__all__ = ["NeuronSettings", "NeuronSim", "settings_from_config"]
