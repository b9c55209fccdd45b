"""The sweep file (JSON or YAML): what to vary, how to choose the points, what to measure, where to run.

::

    {
      "base": "sim",                          # the simulation folder every point derives from
      "output": "sweep",                      # the sweep folder (default: the sweep file's name)
      "parameters": {                         # dotted paths into the simulation config
        "multiscale_run.metabolism.parameters.v_stim_n": {"values": [0.0, 0.5, 1.0]},
        "run.tstop": {"low": 100, "high": 300, "num": 3},
        "multiscale_run.neuron.ndts": {"low": 2, "high": 8, "integer": true},
        "conditions.celsius": {"normal": [34.0, 1.0]}
      },
      "method": {"name": "grid"},             # or random (samples, seed) or optuna (trials, objective, ...)
      "metrics": {"atp": {"kind": "mean", "report": "ATP_n", "window_ms": [100, 200]}},
      "executor": {"name": "local", "workers": 2, "ranks": 1},
      "warm_start": {"t_ms": 500}              # optional: branch every point from one snapshot
    }

Every problem is collected with its key (``parameters.run.tstop.num``) before anything runs;
:func:`load_sweep` raises one :class:`~multiscale_run.config.ConfigError` listing them all.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from multiscale_run.config.problems import ConfigError, Problem
from multiscale_run.sweep import warm_start
from multiscale_run.sweep.metrics import Metric, parse_metric

SAMPLERS = ("tpe", "random")


@dataclass(frozen=True)
class Parameter:
    """One varied config key: a list of values, an interval (``num`` points on a grid), or a normal law."""

    path: str
    values: tuple | None = None
    low: float | None = None
    high: float | None = None
    num: int | None = None
    log: bool = False
    integer: bool = False
    normal: tuple[float, float] | None = None


@dataclass(frozen=True)
class Method:
    name: str
    samples: int = 0  # random
    trials: int = 0  # optuna
    seed: int = 0
    objective: str = ""  # optuna: the metric to optimise
    direction: str = "minimize"
    sampler: str = "tpe"
    startup_trials: int = 0  # optuna TPE: random trials before the model is used


@dataclass(frozen=True)
class ExecutorSettings:
    name: str = "local"
    workers: int = 1  # local: concurrent points
    ranks: int = 1  # MPI ranks per point
    mpiexec: str = "mpiexec"  # local, ranks > 1: the launcher command line
    max_concurrent: int = 0  # slurm: the array's %limit (0: no limit)
    nodes: int = 1
    time: str = "01:00:00"
    account: str | None = None
    partition: str | None = None


@dataclass(frozen=True)
class Sweep:
    file: Path
    base: Path
    output: Path
    parameters: tuple[Parameter, ...]
    method: Method
    metrics: dict[str, Metric]
    executor: ExecutorSettings
    raw: dict = field(repr=False, default_factory=dict)
    #: warm start: every point starts from one snapshot of the base run taken at this time (ms)
    warm_start_ms: float | None = None

    def identity(self) -> dict:
        """What fixes the points: a sweep folder made with another identity cannot be resumed.
        Metrics, executor and the number of samples or trials may change between runs."""
        method = {k: v for k, v in self.raw.get("method", {}).items() if k not in ("samples", "trials")}
        # the parameters as a list: their order is the grid's, so it fixes which point is which
        parameters = list((self.raw.get("parameters") or {}).items())
        identity = {"base": str(self.base), "parameters": parameters, "method": method}
        return identity | ({"warm_start": self.raw["warm_start"]} if self.warm_start_ms else {})


def read_file(path: Path) -> Any:
    """The parsed sweep file; ``.yaml``/``.yml`` need PyYAML."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(str(path), "", f"cannot read the sweep file: {exc}")]) from None
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError(
                [
                    Problem(
                        str(path), "", "YAML sweep files need PyYAML", "pip install 'multiscale-run[sweep]'"
                    )
                ]
            ) from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError([Problem(str(path), "", f"malformed YAML: {exc}")]) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            [Problem(str(path), f"line {exc.lineno} column {exc.colno}", f"malformed JSON: {exc.msg}")]
        ) from None


