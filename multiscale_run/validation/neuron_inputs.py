"""``msr check`` of what NEURON adds to the circuit's cells, without NEURON: the SONATA ``inputs``
(supported kinds, each module's parameters, the node attributes relative inputs read, on every
target), ``conditions.modifications`` and ``connection_overrides`` (kinds, parameters, node
sets, the mechanisms TTX needs, section indices and compartment sets against the morphologies).
Compute rejects nothing this passes but a ``section`` modification's ``axon[i]`` out of range
(the axon a template builds is not in the morphology) and a section a modification names that
lacks the attribute (the mechanisms are inserted by the cell model): the build names the node."""

from __future__ import annotations

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


def check_inputs(config: Config, circuit, cells: dict, available: set, problems: list[Problem]) -> None:
    """Every input's kind and parameters, the mechanism conductance inputs need among the
    ``available`` ones, and the node attributes relative clamps read on each of their targets
    among the simulated cells (``cells``: {population: node ids})."""
    from multiscale_run.simulators.neuron.clamps import CLAMPS, parameter_problems
    from multiscale_run.simulators.neuron.inputs import GCLAMP, kind_problem
    from multiscale_run.simulators.neuron.seclamp import seclamp_problems

    for name, spec in config.inputs.items():
        key = (spec.get("input_type"), spec.get("module"))
        at = f"inputs.{name}"
        if problem := kind_problem(spec):
            sub, message, expected = problem
            problems.append(config.problem(f"{at}{sub}", message, expected))
            continue
        found = []
        clamp = key[0] in ("current_clamp", "conductance") and key[1] in CLAMPS
        if key == ("voltage_clamp", "seclamp"):
            found = seclamp_problems(spec)
        elif clamp:
            found = parameter_problems(spec)
        problems.extend(config.problem(f"{at}.{k}", message) for k, message in found)
        if key[0] == "conductance" and GCLAMP not in available:
            problems.append(
                config.problem(
                    f"{at}.input_type",
                    f"input_type conductance needs the {GCLAMP} mechanism, which no .mod file defines",
                    f"{GCLAMP}.mod (msr's templates/mod) in multiscale_run.neuron.mod_dir",
                )
            )
        needs = CLAMPS[key[1]].needs(spec) if clamp else ()
        if not needs:
            continue
        chosen = _targets(config, circuit, cells, spec.get("node_set"), f"{at}.node_set", problems)
        for population, targets in (chosen or {}).items():
            _relative_needs(config, circuit.node_population(population), targets, spec, needs, at, problems)


def _relative_needs(config: Config, pop, targets: np.ndarray, spec: dict, needs, at: str, problems) -> None:
    """The node attributes ``needs`` of a relative clamp ``spec`` on its ``targets`` in ``pop``."""
    from multiscale_run.simulators.neuron.clamps import attribute_problem

    for need in needs if len(targets) else ():
        attribute = f"@dynamics:{need}"
        values = pop.get(attribute, targets) if attribute in pop.attribute_names else [None] * len(targets)
        bad = [
            (int(n), why)
            for n, v in zip(targets, values, strict=True)
            if (why := attribute_problem(spec, need, v))
        ]
        if bad:
            node, why = bad[0]
            problems.append(
                config.problem(
                    at,
                    f"{spec['module']} reads each target's dynamics_params/{need}: population "
                    f"{pop.name} node {node} {why} ({len(bad)} of {len(targets)} targets)",
                    f"nodes with a usable @dynamics:{need}, or an input in absolute units",
                )
            )


