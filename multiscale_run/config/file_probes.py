"""``msr check`` opens every file the run will open, so that a missing or broken one is named
before the run, with the file and the key that names it.

Probed: the circuit config (JSON, then libsonata), every nodes and edges file (HDF5 holding its
populations), the morphology of every simulated cell, each SONATA spike input, the STEPS mesh
when it exists, and the NEURON mechanisms (compiled into the cache folder, where the run finds
them). Paths NEURON opens must be ASCII
(its hoc interpreter cannot decode other characters; spaces are fine). The node sets file is
read by :func:`multiscale_run.nodes.read_node_sets` (the run's one reader), whose errors the
semantic checks report.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from multiscale_run import mod_files
from multiscale_run.config import loader
from multiscale_run.config.model import Config
from multiscale_run.config.problems import ConfigError, Problem
from multiscale_run.errors import UserError

log = logging.getLogger(__name__)


def _short(exc: BaseException) -> str:
    """The first line of a library's message (h5py and libsonata add pages of context)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _h5_problem(path: Path, group: str, populations: list[str]) -> str | None:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if group not in f:
                return f"{path} has no /{group} group"
            missing = [p for p in populations if p not in f[group]]
            return f"{path} lacks population(s) {', '.join(missing)} in /{group}" if missing else None
    except OSError as exc:
        return f"cannot open {path} as HDF5: {_short(exc)}"


def _circuit(config: Config, problems: list[Problem]):
    """The parsed circuit (libsonata), after probing every nodes and edges file it lists."""
    import libsonata

    path = config.circuit_config
    if not path.is_file():
        return None  # checks.py reports it at "network"
    try:
        raw = loader.load_raw(path)
    except ConfigError as exc:
        problems.extend(
            Problem(
                str(config.path), "network", f"circuit config {p.file}: {p.path or ''} {p.message}".strip()
            )
            for p in exc.problems
        )
        return None
    _population_files(path, "components", raw.get("components", {}), problems)
    networks = raw.get("networks", {}) if isinstance(raw, dict) else {}
    for kind, key in (("nodes", "nodes_file"), ("edges", "edges_file")):
        for i, entry in enumerate(networks.get(kind, []) if isinstance(networks, dict) else []):
            file = entry.get(key) if isinstance(entry, dict) else None
            if not file:
                continue
            where = f"networks.{kind}[{i}].{key}"
            populations = entry.get("populations", {})
            if not isinstance(populations, dict):
                problems.append(
                    Problem(
                        str(path), f"networks.{kind}[{i}].populations", "must be an object", "{name: {...}}"
                    )
                )
                continue
            if not Path(file).is_file():
                problems.append(Problem(str(path), where, f"file not found: {file}", "an existing HDF5 file"))
                continue
            message = _h5_problem(Path(file), kind, sorted(populations))
            if message:
                problems.append(Problem(str(path), where, message))
            for name, props in populations.items():
                _population_files(path, f"networks.{kind}[{i}].populations.{name}", props, problems)
    if problems:
        return None
    try:
        return libsonata.CircuitConfig.from_file(str(path))
    except Exception as exc:  # libsonata raises SonataError (a RuntimeError) or others
        problems.append(Problem(str(path), "", f"libsonata cannot read the circuit config: {_short(exc)}"))
        return None


def _population_files(circuit: Path, where: str, props: dict, problems: list[Problem]) -> None:
    """A population's own files and folders (vasculature morphology, morphologies, emodels)."""
    for key, value in props.items() if isinstance(props, dict) else ():
        if not isinstance(value, str) or not loader.is_path_key(key):
            continue
        target = Path(value)
        if key.endswith("_dir") and not target.is_dir():
            problems.append(Problem(str(circuit), f"{where}.{key}", f"folder not found: {target}"))
        elif key.endswith("_file") and not target.is_file():
            problems.append(Problem(str(circuit), f"{where}.{key}", f"file not found: {target}"))
        elif key.endswith("_file") and target.suffix == ".h5" and (message := _h5_problem(target, "/", [])):
            problems.append(Problem(str(circuit), f"{where}.{key}", message))


