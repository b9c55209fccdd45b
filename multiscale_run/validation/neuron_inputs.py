"""``msr check`` of what NEURON adds to the circuit's cells, without NEURON: the SONATA ``inputs``
(supported kinds, each module's parameters, the node attributes relative inputs read, on every
target), ``conditions.modifications`` and ``connection_overrides`` (kinds, parameters, node
sets, the mechanisms TTX needs). Compute rejects nothing this passes."""

from __future__ import annotations

import math

import numpy as np

from multiscale_run.config.model import Config
from multiscale_run.config.problems import Problem
from multiscale_run.errors import UserError


def _targets(config: Config, circuit, cells: dict, rule, where: str, problems) -> dict | None:
    """{population: simulated node ids} of node set ``rule`` (all of ``cells`` without one); None
    when it cannot be resolved (a problem says why)."""
    from multiscale_run.circuit.node_sets import resolve_node_set

    if rule is None:
        return cells
    try:
        found = resolve_node_set(rule, circuit, config.node_sets_file, where)
    except UserError as exc:
        problems.append(config.problem(where, exc.message))
        return None
    return {p: ids[np.isin(ids, found.get(p, []))] for p, ids in cells.items()}


def check_inputs(config: Config, circuit, cells: dict, problems: list[Problem]) -> None:
    """Every input's kind and parameters, and the node attributes relative clamps read on each
    of their targets among the simulated cells (``cells``: {population: node ids})."""
    from multiscale_run.simulators.neuron.clamps import CLAMPS, parameter_problems
    from multiscale_run.simulators.neuron.inputs import SUPPORTED_INPUTS
    from multiscale_run.simulators.neuron.seclamp import seclamp_problems

    for name, spec in config.inputs.items():
        key = (spec.get("input_type"), spec.get("module"))
        at = f"inputs.{name}"
        if key not in SUPPORTED_INPUTS:
            problems.append(
                config.problem(
                    at, f"unsupported input_type/module {key}", f"one of {sorted(SUPPORTED_INPUTS)}"
                )
            )
            continue
        found = []
        if key == ("voltage_clamp", "seclamp"):
            found = seclamp_problems(spec)
        elif key[0] == "current_clamp" and key[1] in CLAMPS:
            found = parameter_problems(spec)
        problems.extend(config.problem(f"{at}.{k}", message) for k, message in found)
        needs = CLAMPS[key[1]].needs(spec) if key[0] == "current_clamp" and key[1] in CLAMPS else ()
        if not needs:
            continue
        chosen = _targets(config, circuit, cells, spec.get("node_set"), f"{at}.node_set", problems)
        for population, targets in (chosen or {}).items():
            _relative_needs(config, circuit.node_population(population), targets, key, needs, at, problems)


def _relative_needs(config: Config, pop, targets: np.ndarray, key, needs, at: str, problems) -> None:
    """The node attributes ``needs`` of a relative clamp ``key`` on its ``targets`` in ``pop``."""
    for need in needs if len(targets) else ():
        attribute = f"@dynamics:{need}"
        values = pop.get(attribute, targets) if attribute in pop.attribute_names else [None] * len(targets)
        zero = key[1] == "relative_shot_noise"  # its mean would be 0: no shot noise has one
        bad = [
            int(n)
            for n, v in zip(targets, values, strict=True)
            if v is None or not math.isfinite(v) or (zero and v == 0)
        ]
        if bad:
            problems.append(
                config.problem(
                    at,
                    f"{key[1]} reads each target's dynamics_params/{need}: population "
                    f"{pop.name} node {bad[0]} has none (or 0 for a shot noise; {len(bad)} "
                    f"of {len(targets)} targets)",
                    f"nodes with @dynamics:{need}, or an input in nA",
                )
            )


def check_conditions(config: Config, circuit, cells: dict, mechanisms: dict, problems: list[Problem]) -> None:
    """``conditions.modifications`` and ``connection_overrides``: kinds, parameters, node sets;
    TTX needs the TTXDynamicsSwitch mechanism and channels that read ttx (``mechanisms``: the
    cells' inserted mechanisms -> ions each uses)."""
    from multiscale_run.circuit.node_sets import resolve_node_set
    from multiscale_run.simulators.neuron.connection_overrides import override_list, override_problems
    from multiscale_run.simulators.neuron.modifications import modification_list, modification_problems

    for path, spec in modification_list(config.conditions):
        found = modification_problems(spec)
        problems.extend(config.problem(f"{path}.{k}" if k else path, message) for k, message in found)
        if found:
            continue
        _targets(config, circuit, cells, spec["node_set"], f"{path}.node_set", problems)
        if spec["type"] != "TTX":
            continue
        if "TTXDynamicsSwitch" not in mechanisms["available"]:
            problems.append(
                config.problem(
                    f"{path}.type",
                    "TTX needs the TTXDynamicsSwitch mechanism (neurodamus's), which no .mod file defines",
                    "TTXDynamicsSwitch.mod among the circuit's mod files (neuron.circuit_mod_dir)",
                )
            )
        readers = sorted(m for m in mechanisms["inserted"] if "ttx" in mechanisms["ions"].get(m, set()))
        if not readers:
            problems.append(
                config.problem(
                    f"{path}.type",
                    f"TTX would block nothing: none of the cells' mechanisms reads ttx (USEION ttx); they "
                    f"insert {sorted(mechanisms['inserted'])}",
                )
            )
    for path, spec in override_list(config.get("connection_overrides")):
        found = override_problems(spec)
        problems.extend(config.problem(f"{path}.{k}" if k else path, message) for k, message in found)
        if found:
            continue
        for end in ("source", "target"):
            try:
                resolve_node_set(spec[end], circuit, config.node_sets_file, f"{path}.{end}")
            except UserError as exc:
                problems.append(config.problem(f"{path}.{end}", exc.message))