class _Reader:
    """Typed access to one object of the sweep file, collecting problems instead of raising."""

    def __init__(self, file: Path, problems: list[Problem]):
        self.file, self.problems = str(file), problems

    def problem(self, key: str, message: str, expected: str = "") -> None:
        self.problems.append(Problem(self.file, key, message, expected))

    def obj(self, data: Any, key: str, allowed: tuple[str, ...]) -> dict:
        if not isinstance(data, dict):
            self.problem(key, f"wrong type: {type(data).__name__}", "an object")
            return {}
        for name in sorted(set(data) - set(allowed)):
            self.problem(f"{key}.{name}" if key else name, "unknown key", f"one of: {', '.join(allowed)}")
        return data

    def number(self, data: dict, key: str, where: str, default=None, integer=False, minimum=None):
        if data.get(key) is None:
            return default
        value = data[key]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if ok and integer:
            ok = float(value).is_integer()
        if ok and minimum is not None:
            ok = value >= minimum
        if not ok:
            kind = "an integer" if integer else "a number"
            self.problem(
                f"{where}.{key}",
                f"invalid value {json.dumps(value)}",
                f"{kind}{f' >= {minimum}' if minimum is not None else ''}",
            )
            return default
        return int(value) if integer else float(value)

    def choice(self, data: dict, key: str, where: str, choices: tuple[str, ...], default=None):
        value = data.get(key, default)
        if value not in choices:
            self.problem(
                f"{where}.{key}", f"invalid value {json.dumps(value)}", f"one of: {', '.join(choices)}"
            )
            return default
        return value

    def string(self, data: dict, key: str, where: str, default=None):
        value = data.get(key, default)
        if value is not None and not isinstance(value, str):
            self.problem(f"{where}.{key}", f"wrong type: {type(value).__name__}", "a string")
            return default
        return value


_PARAMETER_KEYS = {
    "values": {"values"},
    "low": {"low", "high", "num", "log", "integer"},
    "normal": {"normal", "integer"},
}
_KIND_NAMES = {"values": "a list of values", "low": "an interval", "normal": "a normal law"}


def _parameter(r: _Reader, path: str, data: Any) -> Parameter | None:
    where = f"parameters.{path}"
    data = r.obj(data, where, ("values", "low", "high", "num", "log", "integer", "normal"))
    kinds = {k for k in ("values", "low", "normal") if k in data} | ({"low"} if "high" in data else set())
    if len(kinds) != 1:
        r.problem(where, "give exactly one of values, low/high or normal", "e.g. {'values': [1, 2]}")
        return None
    (kind,) = kinds
    for key in sorted(set(data) - _PARAMETER_KEYS[kind]):
        r.problem(
            f"{where}.{key}",
            f"does not apply to {_KIND_NAMES[kind]}",
            f"one of: {', '.join(sorted(_PARAMETER_KEYS[kind]))}",
        )
    flags = {k: data.get(k, False) for k in ("log", "integer")}
    for k, v in flags.items():
        if not isinstance(v, bool):
            r.problem(f"{where}.{k}", f"wrong type: {type(v).__name__}", "true or false")
    if "values" in data:
        values = data["values"]
        if not isinstance(values, list) or not values:
            r.problem(f"{where}.values", "must be a non-empty list", "e.g. [0.1, 0.2]")
            return None
        return Parameter(path, values=tuple(values))
    if "normal" in data:
        normal = data["normal"]
        if not (
            isinstance(normal, list) and len(normal) == 2 and all(isinstance(x, (int, float)) for x in normal)
        ):
            r.problem(f"{where}.normal", f"invalid value {json.dumps(normal)}", "[mean, standard deviation]")
            return None
        if normal[1] <= 0:
            r.problem(f"{where}.normal", "the standard deviation must be > 0", "[mean, std > 0]")
        return Parameter(path, normal=(float(normal[0]), float(normal[1])), integer=flags["integer"] is True)
    low = r.number(data, "low", where)
    high = r.number(data, "high", where)
    num = r.number(data, "num", where, integer=True, minimum=1)
    if low is None or high is None:
        if "low" in data and "high" in data:
            return None
        r.problem(where, "an interval needs both low and high", "{'low': a, 'high': b}")
        return None
    if high < low:
        r.problem(f"{where}.high", f"high {high:g} is below low {low:g}", "high >= low")
    if flags["log"] is True and low <= 0:
        r.problem(f"{where}.low", "a log interval needs low > 0", "low > 0")
    elif flags["integer"] is True and num is not None and high >= low:
        spaced = (np.geomspace if flags["log"] is True else np.linspace)(low, high, num)
        if len({round(v) for v in spaced}) < num:
            r.problem(
                f"{where}.num", f"{num} integers from {low:g} to {high:g} would repeat values", "fewer points"
            )
    return Parameter(
        path, low=low, high=high, num=num, log=flags["log"] is True, integer=flags["integer"] is True
    )