def _morphologies(config: Config, circuit, problems: list[Problem]) -> None:
    from multiscale_run.circuit.sonata import Circuit
    from multiscale_run.nodes import simulated_nodes

    try:
        selection = simulated_nodes(config)
    except UserError as exc:
        problems.append(config.problem("node_set" if config.node_set else "network", exc.message))
        return
    except Exception as exc:  # a missing or unknown node set: checks.py names it
        log.debug("cannot choose the simulated cells: %s", exc)
        return
    circuit = Circuit(config.circuit_config)
    for population, ids in selection.node_ids.items():
        _population_morphologies(config, circuit.node_population(population), ids, problems)


def _population_morphologies(config: Config, pop, ids, problems: list[Problem]) -> None:
    """Every morphology file of nodes ``ids`` of ``pop`` is in its morphology folders."""
    props = pop.properties
    alternate = props.get("alternate_morphologies") or {}
    dirs = [Path(d) for d in (props.get("morphologies_dir"), *alternate.values()) if d]
    if "morphology" not in pop.attribute_names:
        return  # cells from templates that load their own morphology
    names = sorted({str(name) for name in pop.get("morphology", ids) if name is not None})
    missing = [
        name
        for name in names
        if not any(
            (d / (name if Path(name).suffix else f"{name}{ext}")).is_file()
            for d in dirs
            for ext in (".swc", ".h5", ".asc")
        )
    ]
    if missing:
        problems.append(
            Problem(
                str(config.circuit_config),
                "components.morphologies_dir",
                f"{len(missing)} morphology file(s) of the simulated cells not found (e.g. {missing[0]!r} "
                f"of population {pop.name}) "
                f"in {', '.join(map(str, dirs)) or '(no morphologies_dir)'}",
            )
        )


def _spike_inputs(config: Config, problems: list[Problem]) -> None:
    import libsonata

    for name, spec in config.inputs.items():
        file = spec.get("spike_file")
        if not isinstance(file, str) or not Path(file).is_file():
            continue
        try:
            reader = libsonata.SpikeReader(str(file))
            if not reader.get_population_names():
                raise ValueError("no /spikes population")
        except Exception as exc:
            problems.append(
                config.problem(
                    f"inputs.{name}.spike_file", f"cannot read {file} as SONATA spikes: {_short(exc)}"
                )
            )


def _mesh(config: Config, problems: list[Problem]) -> None:
    if not config.enabled("steps"):
        return
    section = config.simulator("steps")
    mesh_file = Path(section["mesh_file"])
    if not mesh_file.is_file():
        return  # generated by the run
    from multiscale_run.mesh import read_mesh

    try:
        read_mesh(mesh_file, section.get("mesh_scale_um", 1.0))
    except Exception as exc:
        problems.append(
            config.problem("multiscale_run.steps.mesh_file", f"cannot read mesh {mesh_file}: {_short(exc)}")
        )


def mod_dir(config: Config) -> Path:
    """The mechanisms NEURON loads (the rule of ``NeuronSim``: mod_dir, else DIR/mod, else shipped)."""
    from multiscale_run.mod_files import shipped_mod_dir

    value = config.simulator("neuron").get("mod_dir")
    if value:
        return Path(value)
    return config.base_dir / "mod" if (config.base_dir / "mod").is_dir() else shipped_mod_dir()


def run_mod_dirs(config: Config, components: dict) -> list[Path]:
    """The .mod folders NeuronSim compiles together: :func:`mod_dir`, then the circuit's own
    (``neuron.circuit_mod_dir``, else from the circuit's ``components.mechanisms_dir``)."""
    given = config.simulator("neuron").get("circuit_mod_dir")
    return mod_files.run_mod_dirs(
        mod_dir(config), components.get("mechanisms_dir"), Path(given) if given else None
    )


def _run_build_cached(config: Config) -> bool:
    """Whether the library NeuronSim loads is already built (its sources then translate)."""
    from multiscale_run.circuit.sonata import Circuit

    try:
        folders = run_mod_dirs(config, Circuit(config.circuit_config).components)
        return mod_files.build_dir(folders).is_dir()
    except (UserError, OSError):  # other checks name the circuit's problem
        return False


