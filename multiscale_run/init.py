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


def _existing_circuit(circuit: Path) -> tuple[str, dict]:
    """(absolute circuit config path, SONATA simulation settings to adopt) of a user-given
    circuit config, or of a SONATA simulation config (its ``network``, ``run``, ``conditions``,
    ``inputs``, ``connection_overrides``, ``node_set``, ``node_sets_file`` and
    ``compartment_sets_file``, paths made
    absolute)."""
    from multiscale_run.circuit.sonata import read_config

    try:
        data = json.loads(circuit.read_text())
    except ValueError as exc:
        raise UserError(f"not valid JSON: {exc}", str(circuit)) from None
    if isinstance(data, dict) and "networks" in data:
        return str(circuit.resolve()), {}
    if not isinstance(data, dict) or not isinstance(data.get("network"), str):
        raise UserError(
            "neither a SONATA circuit config (networks) nor a simulation config (network)",
            str(circuit),
            "networks",
        )
    sim = read_config(circuit)
    network = Path(sim["network"])
    network = network if network.is_absolute() else (circuit.parent / network).resolve()
    if not network.is_file():
        raise UserError(f"circuit config {network} not found", str(circuit), "network")
    keys = (
        "run", "conditions", "inputs", "connection_overrides", "node_set", "node_sets_file",
        "compartment_sets_file",
    )  # fmt: skip
    adopted = {k: sim[k] for k in keys if k in sim}
    return str(network), adopted


def _adopt(config: dict, sim: dict, neuron_ndts: int) -> None:
    """Take a SONATA simulation config's settings into ``config`` (NEURON's dt = its ``run.dt``)."""
    run = sim.get("run", {})
    seeds = ("random_seed", "stimulus_seed", "synapse_seed", "minis_seed")
    taken = ("tstop", "spike_threshold", *seeds, "dL")
    for key in taken:
        if key in run:
            config["run"][key] = run[key]
    left = sorted(set(run) - {*taken, "dt"})
    if left:
        log.warning("the simulation config's run.%s not taken (msr does not use them)", ", run.".join(left))
    if "dt" in run:
        config["run"]["dt"] = float(run["dt"]) / neuron_ndts
    conditions = sim.get("conditions", {})
    if "spike_threshold" in conditions and "spike_threshold" not in run:
        config["run"]["spike_threshold"] = conditions["spike_threshold"]
    # SONATA's defaults where the config is silent
    config["conditions"] = {
        "celsius": conditions.get("celsius", 34.0),
        "v_init": conditions.get("v_init", -80.0),
    }
    kept = (
        "modifications",
        "randomize_gaba_rise_time",
        "extracellular_calcium",
        "mechanisms",
        "spike_location",
    )
    for key in kept:
        if key in conditions:
            config["conditions"][key] = conditions[key]
    left = sorted(set(conditions) - {*kept, "celsius", "v_init", "spike_threshold"})
    if left:
        log.warning(
            "the simulation config's conditions.%s not taken (msr does not use them)",
            ", conditions.".join(left),
        )
    config["inputs"] = sim.get("inputs", {})
    for key in ("connection_overrides", "node_set", "node_sets_file", "compartment_sets_file"):
        if key in sim:
            config[key] = sim[key]


def _keep_servable(config: dict, config_path: Path) -> None:
    """Insert msr's homeostasis (``neuron.homeostasis``) into the circuit's cells when a coupling
    needs a concentration they do not serve, then drop the couplings and NEURON reports that
    still cannot be served (no mechanism uses or writes them), saying which and how to fix it."""
    from multiscale_run.config import load
    from multiscale_run.validation.neuron_circuit import SERVE_FIX, cell_mechanisms, unserved

    found = cell_mechanisms(load(config_path), [])
    if found is None:
        return
    msr = config["multiscale_run"]
    couples = [c for c in msr["couplings"] if "neuron" in (c["src"], c["dest"])]
    if any(_unserved_end(c, found) for c in couples):
        # the circuit's cells lack msr's homeostasis: insert it (docs/circuits.md)
        msr["neuron"]["homeostasis"] = True
        config_path.write_text(json.dumps(config, indent=2) + "\n")
        found = cell_mechanisms(load(config_path), [])
        log.warning(
            "the circuit's cells get msr's Na+/K+ homeostasis (neuron.homeostasis: true) for the "
            "metabolism couplings; their ena/ek stay as the cell models set them"
        )
    kept = []
    for c in msr["couplings"]:
        why = _unserved_end(c, found)
        if why:
            log.warning("coupling %r left out: %s; to couple it: %s", c["name"], why, SERVE_FIX)
        else:
            kept.append(c)
    msr["couplings"] = kept
    reports = []
    for r in msr["neuron"].get("reports", []):
        why = unserved(r["variable"], True, *found)
        if why:
            log.warning("neuron report %r left out: %s", r["name"], why)
        else:
            reports.append(r)
    msr["neuron"]["reports"] = reports
    from multiscale_run.output.sonata_section import sonata_reports

    config["reports"] = sonata_reports(config)
    config_path.write_text(json.dumps(config, indent=2) + "\n")


def _unserved_end(coupling: dict, found: tuple[dict, dict]) -> str | None:
    """Why the circuit's cells cannot serve a NEURON end of ``coupling`` (None: they can)."""
    from multiscale_run.validation.neuron_circuit import unserved

    for end in ("src", "dest"):
        if coupling[end] == "neuron":
            why = unserved(coupling[f"{end}_variable"], end == "src", *found)
            if why:
                return why
    return None


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
    circuit_mod_dir: Path | None = None,
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
        config["network"], adopted = _existing_circuit(circuit)
        network = Path(config["network"])
        if enabled["nvc"] and (enable or {}).get("nvc") is None and not _has_endfeet(network):
            log.info("%s has no astrocytes and endfeet: neurovascular coupling stays off", network)
            enabled["nvc"] = False
        config["inputs"] = {}
        config.pop("node_sets_file", None)
        config.pop("node_set", None)
        _adopt(config, adopted, _template("multiscale_run.json")["neuron"]["ndts"])
    if tstop is not None:
        config["run"]["tstop"] = tstop

    msr = _template("multiscale_run.json")
    msr["version"] = __version__
    for name, on in enabled.items():
        msr.setdefault(name, {})["enabled"] = on
    if circuit_mod_dir is not None:
        msr["neuron"]["circuit_mod_dir"] = str(Path(circuit_mod_dir).resolve())
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
    if circuit is not None:
        _keep_servable(config, config_path)

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