#: the keys each method and executor takes (a key another one takes would be silently ignored);
#: an executor's keys are fields of ExecutorSettings, its class is in executors.EXECUTORS
METHOD_KEYS = {
    "grid": ("name",),
    "random": ("name", "samples", "seed"),
    "optuna": ("name", "trials", "seed", "objective", "direction", "sampler", "startup_trials"),
}
EXECUTOR_KEYS = {
    "local": ("name", "workers", "ranks", "mpiexec"),
    "slurm": ("name", "ranks", "max_concurrent", "nodes", "time", "account", "partition"),
}


def _method(r: _Reader, data: Any, n_parameters: list[Parameter], metrics: dict) -> Method:
    name = data.get("name") if isinstance(data, dict) else None
    data = r.obj(data, "method", METHOD_KEYS.get(name, ("name",)))
    name = r.choice(data, "name", "method", tuple(METHOD_KEYS))
    seed = r.number(data, "seed", "method", default=0, integer=True, minimum=0)
    if name == "grid":
        for p in n_parameters:
            if p.normal is not None:
                r.problem(
                    f"parameters.{p.path}.normal",
                    "a grid cannot sample a normal law",
                    "values or low/high/num",
                )
            elif p.values is None and p.num is None:
                r.problem(
                    f"parameters.{p.path}.num", "a grid needs the number of points of an interval", "num >= 1"
                )
        return Method("grid", seed=seed)
    if name == "random":
        samples = r.number(data, "samples", "method", integer=True, minimum=1)
        if samples is None:
            r.problem("method.samples", "random needs the number of samples", "an integer >= 1")
        return Method("random", samples=samples or 0, seed=seed)
    if name == "optuna":
        trials = r.number(data, "trials", "method", integer=True, minimum=1)
        if trials is None:
            r.problem("method.trials", "optuna needs the number of trials", "an integer >= 1")
        objective = r.string(data, "objective", "method")
        if objective not in metrics:
            r.problem(
                "method.objective",
                f"unknown metric {json.dumps(objective)}",
                f"one of the sweep's metrics: {', '.join(metrics) or '(none)'}",
            )
        for p in n_parameters:
            if p.normal is not None:
                r.problem(
                    f"parameters.{p.path}.normal",
                    "an optuna search takes values or low/high",
                    "values or low/high",
                )
        trials = trials or 0
        return Method(
            "optuna",
            trials=trials,
            seed=seed,
            objective=objective or "",
            direction=r.choice(data, "direction", "method", ("minimize", "maximize"), "minimize"),
            sampler=r.choice(data, "sampler", "method", SAMPLERS, "tpe"),
            startup_trials=r.number(
                data,
                "startup_trials",
                "method",
                default=min(10, max(1, math.ceil(trials / 3))),
                integer=True,
                minimum=1,
            ),
        )
    return Method("grid")


