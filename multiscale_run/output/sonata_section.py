"""The SONATA ``reports`` section that declares multiscale-run's per-neuron reports to SONATA readers.

multiscale-run configures its reports in ``multiscale_run.<simulator>.reports`` (docs/reports.md);
SONATA readers (bluepysnap's ``Simulation.reports``, libsonata's ``SimulationConfig.report``) only
know the reports listed in the top-level ``reports`` section. :func:`sonata_reports` derives that
section from the multiscale-run entries, so that ``msr init`` writes it and ``msr check`` can tell
when it went stale after an edit.

Keys follow the SONATA simulation-config spec (BlueBrain/sonata-extension,
``source/sonata_simulation.rst``, section "reports"): ``type``, ``sections``, ``compartments``,
``variable_name``, ``unit``, ``dt``, ``start_time``, ``end_time`` (mandatory in libsonata),
``file_name`` (relative to ``output.output_dir``) and ``cells`` (a node set). Per-neuron reports
(one element per neuron: ``soma``, an operator to neurons, or a metabolism variable) become
``compartment`` reports of ``sections: soma``, which bluepysnap opens as ``SomaReport``; per-segment
reports (a NEURON variable with ``operator: identity``) become ``sections: all`` (bluepysnap's
``CompartmentReport``). Per-tet and per-vessel reports are left out: their populations (``tets``,
``vasculature``) are not neuron populations that a SONATA report of cells can name.

``unit`` is always written: libsonata reads an absent unit as ``mV``.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import sys
from collections.abc import Mapping
from pathlib import Path

from multiscale_run.output.report_spaces import report_operator, report_space
from multiscale_run.spaces import Space

log = logging.getLogger(__name__)


def _variable(simulator: str, section: dict, variable: str) -> tuple[Space, str]:
    """``(space, unit)`` of a simulator variable; the unit is empty when unknown, the space then
    the simulator's own (its registry entry) when its adapter cannot be imported to ask."""
    from multiscale_run.simulators import catalogue

    try:
        var = catalogue.declared_variables(simulator, section).get(variable)
    except ImportError:
        var = None
    if var is None:
        return catalogue.spec(simulator).space, ""
    return var.space, var.unit


def sonata_reports(config: Mapping) -> dict[str, dict]:
    """The SONATA ``reports`` section for a simulation config (a dict: SONATA keys + ``multiscale_run``).

    One entry per report of an enabled simulator whose elements are neurons or segments, keyed by
    the report name; ``dt``, ``start_time`` and ``end_time`` in ms are those the report file's
    ``mapping/time`` will hold (the window of :func:`multiscale_run.output.report_window`).
    Pure: reads nothing but the packaged schema and the adapters' declared variables.
    """
    from multiscale_run.config.schema import fill_defaults
    from multiscale_run.output import report_window

    data = fill_defaults(copy.deepcopy(dict(config)))
    run, msr = data["run"], data["multiscale_run"]
    run_dt_ms, tstop_ms = float(run["dt"]), float(run["tstop"])
    out: dict[str, dict] = {}
    for simulator in msr["order"]:
        section = msr.get(simulator, {})
        if not section.get("enabled", False):
            continue
        simulator_dt_ms = section["ndts"] * run_dt_ms
        for rep in section.get("reports", []):
            variable_space, variable_unit = _variable(simulator, section, rep["variable"])
            space = report_space(report_operator(rep, variable_space), variable_space)
            if space is Space.NEURON:
                shape = {"type": "compartment", "sections": "soma", "compartments": "center"}
            elif space is Space.SEGMENT:
                shape = {"type": "compartment", "sections": "all", "compartments": "all"}
            else:
                continue
            start_ms, end_ms, dt_ms = report_window(rep, simulator_dt_ms, tstop_ms)
            entry = {
                **shape,
                "variable_name": rep["variable"],
                "unit": rep.get("unit") or variable_unit,
                "dt": dt_ms,
                "start_time": start_ms,
                "end_time": end_ms,
                "file_name": f"{rep['name']}.h5",
            }
            cells = rep.get("node_set") or data.get("node_set")
            if cells:
                entry["cells"] = cells
            out[rep["name"]] = entry
    return out


def _same(a, b) -> bool:
    """Equal JSON values, numbers compared to float precision (a hand-edited 200 equals 200.0)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def stale_reports(config: Mapping) -> dict[str, tuple[dict | None, dict | None]]:
    """Reports where the config's top-level ``reports`` section disagrees with :func:`sonata_reports`.

    Maps a report name to ``(written, expected)`` (``None`` for a missing side). An absent or empty
    section is not stale: the config just does not declare its reports to SONATA readers.
    """
    written = config.get("reports") or {}
    if not written:
        return {}
    expected = sonata_reports(config)
    return {
        name: (written.get(name), expected.get(name))
        for name in sorted(set(written) | set(expected))
        if not _same(written.get(name), expected.get(name))
    }


def update_config_file(path: str | Path) -> dict[str, dict]:
    """Rewrite the ``reports`` section of a simulation_config.json (file or folder); returns it."""
    path = Path(path)
    if path.is_dir():
        path = path / "simulation_config.json"
    data = json.loads(path.read_text())
    data["reports"] = sonata_reports(data)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return data["reports"]


if __name__ == "__main__":  # python -m multiscale_run.output.sonata_section SIMULATION_DIR_OR_CONFIG
    if len(sys.argv) != 2:
        sys.exit("usage: python -m multiscale_run.output.sonata_section SIMULATION_DIR_OR_CONFIG")
    section = update_config_file(sys.argv[1])
    print(f"wrote {len(section)} report(s) in the reports section of {sys.argv[1]}")
