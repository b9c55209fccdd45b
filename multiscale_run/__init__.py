"""multiscale-run: a co-simulation runtime for brain tissue (NEURON, STEPS, blood flow, metabolism)."""

__version__ = "0.1.0"