def _executor(r: _Reader, data: Any) -> ExecutorSettings:
    name = data.get("name", "local") if isinstance(data, dict) else None
    data = r.obj(data, "executor", EXECUTOR_KEYS.get(name, ("name",)))
    d = ExecutorSettings()
    return ExecutorSettings(
        name=r.choice(data, "name", "executor", tuple(EXECUTOR_KEYS), d.name),
        workers=r.number(data, "workers", "executor", d.workers, integer=True, minimum=1),
        ranks=r.number(data, "ranks", "executor", d.ranks, integer=True, minimum=1),
        mpiexec=r.string(data, "mpiexec", "executor", d.mpiexec),
        max_concurrent=r.number(
            data, "max_concurrent", "executor", d.max_concurrent, integer=True, minimum=0
        ),
        nodes=r.number(data, "nodes", "executor", d.nodes, integer=True, minimum=1),
        time=r.string(data, "time", "executor", d.time),
        account=r.string(data, "account", "executor"),
        partition=r.string(data, "partition", "executor"),
    )


def load_sweep(path: str | Path, overrides: dict | None = None) -> Sweep:
    """Read a sweep file; raise a ConfigError listing the problems of its own structure."""
    sweep, problems = parse_sweep(path, overrides)
    if problems:
        raise ConfigError(problems)
    return sweep


def parse_sweep(path: str | Path, overrides: dict | None = None) -> tuple[Sweep, list[Problem]]:
    """The sweep of a sweep file (what could be read of it) and the problems of its own structure
    (:func:`multiscale_run.sweep.driver.validate` checks it against the base config).
    ``overrides`` replace ``executor`` keys (the CLI's options)."""
    path = Path(path).resolve()
    data = read_file(path)
    problems: list[Problem] = []
    r = _Reader(path, problems)
    data = r.obj(data, "", ("base", "output", "parameters", "method", "metrics", "executor", "warm_start"))
    base = r.string(data, "base", "base")
    if base is None:
        r.problem("base", "missing required key", "the simulation folder every point derives from")
    base_dir = (path.parent / (base or ".")).resolve()
    if base is not None and not (base_dir / "simulation_config.json").is_file():
        r.problem("base", f"{base_dir} holds no simulation_config.json", "a simulation folder (msr init)")
    output = r.string(data, "output", "output") or path.stem
    parameters_data = data.get("parameters")
    parameters: list[Parameter] = []
    if not isinstance(parameters_data, dict) or not parameters_data:
        r.problem("parameters", "missing or empty", "an object of dotted config paths")
    else:
        parameters = [p for k, v in parameters_data.items() if (p := _parameter(r, k, v)) is not None]
    metrics = {}
    metrics_data = data.get("metrics", {})
    if not isinstance(metrics_data, dict):
        r.problem("metrics", f"wrong type: {type(metrics_data).__name__}", "an object: name -> metric")
        metrics_data = {}
    for name, spec in metrics_data.items():
        metric = parse_metric(name, spec, lambda key, msg, exp="": r.problem(key, msg, exp))
        if metric is not None:
            metrics[name] = metric
    method = _method(r, data.get("method", {"name": "grid"}), parameters, metrics)
    executor_data = {**(data.get("executor") or {}), **(overrides or {})}
    executor = _executor(r, executor_data)
    warm_start_ms = warm_start.parse(r, data["warm_start"]) if "warm_start" in data else None
    sweep = Sweep(
        file=path,
        base=base_dir,
        output=(path.parent / output).resolve(),
        parameters=tuple(parameters),
        method=method,
        metrics=metrics,
        executor=executor,
        raw={**data, "executor": executor_data},
        warm_start_ms=warm_start_ms,
    )
    return sweep, problems
