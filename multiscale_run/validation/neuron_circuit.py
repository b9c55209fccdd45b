"""What NEURON will build from the circuit, checked without NEURON (``msr check``): every node's
cell model (:mod:`~multiscale_run.simulators.neuron.cell_models`) and the files and mechanisms
it needs, every afferent edge type's synapse model, every input and condition
(:mod:`~multiscale_run.validation.neuron_inputs`), and whether the cells'
mechanisms can serve the concentrations the couplings exchange (metabolism needs ``atpi``,
``nai``, ... written by a mechanism, e.g. msr's ion homeostasis)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from multiscale_run.config.model import Config
from multiscale_run.config.problems import Problem
from multiscale_run.errors import UserError
from multiscale_run.validation.neuron_inputs import check_conditions, check_inputs

log = logging.getLogger(__name__)

#: NEURON's built-in mechanisms (nrn/src/nrnoc, nrn/src/ivoc)
BUILTIN = {
    "pas", "hh", "extracellular", "fastpas", "IClamp", "SEClamp", "VClamp", "ExpSyn", "Exp2Syn",
    "AlphaSynapse", "APCount", "NetStim", "IntFire1", "IntFire2", "IntFire4", "PatternStim",
}  # fmt: skip

#: coupled NEURON concentrations: they exist where a mechanism uses their ion; read from NEURON
#: (a coupling's src) they must also be written by one, else they never change
_CONCENTRATIONS = ("nai", "ki", "atpi", "adpi", "nao", "ko")
_USEION = re.compile(r"USEION\s+(\w+)([^\n]*)")
_HOMEOSTASIS = "msr_ionleak, msr_nakdyn, msr_nakpump"


def _mechanism_sources(config: Config, circuit) -> list[Path]:
    from multiscale_run.config.file_probes import run_mod_dirs
    from multiscale_run.mod_files import mod_files

    return mod_files(run_mod_dirs(config, circuit.components))


def _ion_use(files: list[Path]) -> dict[str, tuple[set[str], set[str]]]:
    """Mechanism name -> (ions it uses, concentrations it writes: ``nai``, ``atpi``, ...)."""
    from multiscale_run.mod_files import _NAME

    out: dict[str, tuple[set[str], set[str]]] = {}
    for path in files:
        text = path.read_text(errors="replace")
        ions, writes = set(), set()
        for ion, rest in _USEION.findall(text):
            ions.add(ion)
            if "WRITE" in rest:
                writes |= {
                    w for w in re.findall(r"\w+", rest.split("WRITE", 1)[1]) if w in (f"{ion}i", f"{ion}o")
                }
        for name in _NAME.findall(text):
            out[name] = (ions, writes)
    return out


def check_neuron_circuit(config: Config, problems: list[Problem]) -> None:
    found = cell_mechanisms(config, problems)
    if found is not None:
        check_coupled_concentrations(config, *found, problems)


def cell_mechanisms(config: Config, problems: list[Problem]) -> tuple[dict, dict] | None:
    """({cell description: mechanisms it inserts}, {mechanism: (ions used, concentrations
    written)}) of the compartmental cells' models, adding every problem of the models, edges and
    inputs to ``problems``; None when the circuit cannot be read (other checks say why)."""
    if not config.enabled("neuron") or not config.circuit_config.is_file():
        return None
    from multiscale_run.circuit.sonata import Circuit
    from multiscale_run.nodes import point_nodes, simulated_nodes

    try:
        selection = simulated_nodes(config)
        circuit = Circuit(config.circuit_config)
        mech_files = _mechanism_sources(config, circuit)
    except UserError as exc:  # other checks name the file or node set
        log.debug("cannot read the circuit's models: %s", exc)
        return None
    ion_use = _ion_use(mech_files)
    available = BUILTIN | set(ion_use)
    inserted: dict[str, set[str]] = {}
    for population, cells in selection.node_ids.items():
        points = point_nodes(config.circuit_config, population, config.node_set, config.node_sets_file)
        ids = np.concatenate([cells, points])
        inserted |= _population_mechanisms(
            config, circuit.node_population(population), ids, available, problems
        )
        _check_edges(config, circuit, circuit.node_population(population), available, problems)
    check_inputs(config, circuit, selection.node_ids, available, problems)
    used = {
        "available": available,
        "inserted": set().union(*inserted.values()),
        "ions": {m: ions for m, (ions, _) in ion_use.items()},
    }
    check_conditions(config, circuit, selection.node_ids, used, problems)
    return inserted, ion_use


def _population_mechanisms(config: Config, pop, ids: np.ndarray, available: set, problems) -> dict:
    """{cell description: mechanisms it inserts} of the models of nodes ``ids`` of ``pop``,
    adding their problems to ``problems``."""
    from multiscale_run.simulators.neuron.cell_models import model_of
    from multiscale_run.simulators.neuron.homeostasis import MECHANISMS as HOMEOSTASIS

    file = str(config.circuit_config)
    comps = _components(pop)
    attrs = {
        n: pop.get(n, ids) for n in ("model_template", "model_processing", "dynamics_params", "morphology")
    }
    types = pop.model_types(ids)
    homeostasis = bool(config.simulator("neuron").get("homeostasis", False))
    inserted: dict[str, set[str]] = {}
    seen = set()
    for i, node in enumerate(ids):
        row = {k: v[i] for k, v in attrs.items()}
        key = (types[i], *row.values())
        if key in seen:
            continue
        seen.add(key)
        where = f"population {pop.name} node {int(node)}"
        try:
            model = model_of(types[i], row["model_template"], where)
        except UserError as exc:
            problems.append(Problem(file, "networks.nodes", exc.message))
            continue
        found, mechanisms = model.needs(row, comps)
        if homeostasis and not model.point:
            mechanisms = mechanisms | set(HOMEOSTASIS)
        problems.extend(Problem(file, "networks.nodes", f"{where}: {p}") for p in found)
        missing = sorted(mechanisms - available)
        if missing:
            problems.append(
                Problem(
                    file,
                    "components.mechanisms_dir",
                    f"{where} ({row['model_template']}) inserts mechanisms {missing} that no .mod "
                    "file defines",
                    "the circuit's mod files: components.mechanisms_dir, or "
                    "multiscale_run.neuron.circuit_mod_dir (msr init --circuit-mod-dir)",
                )
            )
        if not model.point:
            inserted[f"{where} ({row['model_template']})"] = mechanisms
    return inserted


def _components(pop) -> dict:
    props = pop.properties
    path = lambda key: Path(props[key]) if props.get(key) else None  # noqa: E731
    return {
        "emodels_dir": path("biophysical_neuron_models_dir"),
        "templates_dir": path("templates_dir"),
        "point_models_dir": path("point_neuron_models_dir"),
        "synaptic_models_dir": path("synaptic_models_dir"),
    }


def _check_edges(config: Config, circuit, pop, available: set[str], problems: list[Problem]) -> None:
    from multiscale_run.simulators.neuron.synapse_models import SYNAPSE_MODELS, WEIGHT_FUNCTIONS

    folder = _components(pop)["synaptic_models_dir"]
    for name, edges in sorted(circuit.edges.items()):
        if edges.target != pop.name or edges.type not in ("chemical", ""):
            continue
        file = edges.properties.get("edge_types_file") or edges.file
        names = edges.attribute_names
        if "afferent_section_id" in names:
            _check_section_ids(edges, pop, problems)
        if {"u_syn", "syn_type_id", "conductance"} <= names:  # BBP edges
            from multiscale_run.simulators.neuron.synapse_models import bbp_model

            needed = {bbp_model(t) for t in np.unique(np.asarray(edges._groups.get("syn_type_id")))}
            for mechanism in sorted(needed - available):
                problems.append(
                    Problem(
                        edges.file,
                        f"edges {name}.syn_type_id",
                        f"the synapses need the {mechanism} mechanism, which no .mod file defines",
                        "the circuit's mod files: multiscale_run.neuron.circuit_mod_dir",
                    )
                )
        typed = any(k in names for k in ("model_template", "dynamics_params", "weight_function", "nsyns"))
        if not typed:
            continue
        targets = edges.target_ids
        point = np.isin(pop.model_types(np.unique(targets)), ("point_process", "point_neuron"))
        point_ids = set(np.unique(targets)[point].tolist())
        templates = edges._groups.get("model_template") if "model_template" in names else None
        for value, edge in _first_of_each(templates, targets, point_ids):
            if value not in SYNAPSE_MODELS:
                problems.append(
                    Problem(
                        file,
                        f"edges {name} edge {edge}",
                        f"synapse model_template {value!r} unsupported (supported: {sorted(SYNAPSE_MODELS)})",
                    )
                )
        for key, known in (("weight_function", WEIGHT_FUNCTIONS),):
            if key in names:
                for value in sorted({v for v in edges._groups.get(key) if v is not None} - set(known)):
                    problems.append(
                        Problem(file, f"edges {name}.{key}", f"{value!r} unsupported ({sorted(known)})")
                    )
        if "dynamics_params" in names:
            for value in sorted({str(v) for v in edges._groups.get("dynamics_params") if v is not None}):
                if folder is None or not (folder / value).is_file():
                    problems.append(
                        Problem(
                            file,
                            f"edges {name}.dynamics_params",
                            f"synaptic model {value} not found in {folder}",
                        )
                    )


def _check_section_ids(edges, pop, problems: list[Problem]) -> None:
    """Every ``afferent_section_id`` must name a section of its target's morphology (soma 0, then
    its neurite sections, as msr's and BBP's numberings both count them; MorphIO counts them)."""
    from multiscale_run.validation.morphologies import Morphologies

    targets, ids = edges.target_ids, edges._groups.get("afferent_section_id")
    morphologies = Morphologies(pop)
    targets, ids = np.asarray(targets, dtype=np.int64), np.asarray(ids, dtype=np.int64)
    nodes, inverse = np.unique(targets, return_inverse=True)
    counts = [morphologies.section_count(int(node)) for node in nodes]
    limits = np.array([np.iinfo(np.int64).max if c is None else c for c in counts], dtype=np.int64)
    bad = (ids < 0) | (ids >= limits[inverse])
    for k in np.unique(inverse[bad]):
        onto = bad & (inverse == k)
        edge = int(np.flatnonzero(onto)[0])
        problems.append(
            Problem(
                edges.file,
                f"edges {edges.name} edge {edge}.afferent_section_id",
                f"{int(onto.sum())} synapse(s) onto population {pop.name} node {int(nodes[k])} name section "
                f"{int(ids[edge])}, but its morphology {morphologies.of(int(nodes[k]))[0].name} has "
                f"sections 0-{int(limits[k]) - 1}",
            )
        )


def _first_of_each(templates, targets: np.ndarray, point_ids: set[int]):
    """(template, first edge id) of each template of the edges onto compartmental cells."""
    seen = {}
    for edge, target in enumerate(targets):
        if int(target) in point_ids:
            continue
        value = templates[edge] if templates is not None else None
        seen.setdefault(value, edge)
    return sorted(seen.items(), key=lambda kv: kv[1])


def unserved(variable: str, read: bool, inserted: dict, ion_use: dict) -> str | None:
    """Why the cells cannot serve NEURON concentration ``variable`` (``read``: its values are read
    from NEURON, so a mechanism must write it), or None when they all can."""
    if variable not in _CONCENTRATIONS:
        return None
    ion = variable[:-1]
    for where, mechanisms in inserted.items():
        uses = any(ion in ion_use.get(m, ((), ()))[0] for m in mechanisms)
        writes = any(variable in ion_use.get(m, ((), ()))[1] for m in mechanisms)
        if uses and (writes or not read):
            continue
        what = "writes it" if uses else f"uses the {ion} ion ({variable} does not exist there)"
        return f"no mechanism of {where} {what} (it inserts {sorted(mechanisms)})"
    return None


#: how to serve a concentration the cells do not
SERVE_FIX = (
    "multiscale_run.neuron.homeostasis: true (inserts msr_nakdyn and msr_nakpump into every "
    f"section of the cells lacking them), or a cell model with msr's ion homeostasis "
    f"({_HOMEOSTASIS}), or metabolism disabled (msr init --no-metabolism)"
)


def check_coupled_concentrations(
    config: Config, inserted: dict, ion_use: dict, problems: list[Problem]
) -> None:
    """A coupled concentration whose ion no mechanism of a cell uses does not exist there (NaN);
    one read from NEURON that no mechanism writes never changes: name the coupling, the cell and
    the fix."""
    for i, c in enumerate(config.couplings):
        for end in ("src", "dest"):
            if c[end] != "neuron":
                continue
            why = unserved(c[f"{end}_variable"], end == "src", inserted, ion_use)
            if why:
                problems.append(
                    config.problem(
                        f"multiscale_run.couplings[{i}].{end}_variable",
                        f"{c['name']!r} couples {c[f'{end}_variable']}, but {why}",
                        SERVE_FIX,
                    )
                )
