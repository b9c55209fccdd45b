"""Simulation config: loading, validation (schema, then semantics) and the Config object."""

from multiscale_run.config.model import Config, RunSettings, load
from multiscale_run.config.problems import ConfigError, Problem

__all__ = ["Config", "ConfigError", "Problem", "RunSettings", "load"]
