"""The immutable ``Config`` object every part of the runtime reads."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multiscale_run.config import loader, schema
from multiscale_run.config.problems import ConfigError, Problem


@dataclass(frozen=True)
class RunSettings:
    tstop_ms: float
    dt_ms: float
    random_seed: int
    spike_threshold_mV: float


@dataclass(frozen=True)
class Config:
    """A validated simulation config: SONATA keys plus the ``multiscale_run`` section.

    ``data`` holds the whole config with substitutions made, paths absolute and schema defaults
    filled in. Accessors return copies, so the object cannot be changed after loading.
    """

    path: Path
    data: dict

    @classmethod
    def from_dict(cls, data: dict, path: Path) -> Config:
        """Build from an already parsed dict as if it had been read from ``path``."""
        path = Path(path).resolve()
        names = {"config_dir": str(path.parent)}
        manifest = data.get("manifest", {})
        if isinstance(manifest, dict):
            names.update({k.strip("${}"): str(v) for k, v in manifest.items()})
        data = loader.substitute(copy.deepcopy(data), names, str(path))
        problems = schema.validate(data, str(path))
        if problems:
            raise ConfigError(problems)
        data = loader.resolve_paths(schema.fill_defaults(data), path.parent)
        return cls(path=path, data=data)

    # --- SONATA part -------------------------------------------------------------------------
    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def run(self) -> RunSettings:
        run = self.data["run"]
        return RunSettings(
            tstop_ms=float(run["tstop"]),
            dt_ms=float(run["dt"]),
            random_seed=int(run["random_seed"]),
            spike_threshold_mV=float(run["spike_threshold"]),
        )

    @property
    def circuit_config(self) -> Path:
        return Path(self.data["network"])

    @property
    def node_sets_file(self) -> Path | None:
        """The simulation's node sets file, else the circuit's."""
        if "node_sets_file" in self.data:
            return Path(self.data["node_sets_file"])
        from multiscale_run.circuit.sonata import read_config
        from multiscale_run.errors import UserError

        try:
            value = read_config(self.circuit_config).get("node_sets_file")
        except UserError:
            return None
        return Path(value) if value else None

    @property
    def compartment_sets_file(self) -> Path | None:
        """The simulation's compartment sets file (SONATA ``compartment_sets_file``)."""
        value = self.data.get("compartment_sets_file")
        return Path(value) if value else None

    @property
    def node_set(self) -> str | None:
        return self.data.get("node_set")

    @property
    def conditions(self) -> dict:
        return copy.deepcopy(self.data.get("conditions", {}))

    @property
    def inputs(self) -> dict:
        return copy.deepcopy(self.data.get("inputs", {}))

    @property
    def output_dir(self) -> Path:
        return Path(self.data["output"]["output_dir"])

    @property
    def spikes_file(self) -> Path:
        return self.output_dir / self.data["output"]["spikes_file"]

    # --- multiscale_run part -----------------------------------------------------------------
    @property
    def msr(self) -> dict:
        return copy.deepcopy(self.data["multiscale_run"])

    @property
    def cache_dir(self) -> Path:
        return Path(self.data["multiscale_run"]["cache_dir"])

    def simulator(self, name: str) -> dict:
        """The ``multiscale_run.<name>`` section with defaults filled in (a copy)."""
        return copy.deepcopy(self.data["multiscale_run"].get(name, {"enabled": False}))

    def enabled(self, name: str) -> bool:
        return bool(self.data["multiscale_run"].get(name, {}).get("enabled", False))

    @property
    def simulators(self) -> list[str]:
        """The enabled simulators in advance order."""
        return [name for name in self.data["multiscale_run"]["order"] if self.enabled(name)]

    def dt_ms(self, name: str) -> float:
        return self.simulator(name)["ndts"] * self.run.dt_ms

    @property
    def couplings(self) -> list[dict]:
        return copy.deepcopy(self.data["multiscale_run"]["couplings"])

    @property
    def checks(self) -> list[dict]:
        return copy.deepcopy(self.data["multiscale_run"]["checks"])

    def problem(self, path: str, message: str, expected: str = "") -> Problem:
        return Problem(str(self.path), path, message, expected)

    def get(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return copy.deepcopy(node)


def load(path: str | Path) -> Config:
    """Read, substitute, resolve, validate and complete a simulation config file."""
    path = Path(path)
    if path.is_dir() or path.suffix != ".json":  # a simulation folder, existing or not
        path = path / "simulation_config.json"
    raw = loader.read_json(path.resolve())
    if not isinstance(raw, dict):
        raise ConfigError([Problem(str(path.resolve()), "", "the config must be a JSON object", "{...}")])
    return Config.from_dict(raw, path)
