"""Semantic checks of a schema-valid config (what ``msr check`` and ``msr compute`` run): every
problem is collected, none stops the others. This layer sits above the config and the adapters:
it asks the simulator registry for declared variables and reads the circuit and the mesh.

What is checked: files exist; tstop and every period are whole multiples of the right dt;
node sets exist; coupling and report endpoints, variables and operators exist and their
element spaces match; a merge can write back to its source; transforms are safe expressions
that compute on their source's values; value checks name real variables; metabolism overrides
name J15 parameters and states; the MPI rank count suits the circuit
(:mod:`multiscale_run.validation.circuit`). The files the run opens are probed by
:mod:`multiscale_run.config.file_probes`, the other cross-field rules (report windows and names,
bounds, output folder) are in :mod:`multiscale_run.config.rules`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from multiscale_run.config.file_probes import file_problems
from multiscale_run.config.model import Config
from multiscale_run.config.problems import Problem
from multiscale_run.config.rules import rule_problems
from multiscale_run.errors import UserError
from multiscale_run.validation.circuit import check_mesh_coverage, check_ngv, check_ranks
from multiscale_run.validation.couplings import check_constraints, check_couplings
from multiscale_run.validation.neuron_circuit import check_neuron_circuit
from multiscale_run.validation.variables import check_variable, declared_variables

log = logging.getLogger(__name__)

_TOL = 1e-9


def _is_multiple(value: float, step: float) -> bool:
    ratio = value / step
    return abs(ratio - round(ratio)) < _TOL * max(1.0, abs(ratio))


def _node_sets(config: Config, problems: list[Problem]) -> dict | None:
    """The node sets file's rules (None without a readable file: a problem says why), read by the
    run's one reader (:func:`multiscale_run.circuit.node_sets.read_node_sets`)."""
    from multiscale_run.circuit.node_sets import read_node_sets

    path = config.node_sets_file
    where = "node_sets_file" if "node_sets_file" in config.data else "network"
    if path is None:
        return None
    try:
        return read_node_sets(path, str(config.path), where)
    except UserError as exc:
        problems.append(config.problem(where, exc.message))
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


def _check_reports(config, variables, node_sets, problems):
    from multiscale_run.coupling.operator_specs import OPERATORS

    for sim in config.simulators:
        sim_dt = config.dt_ms(sim)
        for i, rep in enumerate(config.simulator(sim).get("reports", [])):
            at = f"multiscale_run.{sim}.reports[{i}]"
            var = check_variable(config, variables, sim, rep["variable"], f"{at}.variable", problems)
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
            if rep.get("population") and var is not None:
                _check_report_population(config, rep, var.space, f"{at}.population", problems)


def _check_report_population(config: Config, rep: dict, space, where: str, problems: list[Problem]) -> None:
    """``population`` names only the group of a per-tet, per-vessel or per-endfoot report: a
    neuron or segment report holds one group per population of its cells, named after it."""
    from multiscale_run.output.report_spaces import report_operator, report_space
    from multiscale_run.spaces import Space

    if report_space(report_operator(rep, space), space) in (Space.NEURON, Space.SEGMENT):
        problems.append(
            config.problem(
                where,
                f"population {rep['population']!r} on a neuron or segment report: its groups are "
                "named after the populations of its cells",
                "no population (choose the cells with node_set)",
            )
        )


def _check_sonata_reports(config: Config, problems: list[Problem]) -> None:
    """The top-level SONATA ``reports`` section must declare the multiscale_run reports as they are:
    ``msr init`` writes it, and an edit of a report, of tstop or of an enabled flag makes it stale
    (bluepysnap would then show wrong windows or files that are never written). One problem for
    the whole section, since one command fixes it."""
    from multiscale_run.output.sonata_section import stale_reports

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
            f"regenerate it with: python -m multiscale_run.output.sonata_section {config.path}",
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
        check_variable(config, variables, chk["simulator"], chk["variable"], f"{at}.variable", problems)
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


def uncheckpointable(config: Config) -> list[str]:
    """The enabled simulators whose adapter cannot save its state (no snapshots for the run)."""
    from multiscale_run.simulators import catalogue
    from multiscale_run.simulators.base import checkpointable

    return [name for name in config.simulators if not checkpointable(catalogue.spec(name).adapter_class())]


def _check_checkpoints(config: Config, problems: list[Problem], warnings: bool) -> None:
    """A simulated-time snapshot interval asked of a run with a simulator that cannot be
    checkpointed is an error; the wall-time safety net and the snapshots at the end and on a
    signal (on by default) are then skipped: a warning."""
    unable = uncheckpointable(config)
    if not unable:
        return
    section = config.msr["checkpoints"]
    asked = [k for k in ("every_ms",) if section[k]]
    default = [k for k in ("every_minutes", "at_end", "on_signal") if section[k]]
    if asked and not warnings:
        problems.append(
            config.problem(
                f"multiscale_run.checkpoints.{asked[0]}",
                f"simulator {unable[0]} cannot be checkpointed (its adapter has no save_state)",
                "no snapshot interval, or simulators that implement save_state/restore_state",
            )
        )
    elif default and warnings:
        problems.append(
            config.problem(
                f"multiscale_run.checkpoints.{default[0]}",
                f"simulator {unable[0]} cannot be checkpointed: this run takes no snapshot",
            )
        )


def semantic_problems(config: Config, ranks: int = 1) -> list[Problem]:
    """Every semantic problem of a schema-valid config."""
    problems: list[Problem] = []
    _check_files(config, problems)
    unreadable = file_problems(config)
    problems.extend(unreadable + rule_problems(config))
    if not unreadable:
        check_neuron_circuit(config, problems)
    node_sets = _node_sets(config, problems)
    _check_node_set(config, node_sets, config.node_set or "", "node_set", problems)
    from multiscale_run.simulators import catalogue

    if not config.simulators:
        problems.append(
            config.problem(
                "multiscale_run",
                "no simulator is enabled",
                f"at least one of {', '.join(catalogue.names())} enabled",
            )
        )
    order = config.msr["order"]
    for name in catalogue.names():
        if config.enabled(name) and name not in order:
            problems.append(
                config.problem(
                    "multiscale_run.order",
                    f"the enabled simulator {name} is not in the advance order",
                    f"an order listing {name}",
                )
            )
    _check_libraries(config, problems)
    variables = declared_variables(config, problems)
    check_couplings(config, variables, problems)
    _check_reports(config, variables, node_sets, problems)
    _check_value_checks(config, variables, problems)
    _check_metabolism_names(config, problems)
    _check_checkpoints(config, problems, warnings=False)
    check_ranks(config, ranks, problems)
    check_ngv(config, problems)
    return problems


def semantic_warnings(config: Config) -> list[Problem]:
    """What deserves a fix but does not stop a run: a stale SONATA reports section (it only misleads
    SONATA readers; multiscale_run writes its reports from its own section), neurons outside an
    existing mesh, an operator whose constraint does not suit the quantity's kind."""
    warnings: list[Problem] = []
    _check_sonata_reports(config, warnings)
    check_mesh_coverage(config, warnings)
    check_constraints(config, warnings)
    _check_checkpoints(config, warnings, warnings=True)
    return warnings


def check_simulation(directory: Path | str, ranks: int | None = None) -> str:
    """Validate the config of a simulation folder (or file); raise ConfigError listing every problem.

    Returns a one-line summary when all is well.
    """
    from multiscale_run.config.model import load
    from multiscale_run.config.problems import ConfigError

    config = load(directory)
    if ranks is None:
        from multiscale_run.parallel import Parallel

        ranks = Parallel().size
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
