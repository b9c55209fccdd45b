"""The cross-field rules of a config that its schema cannot say, and the checks of the newer ones.

:data:`RULES` is the list ``msr check`` enforces (rendered into docs/config-reference.md; each has
a case in ``tests/unit/test_reliability_corpus.py``). :func:`rule_problems` checks the rules on
report windows, report names, value-check bounds, the output folder and optional packages; the
others live in
:mod:`multiscale_run.validation` and :mod:`multiscale_run.config.file_probes`.
"""

from __future__ import annotations

from multiscale_run.config.model import Config
from multiscale_run.config.problems import Problem

#: (id, rule) — every rule ``msr check`` enforces beyond the schema.
RULES: tuple[tuple[str, str], ...] = (
    (
        "strict-json",
        "Numbers are finite: `NaN`, `Infinity` and `-Infinity` are refused with their JSON path.",
    ),
    ("tstop-multiple", "`run.tstop` is a whole multiple of `run.dt`."),
    ("files-exist", "The circuit config, node sets file and every `inputs.*.*_file` exist."),
    (
        "files-readable",
        "Every file the run opens is readable as what it should be: the circuit config (JSON, "
        "read by libsonata), every nodes and edges file (HDF5 with its population), the node sets "
        "(node ids non-negative integers), the simulated cells' morphologies, the STEPS mesh when "
        "it exists, every spike input (SONATA spikes), the mod files (each declares a mechanism).",
    ),
    (
        "ascii-paths",
        "With NEURON enabled, the paths NEURON opens (cache folder, mod folder, morphologies) are "
        "ASCII: NEURON's hoc cannot decode other characters. Spaces are fine.",
    ),
    ("node-sets", "`node_set` and every report's `node_set` name a node set of the node sets file."),
    (
        "inputs-conditions",
        "Every input is of a supported `input_type`/`module` with the parameters SONATA defines "
        "for it (required ones present, values in range; a seclamp's `voltage_levels` and "
        "`duration_levels` of one length); the targets of a relative clamp have the "
        "`threshold_current`/`holding_current` (conductance mode: `input_resistance`) it reads; "
        "a conductance input finds `msr_gclamp`; `conditions.modifications` and "
        "`connection_overrides` are of supported kinds with valid parameters and node sets, "
        "TTX finds TTXDynamicsSwitch and channels that read ttx, `section` indices and "
        "compartment sets fit the targets' morphologies (docs/circuits.md).",
    ),
    ("some-simulator", "At least one simulator is enabled."),
    (
        "simulator-available",
        "Every enabled simulator can run here: its adapter imports, STEPS is installed for the "
        "`TetOpSplit` and `Tetexact` solvers, juliacall for the metabolism `julia` backend.",
    ),
    ("coupling-endpoints", "A coupling's `src` and `dest` are enabled simulators."),
    (
        "coupling-variables",
        "A coupling's variables exist; `dest_variable` (and a merge's `src_variable`) is writable.",
    ),
    ("coupling-operator", "A coupling's operator exists and maps the source's space to the destination's."),
    ("merge-writeback", "A merge's operator has a write-back; a merge has no transform."),
    (
        "transform-safe",
        "A transform is a safe expression (numbers, `vals`, `dt_ms`, arithmetic, comparisons, the "
        "listed functions and constants) of at most 4000 characters nested at most 40 levels.",
    ),
    (
        "transform-finite",
        "A transform evaluates to finite values on the source variable's initial value and on "
        "every bound a value check declares for it; the condition of `a if c else b` is one value.",
    ),
    ("coupling-period", "A coupling's `ndts` is a multiple of its destination's `ndts`."),
    ("report-variable", "A report's variable exists in its simulator."),
    ("report-period", "A report's `dt_ms` is a multiple of its simulator's dt."),
    ("report-operator", "A report's operator exists and reads the variable's space (`soma`: neuron only)."),
    (
        "report-window",
        "A report's window lies in [0, tstop] and is ordered: `start_ms` < tstop, and an `end_ms` "
        "other than -1 is above `start_ms` and at most tstop.",
    ),
    ("report-names", "Report names are unique over all simulators (each is the file `<name>.h5`)."),
    ("check-simulator", "A value check's simulator is enabled and its variable exists."),
    (
        "check-bounds",
        "A value check has at least one bound, and its bounds can hold together: the lower bound "
        "(`lb` or `leb`) is below the upper one (`hb` or `heb`; equal only for `leb` with `heb`).",
    ),
    ("output-dir", "`output.output_dir` is a folder or does not exist yet (not a file)."),
    ("ranks", "With NEURON, there are at most as many MPI ranks as simulated cells."),
    (
        "nvc-circuit",
        "With `nvc` enabled, the circuit holds one astrocyte population and one endfoot edge population "
        "(or the named ones) from those astrocytes to a vasculature, each endfoot naming the "
        "section/segment ids of the vessel segment it targets.",
    ),
)


def _report_windows(config: Config, problems: list[Problem]) -> None:
    tstop = config.run.tstop_ms
    seen: dict[str, str] = {}
    for sim in config.simulators:
        for i, rep in enumerate(config.simulator(sim).get("reports", [])):
            at = f"multiscale_run.{sim}.reports[{i}]"
            start, end = float(rep.get("start_ms", 0.0)), float(rep.get("end_ms", -1.0))
            if start >= tstop:
                problems.append(
                    config.problem(
                        f"{at}.start_ms", f"the report starts at {start:g} ms, not before tstop {tstop:g} ms"
                    )
                )
            if end != -1 and not start < end <= tstop:
                problems.append(
                    config.problem(
                        f"{at}.end_ms",
                        f"the report window [{start:g}, {end:g}) ms is not ordered within [0, {tstop:g}]",
                        f"-1 (tstop) or a time above start_ms {start:g} and at most tstop {tstop:g}",
                    )
                )
            name = rep.get("name", "")
            if name in seen:
                problems.append(
                    config.problem(
                        f"{at}.name",
                        f"report name {name!r} is already used by {seen[name]}: both would write {name}.h5",
                        "a unique report name",
                    )
                )
            seen.setdefault(name, at)


def _check_bounds(config: Config, problems: list[Problem]) -> None:
    for i, chk in enumerate(config.checks):
        lows = [(k, chk[k]) for k in ("lb", "leb") if k in chk]
        highs = [(k, chk[k]) for k in ("hb", "heb") if k in chk]
        for low_key, low in lows:
            for high_key, high in highs:
                inclusive = low_key == "leb" and high_key == "heb"
                if low > high or (low == high and not inclusive):
                    problems.append(
                        config.problem(
                            f"multiscale_run.checks[{i}].{low_key}",
                            f"no value can satisfy {low_key} {low:g} and {high_key} {high:g}",
                            f"{low_key} below {high_key}",
                        )
                    )


def _output_dir(config: Config, problems: list[Problem]) -> None:
    out = config.output_dir
    if out.exists() and not out.is_dir():
        problems.append(
            config.problem(
                "output.output_dir", f"{out} is a file", "a folder, or a path that does not exist yet"
            )
        )


def rule_problems(config: Config) -> list[Problem]:
    """Problems with report windows and names, value-check bounds and the output folder."""
    problems: list[Problem] = []
    _report_windows(config, problems)
    _check_bounds(config, problems)
    _output_dir(config, problems)
    return problems