def _nocmodl() -> Path | None:
    """NEURON's NMODL translator (beside nrnivmodl, or inside the neuron wheel), found without
    importing NEURON."""
    import importlib.util
    import shutil

    found = shutil.which("nocmodl")
    if found:
        return Path(found)
    spec = importlib.util.find_spec("neuron")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / ".data" / "bin" / "nocmodl"
        if candidate.is_file():
            return candidate
    return None


_NMODL_COMMENTS = re.compile(r"COMMENT.*?ENDCOMMENT|VERBATIM.*?ENDVERBATIM|:[^\n]*", re.S)
_MECHANISM = re.compile(r"\b(?:SUFFIX|POINT_PROCESS|ARTIFICIAL_CELL)\s+\w+")


def _nmodl_structure(path: Path) -> str | None:
    """What nocmodl lets through but nrnivmodl or NEURON refuses: no mechanism, unbalanced
    braces, bytes that are not text."""
    try:
        text = _NMODL_COMMENTS.sub("", path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot read as text: {exc}"
    if "\0" in text:
        return "holds NUL bytes (not an NMODL text file)"
    if text.count("{") != text.count("}"):
        return f"unbalanced braces ({text.count('{')} opening, {text.count('}')} closing)"
    if not _MECHANISM.search(text):
        return "declares no mechanism (no NEURON block with SUFFIX, POINT_PROCESS or ARTIFICIAL_CELL)"
    return None


def _mechanisms(config: Config, problems: list[Problem]) -> None:
    """Every .mod file translates with nocmodl (the step of nrnivmodl where NMODL errors show);
    skipped when a compiled library of these files is already cached: of this folder alone, or
    the run's, with the circuit's mod files."""
    import subprocess
    import tempfile

    folder = mod_dir(config)
    where = "multiscale_run.neuron.mod_dir"
    if not folder.is_dir():
        problems.append(config.problem(where, f"mod folder not found: {folder}", "a folder of .mod files"))
        return
    try:
        files = mod_files.mod_files(folder)
        built = mod_files.build_dir(folder)
    except (UserError, OSError) as exc:
        problems.append(config.problem(where, str(exc), "a folder of .mod files"))
        return
    for path in files:
        if message := _nmodl_structure(path):
            problems.append(config.problem(where, f"{path}: {message}", "valid NMODL"))
    translator = _nocmodl()
    if problems or built.is_dir() or translator is None or _run_build_cached(config):
        return
    with tempfile.TemporaryDirectory(prefix="msr-check-mod-") as tmp:
        for path in files:
            copy = Path(tmp) / path.name
            copy.write_bytes(path.read_bytes())
            result = subprocess.run(
                [str(translator), copy.name], cwd=tmp, capture_output=True, text=True, check=False
            )
            if result.returncode != 0:
                output = (result.stdout + result.stderr).splitlines()
                errors = [line.strip() for line in output if re.search(r"error", line, re.I)]
                problems.append(
                    config.problem(
                        where,
                        f"{path} does not translate (nocmodl): " + " | ".join(errors[:2] or output[-1:]),
                        "valid NMODL",
                    )
                )


def _ascii_paths(config: Config, problems: list[Problem]) -> None:
    """The folders NEURON's hoc opens: the .mod files and the compiled library (the mechanisms
    cache, named by the environment: ``MSR_MECHANISMS_CACHE`` or ``XDG_CACHE_HOME``)."""
    paths = {
        "multiscale_run.neuron.mod_dir": mod_dir(config),
        "MSR_MECHANISMS_CACHE": mod_files.mechanisms_cache(),
    }
    for key, path in paths.items():
        if not str(path.resolve()).isascii():
            problems.append(
                config.problem(
                    key,
                    f"NEURON cannot open {path}: its hoc interpreter decodes ASCII paths only",
                    "an ASCII path; spaces are fine",
                )
            )


def file_problems(config: Config) -> list[Problem]:
    """Every missing or unreadable file the run would open, named with the key that names it."""
    problems: list[Problem] = []
    circuit = _circuit(config, problems)
    _spike_inputs(config, problems)
    _mesh(config, problems)
    if config.enabled("neuron"):
        _ascii_paths(config, problems)
        if not problems:
            if circuit is not None:
                _morphologies(config, circuit, problems)
            _mechanisms(config, problems)
    return problems
