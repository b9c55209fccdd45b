"""Point folders: each point of a sweep is a real simulation folder ``SWEEP/points/<name>/``.

It holds ``simulation_config.json`` (the base config, defaults filled and paths absolute, with the
point's overrides applied), ``simulation.sbatch`` (the same script ``msr init`` writes),
``point.json`` (parameters, status, attempts, wall time, error) and, once run, ``output/`` and
``compute.log``. The circuit, mesh, NEURON mechanisms and operator cache stay where the base
config names them: every point reads the same files and the same cache, nothing is copied.

Statuses: ``pending`` (never run), ``running``, ``completed``, ``failed``. A point is finished
when completed; a re-run of the sweep runs every other point again (``failed`` ones only with
``--retry-failed``).
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multiscale_run.config import Config, ConfigError, Problem
from multiscale_run.errors import UserError
from multiscale_run.sweep import paths
from multiscale_run.validation import semantic_problems

POINT_FILE = "point.json"
#: a point's results folder, inside the point's folder
OUTPUT_DIR = "output"
CONFIG_NAME = "simulation_config.json"
PENDING, RUNNING, COMPLETED, FAILED = "pending", "running", "completed", "failed"


@dataclass(frozen=True)
class Point:
    name: str
    directory: Path
    parameters: dict

    @property
    def state(self) -> dict:
        return read_state(self.directory)

    @property
    def status(self) -> str:
        return self.state.get("status", PENDING)


def read_state(directory: Path) -> dict:
    try:
        return json.loads((Path(directory) / POINT_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def update_state(directory: Path, **fields: Any) -> dict:
    """Merge ``fields`` into ``point.json`` (written atomically: a killed sweep never leaves half a file)."""
    state = {**read_state(directory), **fields}
    path = Path(directory) / POINT_FILE
    tmp = path.with_name(f".{POINT_FILE}.{os.getpid()}")
    tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return state


def point_config(base: Config, parameters: dict) -> dict:
    """The config of a point: the base's (defaults filled, paths absolute) with ``parameters``
    (``{dotted path: value}``) applied and the outputs moved into the point's folder."""
    data = copy.deepcopy(base.data)
    for dotted, value in parameters.items():
        paths.assign(data, dotted, value)
    data["output"]["output_dir"] = OUTPUT_DIR
    data["output"]["log_file"] = "msr.log"
    neuron = data["multiscale_run"].get("neuron", {})
    if neuron.get("enabled") and neuron.get("mod_dir") is None and (base.base_dir / "mod").is_dir():
        neuron["mod_dir"] = str(base.base_dir / "mod")  # NeuronSim's default is the config's folder/mod
    return data


def _attributed(problem: Problem, parameters: dict, sweep_file: Path, point: str) -> Problem:
    """A point's config problem, named by the sweep parameter that causes it when there is one."""
    for dotted, value in parameters.items():
        if any(
            a == b or a.startswith((b + ".", b + "["))
            for a, b in ((problem.path, dotted), (dotted, problem.path))
        ):
            return Problem(
                str(sweep_file),
                f"parameters.{dotted}",
                f"value {json.dumps(value)} is rejected: {problem.message}",
                problem.expected,
            )
    where = ", ".join(f"{k}={json.dumps(v)}" for k, v in parameters.items())
    return Problem(
        str(sweep_file), f"point {point} ({where})", f"{problem.path}: {problem.message}", problem.expected
    )


def config_problems(
    base: Config, parameters: dict, sweep_file: Path, point: str, ranks: int
) -> list[Problem]:
    """What ``msr check`` would say of the point's config (schema, then semantics), each problem
    named by the sweep key that causes it."""
    target = base.base_dir / CONFIG_NAME  # validated as if in the base folder: same files, same cache
    try:
        config = Config.from_dict(point_config(base, parameters), target)
        problems = semantic_problems(config, ranks=ranks)
    except ConfigError as exc:
        problems = exc.problems
    return [_attributed(p, parameters, sweep_file, point) for p in problems]


def write_point(point: Point, base: Config, executor, compute_args: tuple[str, ...] = ()) -> None:
    """Create or refresh the folder of a point that is not finished (a completed one is left alone).
    ``compute_args``: options of its ``msr compute`` (a warm start's ``--resume-from ...``)."""
    from multiscale_run.output.sonata_section import sonata_reports
    from multiscale_run.sbatch import write_sbatch

    state = point.state
    if state and state.get("parameters") != point.parameters:
        raise UserError(
            f"holds the point {state.get('parameters')}, not {point.parameters}: "
            "the sweep folder belongs to another sweep (use another output folder)",
            str(point.directory / POINT_FILE),
        )
    if state.get("status") == COMPLETED:
        return
    point.directory.mkdir(parents=True, exist_ok=True)
    data = point_config(base, point.parameters)
    data["reports"] = sonata_reports(data)  # what SONATA readers see follows the overrides (e.g. tstop)
    (point.directory / CONFIG_NAME).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    write_sbatch(
        point.directory,
        nodes=executor.nodes,
        ntasks=executor.ranks,
        time=executor.time,
        account=executor.account,
        partition=executor.partition,
        compute_args=list(compute_args),
    )
    update_state(
        point.directory,
        name=point.name,
        parameters=point.parameters,
        compute_args=list(compute_args),
        status=state.get("status", PENDING),
        attempts=state.get("attempts", 0),
    )
