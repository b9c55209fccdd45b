"""Metrics: one number per point, computed from the point's SONATA outputs.

Kinds (``window_ms`` is ``[t0, t1]``: the frames or spikes with ``t0 <= t < t1``; default the whole run):

- ``mean``, ``min``, ``max`` of a report (``report``: a report name of the base config) over every
  element and every valid frame of the window (the frames the writer's ``valid_frames``
  attribute vouches for, so a crashed run's unwritten tail never counts);
- ``spike_rate``: spikes per simulated neuron per second (Hz) in the window, from the spikes file;
- ``python``: ``function`` is ``"package.module:name"``, called with the point's simulation folder
  (a :class:`~pathlib.Path`), returning a number.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from multiscale_run.config import Config, load
from multiscale_run.output import VALID_FRAMES_ATTR

REPORT_KINDS = ("mean", "min", "max")
KINDS = (*REPORT_KINDS, "spike_rate", "python")


class MetricError(RuntimeError):
    """A metric that cannot be computed from a point's outputs."""


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str
    report: str = ""
    window_ms: tuple[float, float] | None = None
    function: str = ""

    def evaluate(self, simulation_dir: Path) -> float:
        if self.kind == "python":
            value = _import(self.function)(Path(simulation_dir))
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise MetricError(f"{self.function} returned {value!r}, not a number")
            return float(value)
        config = load(simulation_dir)
        t0, t1 = self.window_ms or (0.0, config.run.tstop_ms)
        if self.kind == "spike_rate":
            return _spike_rate(config, t0, t1)
        values = _report_values(config.output_dir / f"{self.report}.h5", t0, t1)
        return float({"mean": np.mean, "min": np.min, "max": np.max}[self.kind](values))

    def problems(self, config: Config) -> list[tuple[str, str, str]]:
        """(key, message, expected) for what the base config cannot give this metric."""
        if self.kind not in REPORT_KINDS:
            return []
        names = [r["name"] for sim in config.simulators for r in config.simulator(sim).get("reports", [])]
        if self.report in names:
            return []
        return [
            (
                f"metrics.{self.name}.report",
                f"the base config has no report {self.report!r}",
                f"one of: {', '.join(names) or '(none)'}",
            )
        ]


def _import(target: str) -> Callable:
    module, _, attr = target.partition(":")
    func = getattr(importlib.import_module(module), attr)
    if not callable(func):
        raise TypeError(f"{target} is not callable")
    return func


def _report_values(path: Path, t0: float, t1: float) -> np.ndarray:
    """The valid frames with t0 <= t < t1 of a SONATA element report, the columns of all its
    populations side by side (they share one frame clock)."""
    if not path.is_file():
        raise MetricError(f"report file {path} not found")
    with h5py.File(path, "r") as f:
        groups = list(f["report"].values())
        start, _stop, dt = (float(x) for x in groups[0]["mapping/time"][...])
        valid = min(
            min(int(g["data"].attrs.get(VALID_FRAMES_ATTR, g["data"].shape[0])), g["data"].shape[0])
            for g in groups
        )
        times = start + dt * np.arange(valid)
        frames = np.flatnonzero((times >= t0 - 1e-9 * dt) & (times < t1 - 1e-9 * dt))
        if not len(frames):
            raise MetricError(f"{path} has no valid frame in [{t0:g}, {t1:g}) ms")
        rows = slice(frames[0], frames[-1] + 1)
        return np.concatenate([g["data"][rows] for g in groups], axis=1).astype(np.float64)


def _spike_rate(config: Config, t0: float, t1: float) -> float:
    from multiscale_run.nodes import simulated_nodes

    selection = simulated_nodes(config)
    path = config.spikes_file
    if not path.is_file():
        raise MetricError(f"spikes file {path} not found")
    n = 0
    with h5py.File(path, "r") as f:
        for population in selection.populations:
            group = f.get(f"spikes/{population}")
            times = group["timestamps"][...] if group is not None else np.zeros(0)
            n += int(np.count_nonzero((times >= t0) & (times < t1)))
    return n / (len(selection.gids) * (t1 - t0) / 1000.0)


def parse_metric(name: str, data, problem: Callable[..., None]) -> Metric | None:
    """The metric ``metrics.<name>`` of the sweep file, or None after reporting its problems."""
    where = f"metrics.{name}"
    if not isinstance(data, dict):
        problem(where, f"wrong type: {type(data).__name__}", "an object with a kind")
        return None
    allowed = {"kind", "report", "window_ms", "function"}
    for key in sorted(set(data) - allowed):
        problem(f"{where}.{key}", "unknown key", f"one of: {', '.join(sorted(allowed))}")
    kind = data.get("kind")
    if kind not in KINDS:
        problem(f"{where}.kind", f"unknown metric {json.dumps(kind)}", f"one of: {', '.join(KINDS)}")
        return None
    window = data.get("window_ms")
    if window is not None:
        ok = (
            isinstance(window, list)
            and len(window) == 2
            and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in window
            )
            and window[0] < window[1]
        )
        if not ok:
            problem(
                f"{where}.window_ms", f"invalid value {json.dumps(window)}", "[t0, t1] in ms with t0 < t1"
            )
            return None
        window = (float(window[0]), float(window[1]))
    if kind in REPORT_KINDS and not isinstance(data.get("report"), str):
        problem(f"{where}.report", "missing or not a string", "the name of a report of the base config")
        return None
    function = data.get("function", "")
    if kind == "python":
        if not isinstance(function, str) or ":" not in function:
            problem(f"{where}.function", f"invalid value {json.dumps(function)}", "'package.module:function'")
            return None
        try:
            _import(function)
        except (ImportError, AttributeError, TypeError) as exc:
            problem(f"{where}.function", f"cannot import {function}: {exc}", "an importable function")
            return None
    return Metric(name, kind, report=data.get("report", ""), window_ms=window, function=function)
