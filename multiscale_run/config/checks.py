"""Semantic checks of a schema-valid config: every problem is collected, none stops the others.

What is checked: files exist; tstop and every period are whole multiples of the right dt;
node sets exist; coupling and report endpoints, variables and operators exist and their
element spaces match; a merge can write back to its source; transforms are safe expressions
that compute on their source's values; value checks name real variables; metabolism overrides
name J15 parameters and states; the MPI rank count suits the circuit. The files the run opens
are probed by :mod:`.file_probes`, the other cross-field rules (report windows and names,
bounds, output folder) are in :mod:`.rules`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from multiscale_run.config.file_probes import file_problems
from multiscale_run.config.model import Config
from multiscale_run.config.problems import Problem
from multiscale_run.config.rules import rule_problems
from multiscale_run.config.transform_probe import transform_problem

log = logging.getLogger(__name__)

_TOL = 1e-9


def _is_multiple(value: float, step: float) -> bool:
    ratio = value / step
    return abs(ratio - round(ratio)) < _TOL * max(1.0, abs(ratio))


def _node_sets(config: Config, problems: list[Problem]) -> dict | None:
    path = config.node_sets_file
    where = "node_sets_file" if "node_sets_file" in config.data else "network"
    if path is None:
        return None
    if not path.is_file():
        problems.append(config.problem(where, f"node sets file not found: {path}", "an existing JSON file"))
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        problems.append(config.problem(where, f"node sets file {path} is not valid JSON: {exc}"))
        return None


def _check_files(config: Config, problems: list[Problem]) -> None:
    if not config.circuit_config.is_file():
        problems.append(
            config.problem(
                "network",
                f"circuit config not found: {config.circuit_config}",
                "an existing SONATA circuit_config.json",
            )
        )
    for name, spec in config.inputs.items():
        for key, value in spec.items():
            if key.endswith("_file") and not isinstance(value, str):
                problems.append(
                    config.problem(f"inputs.{name}.{key}", f"{value!r} is not a path", "a string")
                )
            elif key.endswith("_file") and not Path(value).is_file():
                problems.append(
                    config.problem(f"inputs.{name}.{key}", f"file not found: {value}", "an existing file")
                )
    run = config.run
    if not _is_multiple(run.tstop_ms, run.dt_ms):
        problems.append(
            config.problem(
                "run.tstop",
                f"tstop {run.tstop_ms} ms is not a multiple of run.dt",
                f"a multiple of {run.dt_ms} ms",
            )
        )


def _check_node_set(
    config: Config, node_sets: dict | None, name: str, where: str, problems: list[Problem]
) -> None:
    if not name or node_sets is None:
        return
    if name not in node_sets:
        problems.append(
            config.problem(
                where,
                f"unknown node set {name!r}",
                f"one of: {', '.join(sorted(node_sets)) or '(none defined)'}",
            )
        )


def _variables(config: Config, problems: list[Problem]) -> dict[str, dict]:
    """Declared variables of every enabled simulator (an adapter that cannot load is a problem)."""
    from multiscale_run.simulators.catalogue import declared_variables

    out = {}
    for name in config.simulators:
        try:
            out[name] = declared_variables(name, config.simulator(name))
        except ImportError as exc:
            problems.append(
                config.problem(
                    f"multiscale_run.{name}.enabled",
                    f"the {name} simulator is not available: {exc}",
                    "install it with ./install.sh, or set enabled to false",
                )
            )
    return out


def _check_variable(config, variables, sim, var, where, problems, writable=False):
    if sim not in variables:
        return None
    declared = variables[sim]
    if var not in declared:
        problems.append(
            config.problem(where, f"{sim} has no variable {var!r}", f"one of: {', '.join(sorted(declared))}")
        )
        return None
    if writable and not declared[var].writable:
        problems.append(config.problem(where, f"{sim} variable {var!r} is read-only", "a writable variable"))
    return declared[var]


def _check_couplings(config: Config, variables: dict, problems: list[Problem]) -> None:
    from multiscale_run.coupling.operators import OPERATORS
    from multiscale_run.coupling.transform import Transform, TransformError

    enabled = set(config.simulators)
    for i, c in enumerate(config.couplings):
        at = f"multiscale_run.couplings[{i}]"
        for end in ("src", "dest"):
            if c[end] not in enabled:
                problems.append(
                    config.problem(
                        f"{at}.{end}",
                        f"simulator {c[end]!r} is not enabled",
                        f"one of the enabled simulators: {', '.join(config.simulators)}",
                    )
                )
        src = _check_variable(
            config,
            variables,
            c["src"],
            c["src_variable"],
            f"{at}.src_variable",
            problems,
            writable=c["action"] == "merge",
        )
        dest = _check_variable(
            config, variables, c["dest"], c["dest_variable"], f"{at}.dest_variable", problems, writable=True
        )
        op = OPERATORS.get(c["operator"])
        if op is None:
            problems.append(
                config.problem(
                    f"{at}.operator",
                    f"unknown operator {c['operator']!r}",
                    f"one of: {', '.join(sorted(OPERATORS))}",
                )
            )
        elif reason := op.missing_geometry(enabled):
            problems.append(
                config.problem(f"{at}.operator", reason, "an operator the enabled simulators serve")
            )
        elif src is not None and dest is not None:
            if c["operator"] == "identity":
                if src.space != dest.space:
                    problems.append(
                        config.problem(
                            f"{at}.operator",
                            f"identity cannot map {src.space.value} to {dest.space.value}",
                            "an operator between these spaces",
                        )
                    )
            elif (op.src, op.dest) != (src.space, dest.space):
                problems.append(
                    config.problem(
                        f"{at}.operator",
                        f"{c['operator']} maps {op.src.value} to {op.dest.value}, but "
                        f"{c['src']}.{c['src_variable']} lives on {src.space.value} and "
                        f"{c['dest']}.{c['dest_variable']} on {dest.space.value}",
                        f"an operator from {src.space.value} to {dest.space.value}",
                    )
                )
        if c["action"] == "merge" and op is not None and c["operator"] != "identity" and not op.writeback:
            problems.append(
                config.problem(
                    f"{at}.operator",
                    f"merge needs to write back to its source, and {c['operator']} has no "
                    "write-back operator",
                    "an operator with a write-back (e.g. a mean)",
                )
            )
        if c["action"] == "merge" and c.get("transform"):
            problems.append(
                config.problem(
                    f"{at}.transform",
                    "a merge cannot have a transform: its value is written to both sides",
                    "no transform; both variables in the same unit",
                )
            )
        elif c.get("transform"):
            try:
                transform = Transform(c["transform"])
            except TransformError as exc:
                problems.append(
                    config.problem(f"{at}.transform", str(exc), "a safe expression of vals and dt_ms")
                )
            else:  # safe: does it compute on the source's values?
                if problem := transform_problem(config, c, transform, f"{at}.transform"):
                    problems.append(problem)
        if "ndts" in c and c["dest"] in enabled:
            dest_ndts = config.simulator(c["dest"]).get("ndts", 1)
            if c["ndts"] % dest_ndts:
                problems.append(
                    config.problem(
                        f"{at}.ndts",
                        f"period {c['ndts']} is not a multiple of the destination's ndts {dest_ndts}",
                        f"a multiple of {dest_ndts}",
                    )
                )


def _check_reports(config, variables, node_sets, problems):
    from multiscale_run.coupling.operators import OPERATORS

    for sim in config.simulators:
        sim_dt = config.dt_ms(sim)
        for i, rep in enumerate(config.simulator(sim).get("reports", [])):
            at = f"multiscale_run.{sim}.reports[{i}]"
            var = _check_variable(config, variables, sim, rep["variable"], f"{at}.variable", problems)
            if "dt_ms" in rep and not _is_multiple(rep["dt_ms"], sim_dt):
                problems.append(
                    config.problem(
                        f"{at}.dt_ms",
                        f"report dt {rep['dt_ms']} ms is not a multiple of the {sim} dt",
                        f"a multiple of {sim_dt} ms",
                    )
                )
            operator = rep.get("operator", "")
            if operator == "soma" and sim != "neuron":
                problems.append(
                    config.problem(
                        f"{at}.operator",
                        "operator soma takes NEURON values at the somata: neuron reports only",
                        f"identity or an operator from {var.space.value}" if var else "another operator",
                    )
                )
            elif operator and operator not in ("soma", "identity"):
                op = OPERATORS.get(operator)
                if op is None:
                    problems.append(
                        config.problem(
                            f"{at}.operator",
                            f"unknown operator {operator!r}",
                            f"soma, identity or one of: {', '.join(sorted(OPERATORS))}",
                        )
                    )
                elif reason := op.missing_geometry(set(config.simulators)):
                    problems.append(
                        config.problem(f"{at}.operator", reason, "an operator the enabled simulators serve")
                    )
                elif var is not None and op.src != var.space:
                    problems.append(
                        config.problem(
                            f"{at}.operator",
                            f"{operator} reads {op.src.value} values but "
                            f"{rep['variable']} lives on {var.space.value}",
                            f"an operator from {var.space.value}",
                        )
                    )
            _check_node_set(config, node_sets, rep.get("node_set", ""), f"{at}.node_set", problems)


def _check_sonata_reports(config: Config, problems: list[Problem]) -> None:
    """The top-level SONATA ``reports`` section must declare the multiscale_run reports as they are:
    ``msr init`` writes it, and an edit of a report, of tstop or of an enabled flag makes it stale
    (bluepysnap would then show wrong windows or files that are never written). One problem for
    the whole section, since one command fixes it."""
    from multiscale_run.sonata_reports import stale_reports

    stale = stale_reports(config.data)
    if not stale:
        return
    details = []
    for name, (written, expected) in stale.items():
        if expected is None:
            details.append(f"{name} is not a per-neuron or per-segment report of multiscale_run")
        elif written is None:
            details.append(f"{name} is missing")
        else:
            keys = sorted(k for k in set(written) | set(expected) if written.get(k) != expected.get(k))
            details.append(f"{name} has stale {', '.join(keys)}")
    problems.append(
        config.problem(
            "reports",
            "the SONATA reports section disagrees with the multiscale_run reports: " + "; ".join(details),
            f"regenerate it with: python -m multiscale_run.sonata_reports {config.path}",
        )
    )


def _check_value_checks(config, variables, problems):
    enabled = set(config.simulators)
    for i, chk in enumerate(config.checks):
        at = f"multiscale_run.checks[{i}]"
        if chk["simulator"] not in enabled:
            problems.append(
                config.problem(
                    f"{at}.simulator",
                    f"simulator {chk['simulator']!r} is not enabled",
                    f"one of: {', '.join(config.simulators)}",
                )
            )
            continue
        _check_variable(config, variables, chk["simulator"], chk["variable"], f"{at}.variable", problems)
        if not any(k in chk for k in ("lb", "leb", "hb", "heb")):
            problems.append(config.problem(at, "a check needs at least one bound", "lb, leb, hb or heb"))


def _check_metabolism_names(config: Config, problems: list[Problem]) -> None:
    """The J15 parameter and state names the metabolism section overrides must exist (the schema
    allows any name there)."""
    if not config.enabled("metabolism"):
        return
    from multiscale_run.metabolism.parameters import ALL_PARAMETER_NAMES, STATE_NAMES

    section = config.simulator("metabolism")
    for key, names, what in (
        ("parameters", ALL_PARAMETER_NAMES, "parameter"),
        ("initial_state", STATE_NAMES, "state"),
    ):
        for name in sorted(set(section.get(key, {})) - set(names)):
            problems.append(
                config.problem(
                    f"multiscale_run.metabolism.{key}.{name}",
                    f"unknown J15 {what} {name!r}",
                    f"one of: {', '.join(names)}",
                )
            )


def count_cells(config: Config) -> int | None:
    """Number of neurons the simulation runs (its node set), or None if the circuit cannot be read."""
    from multiscale_run.nodes import simulated_nodes

    try:
        return len(simulated_nodes(config)[1])
    except Exception as exc:  # any reader failure means: unknown (other checks name the cause)
        log.debug("cannot count cells: %s", exc)
        return None


def _check_ranks(config: Config, ranks: int, problems: list[Problem]) -> None:
    if ranks < 1:
        problems.append(config.problem("", f"rank count {ranks} is not allowed", "at least 1"))
        return
    if ranks > 1 and config.enabled("neuron"):
        cells = count_cells(config)
        if cells is not None and ranks > cells:
            problems.append(
                config.problem(
                    "node_set" if config.node_set else "network",
                    f"{ranks} MPI ranks for {cells} cells would leave ranks without cells",
                    f"at most {cells} ranks",
                )
            )


def _check_libraries(config: Config, problems: list[Problem]) -> None:
    """An enabled simulator whose chosen solver or backend needs a library that is not installed
    (STEPS's stochastic solvers come with ``install.sh --steps``)."""
    from multiscale_run.simulators.catalogue import missing_library

    for name in config.simulators:
        missing = missing_library(name, config.simulator(name))
        if missing:
            setting, reason = missing
            where = f"multiscale_run.{name}.{setting}"
            problems.append(config.problem(where, reason, "an installed library"))


def semantic_problems(config: Config, ranks: int = 1) -> list[Problem]:
    """Every semantic problem of a schema-valid config."""
    problems: list[Problem] = []
    _check_files(config, problems)
    problems.extend(file_problems(config) + rule_problems(config))
    node_sets = _node_sets(config, problems)
    _check_node_set(config, node_sets, config.node_set or "", "node_set", problems)
    if not config.simulators:
        problems.append(
            config.problem(
                "multiscale_run",
                "no simulator is enabled",
                "at least one of neuron, steps, bloodflow, metabolism enabled",
            )
        )
    _check_libraries(config, problems)
    variables = _variables(config, problems)
    _check_couplings(config, variables, problems)
    _check_reports(config, variables, node_sets, problems)
    _check_value_checks(config, variables, problems)
    _check_metabolism_names(config, problems)
    _check_ranks(config, ranks, problems)
    return problems


def semantic_warnings(config: Config) -> list[Problem]:
    """What deserves a fix but does not stop a run (a stale SONATA reports section only misleads
    SONATA readers; multiscale_run writes its reports from its own section)."""
    warnings: list[Problem] = []
    _check_sonata_reports(config, warnings)
    _check_mesh_coverage(config, warnings)
    return warnings


def _check_mesh_coverage(config: Config, warnings: list[Problem]) -> None:
    """Neurons partly outside an existing extracellular mesh exchange nothing there with STEPS.

    (A missing mesh is generated around every segment, so it covers them all.)"""
    if not (config.enabled("steps") and config.enabled("neuron")):
        return
    section = config.simulator("steps")
    mesh_file = Path(section["mesh_file"])
    if not mesh_file.is_file():
        return
    from multiscale_run.mesh import locate_points, read_mesh
    from multiscale_run.simulators.neuron import NeuronSim

    points, owners = NeuronSim.placed_morphology_points(config)
    outside = locate_points(points, read_mesh(mesh_file, section.get("mesh_scale_um", 1.0))) < 0
    if outside.any():
        cells = np.unique(owners[outside])
        warnings.append(
            config.problem(
                "multiscale_run.steps.mesh_file",
                f"{int(outside.sum())} of {len(points)} morphology points of {len(cells)} neuron(s) "
                f"(e.g. node {int(cells[0])}) lie outside the mesh {mesh_file}: those parts exchange "
                "nothing with the extracellular space",
                "a mesh that holds every neuron, or no mesh file so that one is generated",
            )
        )


def check_simulation(directory: Path | str, ranks: int | None = None) -> str:
    """Validate the config of a simulation folder (or file); raise ConfigError listing every problem.

    Returns a one-line summary when all is well.
    """
    from multiscale_run.config.model import load
    from multiscale_run.config.problems import ConfigError

    config = load(directory)
    if ranks is None:
        from mpi4py import MPI

        ranks = MPI.COMM_WORLD.Get_size()
    problems = semantic_problems(config, ranks=ranks)
    if problems:
        raise ConfigError(problems)
    warnings = "".join(f"\nwarning: {w}" for w in semantic_warnings(config))
    n_couplings, n_reports = (
        len(config.couplings),
        sum(len(config.simulator(s).get("reports", [])) for s in config.simulators),
    )
    return (
        f"{config.path}: OK: simulators {', '.join(config.simulators)}; {n_couplings} coupling(s), "
        f"{n_reports} report(s); {config.run.tstop_ms:g} ms at dt {config.run.dt_ms:g} ms; {ranks} rank(s)"
        + warnings
    )