def check_conditions(config: Config, circuit, cells: dict, mechanisms: dict, problems: list[Problem]) -> None:
    """``conditions.modifications`` and ``connection_overrides``: kinds, parameters, node sets;
    TTX needs the TTXDynamicsSwitch mechanism and channels that read ttx (``mechanisms``: the
    cells' inserted mechanisms -> ions each uses)."""
    from multiscale_run.circuit.node_sets import resolve_node_set
    from multiscale_run.simulators.neuron.mechanism_conditions import mechanisms_problems

    conditions = config.conditions
    for key, message in mechanisms_problems(conditions, mechanisms["globals"]):
        problems.append(config.problem(f"conditions.{key}", message))
    threshold = config.run.spike_threshold_mV
    if "spike_threshold" in conditions and conditions["spike_threshold"] != threshold:
        problems.append(
            config.problem(
                "conditions.spike_threshold",
                f"{conditions['spike_threshold']} mV, but run.spike_threshold is {threshold} mV",
                "one threshold, in run.spike_threshold",
            )
        )
    from multiscale_run.simulators.neuron.connection_overrides import override_list, override_problems
    from multiscale_run.simulators.neuron.modifications import (
        kind_of,
        modification_list,
        modification_problems,
    )

    for path, spec in modification_list(config.conditions):
        found = modification_problems(spec)
        problems.extend(config.problem(f"{path}.{k}" if k else path, message) for k, message in found)
        if found:
            continue
        if kind_of(spec) == "compartment_set":
            _check_compartments(config, circuit, cells, path, spec, problems)
            continue
        chosen = _targets(config, circuit, cells, spec["node_set"], f"{path}.node_set", problems)
        if kind_of(spec) == "section" and chosen is not None:
            for population, targets in chosen.items():
                _check_section_indices(
                    config, circuit.node_population(population), targets, path, spec, problems
                )
        if kind_of(spec) != "ttx":
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


#: SWC type of the sections of each section array a ``section`` modification may name
_ARRAY_TYPES = {"dend": 3, "apic": 4}


def _check_section_indices(config: Config, pop, targets: np.ndarray, path: str, spec: dict, problems) -> None:
    """``soma[i]`` must be ``soma[0]``; ``dend[i]`` and ``apic[i]`` must exist in each target's
    morphology (MorphIO's basal / apical sections; ``axon[i]``: the cell model's axon, at build)."""
    from multiscale_run.simulators.neuron.modifications import parse_statements
    from multiscale_run.validation.morphologies import Morphologies

    morphologies, key = Morphologies(pop), f"{path}.section_configure"
    for array, index in sorted({s.place for s in parse_statements(spec["section_configure"], "section")}):
        if array == "soma" and index != 0:
            problems.append(config.problem(key, f"soma[{index}]: a cell has one soma section, soma[0]"))
        if array not in _ARRAY_TYPES:
            continue
        for node in targets.tolist():
            count = morphologies.count_of_type(int(node), _ARRAY_TYPES[array])
            if count is not None and index >= count:
                problems.append(
                    config.problem(
                        key,
                        f"{array}[{index}]: population {pop.name} node {node} has {count} such "
                        f"section(s) in its morphology",
                    )
                )
                break


def _check_compartments(config: Config, circuit, cells: dict, path: str, spec: dict, problems) -> None:
    """The compartment set exists in the compartment sets file, is of a simulated population
    (``cells``: {population: simulated node ids}), and each location of a simulated node names a
    section of its morphology at an offset in [0, 1]."""
    from multiscale_run.circuit.compartment_sets import read_compartment_set
    from multiscale_run.nodes import POINT_MODEL_TYPES
    from multiscale_run.validation.morphologies import Morphologies

    key = f"{path}.compartment_set"
    try:
        population, locations = read_compartment_set(
            config.compartment_sets_file, spec["compartment_set"], str(config.path), key
        )
    except UserError as exc:
        problems.append(config.problem(exc.path or key, exc.message))
        return
    if population not in cells:
        problems.append(
            config.problem(
                key,
                f"compartment set {spec['compartment_set']!r} is of population {population!r}, but "
                f"the simulated cells are of {sorted(cells)}",
            )
        )
        return
    pop = circuit.node_population(population)
    morphologies, simulated = Morphologies(pop), set(cells[population].tolist())
    for node, section, offset in locations:
        count = morphologies.section_count(node) if node in simulated else None
        kind = str(pop.model_types(np.array([node]))[0]) if 0 <= node < pop.size else "missing"
        bad = (
            f"not a node of the population (it has {pop.size})"
            if kind == "missing"
            else f"a {kind} node has no compartments"
            if kind in (*POINT_MODEL_TYPES, "virtual")
            else f"offset {offset} is not in [0, 1]"
            if not 0.0 <= offset <= 1.0
            else f"section {section}, but its morphology has sections 0-{count - 1}"
            if count is not None and section >= count
            else None
        )
        if bad:
            problems.append(
                config.problem(
                    key,
                    f"compartment set {spec['compartment_set']!r}: population {pop.name} node {node}: {bad}",
                )
            )
            return
