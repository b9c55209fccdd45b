"""``msr init``: write a complete, runnable simulation folder.

With no circuit given it generates the embedded default: a small layered cortical column
(neurons with morphologies, synapses, inputs) with a vascular network, the simulation config
(SONATA keys from ``templates/simulation_config.json``, the ``multiscale_run`` section from
``templates/multiscale_run.json``), an sbatch script and the post-processing notebook. The
NEURON mechanisms are compiled on first ``msr compute`` and cached in the folder.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from multiscale_run import __version__
from multiscale_run.errors import UserError
from multiscale_run.resources import data_path

log = logging.getLogger(__name__)

CONFIG_NAME = "simulation_config.json"


def _template(name: str) -> dict:
    return json.loads((data_path("templates") / name).read_text())


def _existing_circuit(circuit: Path) -> str:
    """The absolute network path of a user-given SONATA circuit config (checked to be one)."""
    try:
        data = json.loads(circuit.read_text())
    except ValueError as exc:
        raise UserError(f"not valid JSON: {exc}", str(circuit)) from None
    if not isinstance(data, dict) or "networks" not in data:
        raise UserError("not a SONATA circuit config (no networks section)", str(circuit), "networks")
    return str(circuit.resolve())


def _has_endfeet(circuit: Path) -> bool:
    """Whether a SONATA circuit holds the astrocytes and endfeet the nvc simulator reads."""
    from multiscale_run.circuit.ngv import read_astrocytes, read_endfeet

    try:
        read_endfeet(circuit)
        read_astrocytes(circuit)
    except Exception:  # the reader's and libsonata's errors alike: not an NGV circuit
        return False
    return True


def enabled_simulators(enable: dict[str, bool | None]) -> dict[str, bool]:
    """Which simulators a new simulation runs: as asked (``None``: not asked), else as the switch
    it follows, else its registry default."""
    from multiscale_run.simulators import catalogue

    enabled: dict[str, bool] = {}
    specs = catalogue.specs()
    for spec in sorted(specs, key=lambda s: s.init_follows is not None):
        asked = enable.get(spec.name)
        if asked is None and spec.init_follows:
            asked = enabled[spec.init_follows]
        enabled[spec.name] = asked if asked is not None else spec.init_default is not False
    return {spec.name: enabled[spec.name] for spec in specs}


def init_simulation(
    directory: Path,
    neurons: int = 50,
    circuit: Path | None = None,
    seed: int = 1,
    force: bool = False,
    enable: dict[str, bool] | None = None,
    tstop: float | None = None,
    nodes: int = 1,
    ntasks: int = 4,
    time_limit: str = "01:00:00",
    account: str | None = None,
    partition: str | None = None,
) -> Path:
    """Write a simulation into ``directory``; returns the path of its simulation_config.json.

    ``enable`` switches simulators on or off by name; the others keep their registry default
    (``SimulatorSpec.init_default``; simulators without one are always on).
    """
    from multiscale_run.simulators import catalogue

    unknown = set(enable or {}) - set(catalogue.names())
    if unknown:
        raise UserError(f"unknown simulators {sorted(unknown)}", "msr init")
    directory = Path(directory)
    config_path = directory / CONFIG_NAME
    if config_path.exists() and not force:
        raise UserError("already holds a simulation (use --force to overwrite it)", str(config_path))
    directory.mkdir(parents=True, exist_ok=True)

    config = _template(CONFIG_NAME)
    enabled = enabled_simulators(enable or {})
    if circuit is None:
        from multiscale_run.circuit.default import build_default_circuit
        from multiscale_run.circuit.vasculature import build_vasculature

        built = build_default_circuit(directory / "circuit", n_neurons=neurons, seed=seed)
        build_vasculature(directory / "circuit", built.bounding_box_um, seed=seed)
        if enabled["nvc"]:
            from multiscale_run.circuit.ngv_generation import build_ngv

            build_ngv(directory / "circuit", seed=seed)
        config["network"] = str(Path(built.circuit_config).resolve().relative_to(directory.resolve()))
        config["node_sets_file"] = str(Path(built.node_sets_file).resolve().relative_to(directory.resolve()))
        config["node_set"] = built.node_set
        config["inputs"] = built.inputs_relative_to(directory.resolve())
    else:
        config["network"] = _existing_circuit(circuit)
        if enabled["nvc"] and (enable or {}).get("nvc") is None and not _has_endfeet(circuit):
            log.info("%s has no astrocytes and endfeet: neurovascular coupling stays off", circuit)
            enabled["nvc"] = False
        config["inputs"] = {}
        config.pop("node_sets_file", None)
        config.pop("node_set", None)
    if tstop is not None:
        config["run"]["tstop"] = tstop

    msr = _template("multiscale_run.json")
    msr["version"] = __version__
    for name, on in enabled.items():
        msr.setdefault(name, {})["enabled"] = on
    # The template couples all four simulators; keep what joins the enabled ones through an
    # operator they can build (the vessel-to-neuron operators pass through the STEPS mesh).
    from multiscale_run.coupling.operator_specs import OPERATORS

    on = {name for name, value in enabled.items() if value}

    def servable(entry: dict) -> bool:
        op = OPERATORS.get(entry.get("operator") or "identity")
        return op is None or op.missing_geometry(on) is None

    # a template coupling with "init_unless" stands in for another path that simulator serves
    # (NEURON's K+ currents drive NVC only when STEPS, which holds the K+ they release, is off)
    msr["couplings"] = [
        {k: v for k, v in c.items() if k != "init_unless"}
        for c in msr["couplings"]
        if enabled[c["src"]] and enabled[c["dest"]] and servable(c) and not enabled.get(c.get("init_unless"))
    ]
    # a template report with "init_needs" is written only with that simulator on (F_in moves
    # only with blood flow)
    for name in enabled:
        msr[name]["reports"] = [
            {k: v for k, v in r.items() if k != "init_needs"}
            for r in msr[name].get("reports", [])
            if servable(r) and enabled.get(r.get("init_needs", name), True)
        ]
    msr["checks"] = [c for c in msr["checks"] if enabled[c["simulator"]]]
    config["multiscale_run"] = msr
    # SONATA readers (bluepysnap, libsonata) see only the reports listed in the top-level section.
    from multiscale_run.output.sonata_section import sonata_reports

    config["reports"] = sonata_reports(config)
    config_path.write_text(json.dumps(config, indent=2) + "\n")

    from multiscale_run.sbatch import SpacedPathError, write_sbatch

    try:
        write_sbatch(
            directory, nodes=nodes, ntasks=ntasks, time=time_limit, account=account, partition=partition
        )
    except SpacedPathError as exc:
        log.warning("no sbatch script written: %s", exc)
    shutil.copyfile(data_path("templates") / "postproc.ipynb", directory / "postproc.ipynb")
    log.info("wrote a simulation of %s neurons in %s", neurons if circuit is None else "the given", directory)
    return config_path
