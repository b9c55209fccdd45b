"""A corpus of broken inputs, as a new user or a careless script writes them: each must give
``msr check`` exit 2, a line ``msr: error: <file>: <key>: ...`` naming the file and the key, no
traceback, and leave everything outside the simulation folder as it was.

Every rule of ``multiscale_run.config.rules.RULES`` (the list in docs/config-reference.md) has at
least one case here. No case runs a simulation; run-level faults are in
``tests/integration/test_reliability_faults.py``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import pytest
from click.testing import CliRunner

from multiscale_run.cli import main
from multiscale_run.config.rules import RULES
from multiscale_run.resources import data_path

RAW = "@@RAW@@"


@dataclass(frozen=True)
class Case:
    id: str
    rule: str
    change: Callable[[Path], None]
    key: str  # the JSON path (or the circuit config's key) the message must name
    words: str  # words the message must contain
    file: str = "config"  # "config": the simulation config; "circuit": the circuit config
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # environment of the check


# ----------------------------------------------------------------------------- editing helpers
def config_path(sim: Path) -> Path:
    return sim / "simulation_config.json"


def circuit_path(sim: Path) -> Path:
    return sim / "circuit" / "circuit_config.json"


def edit(change: Callable[[dict], object], file: Callable[[Path], Path] = config_path):
    def apply(sim: Path) -> None:
        path = file(sim)
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data, indent=2))

    return apply


def raw(keys: tuple, text: str, file: Callable[[Path], Path] = config_path):
    """Set ``keys`` to the literal JSON text ``text`` (NaN, Infinity: not producible by json.dumps)."""

    def change(data: dict) -> None:
        node = data
        for key in keys[:-1]:
            node = node.setdefault(key, {}) if isinstance(node, dict) else node[key]
        node[keys[-1]] = RAW

    def apply(sim: Path) -> None:
        edit(change, file)(sim)
        path = file(sim)
        path.write_text(path.read_text().replace(f'"{RAW}"', text))

    return apply


def msr(data: dict) -> dict:
    return data["multiscale_run"]


def report(sim: str, i: int, **values):
    return edit(lambda d: msr(d)[sim]["reports"][i].update(values))


def coupling(i: int, **values):
    return edit(lambda d: msr(d)["couplings"][i].update(values))


def transform(text: str, checks: list[dict] | None = None):
    """The transform of the ADP_n -> adpi set coupling (index 2), with extra value checks."""

    def change(d: dict) -> None:
        msr(d)["couplings"][2]["transform"] = text
        msr(d)["checks"].extend(checks or [])

    return edit(change)


def value_check(i: int, drop: tuple[str, ...] = (), **values):
    def change(d: dict) -> None:
        for key in drop:
            msr(d)["checks"][i].pop(key, None)
        msr(d)["checks"][i].update(values)

    return edit(change)


def circuit_file(name: str, content: bytes | None):
    """Replace ``circuit/<name>`` by ``content`` (None: delete it)."""

    def apply(sim: Path) -> None:
        path = sim / "circuit" / name
        if content is None:
            path.unlink() if path.is_file() else shutil.rmtree(path)
        else:
            path.write_bytes(content)

    return apply


def truncate(name: str):
    def apply(sim: Path) -> None:
        path = sim / "circuit" / name
        path.write_bytes(path.read_bytes()[: max(path.stat().st_size // 3, 1)])

    return apply


def hdf5_without(name: str, group: str, rename: str | None = None):
    """An HDF5 file that lacks ``group`` (deleted, or moved to ``rename``)."""

    def apply(sim: Path) -> None:
        with h5py.File(sim / "circuit" / name, "r+") as f:
            if rename:
                f.move(group, rename)
            else:
                del f[group]

    return apply


def node_sets(**sets):
    def apply(sim: Path) -> None:
        path = sim / "circuit" / "node_sets.json"
        data = json.loads(path.read_text())
        data.update(sets)
        path.write_text(json.dumps(data))

    return apply


def compose(*changes: Callable[[Path], None]):
    def apply(sim: Path) -> None:
        for change in changes:
            change(sim)

    return apply


def mods(change: Callable[[Path], None], folder: str = "mymod"):
    """A private mod folder (a copy of the shipped one, then ``change``d) as neuron.mod_dir."""

    def apply(sim: Path) -> None:
        target = sim / folder
        shutil.copytree(data_path("templates") / "mod", target)
        change(target)
        edit(lambda d: msr(d)["neuron"].__setitem__("mod_dir", str(target)))(sim)

    return apply


def first_morphology_missing(sim: Path) -> None:
    with h5py.File(sim / "circuit" / "nodes.h5", "r") as f:
        name = f["nodes/neurons/0/morphology"].asstr()[0]
    next((sim / "circuit" / "morphologies").glob(f"{name}.*")).unlink()


def broken_mesh(sim: Path) -> None:
    (sim / "mesh.msh").write_text("$MeshFormat\n4.1 0 8\n$EndMeshFormat\n$Nodes\n garbage\n")

    def change(d: dict) -> None:
        msr(d)["steps"] = {"solver": "deterministic", "mesh_file": str(sim / "mesh.msh")}
        msr(d)["order"] = ["neuron", "steps", "metabolism"]

    edit(change)(sim)


def output_is_a_file(sim: Path) -> None:
    (sim / "output").write_text("not a folder")


def add_input(name: str, **spec):
    return edit(lambda d: d["inputs"].__setitem__(name, {"node_set": "Excitatory", **spec}))


def condition(key: str, value):
    """Set the top-level ``connection_overrides`` or ``conditions.modifications`` to ``value``."""
    if key == "modifications":
        return edit(lambda d: d.setdefault("conditions", {}).__setitem__("modifications", value))
    return edit(lambda d: d.__setitem__(key, value))


SHOT = {"input_type": "current_clamp", "module": "shot_noise", "rise_time": 0.5, "decay_time": 4.0,
        "rate": 100.0, "amp_mean": 0.01, "amp_var": 1e-5, "delay": 0.0, "duration": 100.0}  # fmt: skip
TTX = {"name": "block", "type": "TTX", "node_set": "Excitatory"}
OVERRIDE = {"name": "o", "source": "Excitatory", "target": "Inhibitory", "weight": 0.5}


NOT_HDF5 = b"this is not an HDF5 file\n" * 20
NEURON_MOD_ERROR = "NEURON { SUFFIX broken }\nBREAKPOINT { x = = 1 }\n"

CASES = [
    # strict JSON: NaN and Infinity with their JSON path
    Case("tstop NaN", "strict-json", raw(("run", "tstop"), "NaN"), "run.tstop", "NaN is not a JSON number"),
    Case("dt Infinity", "strict-json", raw(("run", "dt"), "Infinity"), "run.dt", "Infinity is not a JSON"),
    Case(
        "bound -Infinity",
        "strict-json",
        raw(("multiscale_run", "checks", 0, "lb"), "-Infinity"),
        "multiscale_run.checks[0].lb",
        "-Infinity is not a JSON number",
    ),
    Case(
        "report dt NaN",
        "strict-json",
        raw(("multiscale_run", "metabolism", "reports", 0, "dt_ms"), "NaN"),
        "multiscale_run.metabolism.reports[0].dt_ms",
        "NaN is not",
    ),
    Case("manifest NaN", "strict-json", raw(("manifest", "x"), "NaN"), "manifest.x", "NaN is not"),
    Case(
        "initial concentration NaN",
        "strict-json",
        raw(("multiscale_run", "neuron", "initial_concentrations_mM", "ko"), "NaN"),
        "multiscale_run.neuron.initial_concentrations_mM.ko",
        "NaN is not",
    ),
    Case(
        "circuit config NaN",
        "strict-json",
        raw(("version",), "NaN", circuit_path),
        "network",
        "version NaN is not a JSON number",
    ),
    # schema (for completeness of the corpus)
    Case(
        "tstop a string",
        "schema",
        edit(lambda d: d["run"].__setitem__("tstop", "long")),
        "run.tstop",
        "wrong type",
    ),
    Case("tstop negative", "schema", edit(lambda d: d["run"].__setitem__("tstop", -5)), "run.tstop", "tstop"),
    Case("unknown key", "schema", edit(lambda d: d.__setitem__("nod_set", "x")), "nod_set", "unknown key"),
    Case("missing dt", "schema", edit(lambda d: d["run"].pop("dt")), "run.dt", "missing required key"),
    Case(
        "bad action",
        "schema",
        coupling(2, action="add"),
        "multiscale_run.couplings[2].action",
        "add",
    ),
    Case(
        "report name with a slash",
        "schema",
        report("metabolism", 0, name="../escape"),
        "multiscale_run.metabolism.reports[0].name",
        "../escape",
    ),
    # times
    Case(
        "tstop not a multiple",
        "tstop-multiple",
        edit(lambda d: d["run"].__setitem__("tstop", 100.01)),
        "run.tstop",
        "not a multiple",
    ),
    # files that do not exist
    Case(
        "no circuit config",
        "files-exist",
        edit(lambda d: d.__setitem__("network", "nope/c.json")),
        "network",
        "circuit config not found",
    ),
    Case(
        "no node sets file",
        "files-exist",
        edit(lambda d: d.__setitem__("node_sets_file", "nope.json")),
        "node_sets_file",
        "node sets file not found",
    ),
    Case(
        "no spike input",
        "files-exist",
        circuit_file("input_spikes.h5", None),
        "inputs.thalamic_poisson.spike_file",
        "file not found",
    ),
    # files that exist but the run cannot read
    Case(
        "no nodes file",
        "files-readable",
        circuit_file("nodes.h5", None),
        "networks.nodes[0].nodes_file",
        "file not found",
        "circuit",
    ),
    Case(
        "truncated nodes file",
        "files-readable",
        truncate("nodes.h5"),
        "networks.nodes[0].nodes_file",
        "cannot open",
        "circuit",
    ),
    Case(
        "nodes file not HDF5",
        "files-readable",
        circuit_file("nodes.h5", NOT_HDF5),
        "networks.nodes[0].nodes_file",
        "cannot open",
        "circuit",
    ),
    Case(
        "empty nodes file",
        "files-readable",
        circuit_file("nodes.h5", b""),
        "networks.nodes[0].nodes_file",
        "cannot open",
        "circuit",
    ),
    Case(
        "nodes file without /nodes",
        "files-readable",
        hdf5_without("nodes.h5", "nodes"),
        "networks.nodes[0].nodes_file",
        "has no /nodes group",
        "circuit",
    ),
    Case(
        "nodes file without its population",
        "files-readable",
        hdf5_without("nodes.h5", "nodes/neurons", rename="nodes/others"),
        "networks.nodes[0].nodes_file",
        "lacks population(s) neurons",
        "circuit",
    ),
    Case(
        "virtual nodes not HDF5",
        "files-readable",
        circuit_file("virtual_nodes.h5", NOT_HDF5),
        "networks.nodes[1].nodes_file",
        "cannot open",
        "circuit",
    ),
    Case(
        "no vasculature",
        "files-readable",
        circuit_file("vasculature.h5", None),
        "networks.nodes[2].nodes_file",
        "file not found",
        "circuit",
    ),
    Case(
        "truncated vasculature",
        "files-readable",
        truncate("vasculature.h5"),
        "networks.nodes[2].nodes_file",
        "cannot open",
        "circuit",
    ),
    Case(
        "no vasculature morphology",
        "files-readable",
        circuit_file("vasculature_morphology.h5", None),
        "networks.nodes[2].populations.vasculature.vasculature_file",
        "file not found",
        "circuit",
    ),
    Case(
        "vasculature morphology not HDF5",
        "files-readable",
        circuit_file("vasculature_morphology.h5", NOT_HDF5),
        "networks.nodes[2].populations.vasculature.vasculature_file",
        "cannot open",
        "circuit",
    ),
    Case(
        "no edges file",
        "files-readable",
        circuit_file("edges.h5", None),
        "networks.edges[0].edges_file",
        "file not found",
        "circuit",
    ),
    Case(
        "truncated edges file",
        "files-readable",
        truncate("edges.h5"),
        "networks.edges[0].edges_file",
        "cannot open",
        "circuit",
    ),
    Case(
        "input edges not HDF5",
        "files-readable",
        circuit_file("input_edges.h5", NOT_HDF5),
        "networks.edges[1].edges_file",
        "cannot open",
        "circuit",
    ),
    Case(
        "edges file without its population",
        "files-readable",
        hdf5_without("edges.h5", "edges/neurons__neurons__chemical", rename="edges/other"),
        "networks.edges[0].edges_file",
        "lacks population(s)",
        "circuit",
    ),
    Case(
        "spike input a number",
        "files-exist",
        edit(lambda d: d["inputs"]["thalamic_poisson"].__setitem__("spike_file", 5)),
        "inputs.thalamic_poisson.spike_file",
        "5 is not a path",
    ),
    Case(
        "input not an object",
        "schema",
        edit(lambda d: d["inputs"].__setitem__("thalamic_poisson", "spikes.h5")),
        "inputs.thalamic_poisson",
        "wrong type",
    ),
    Case(
        "circuit populations a list",
        "files-readable",
        edit(lambda d: d["networks"]["nodes"][0].__setitem__("populations", ["neurons"]), circuit_path),
        "networks.nodes[0].populations",
        "must be an object",
        "circuit",
    ),
    Case(
        "circuit config not JSON",
        "files-readable",
        circuit_file("circuit_config.json", b"{nodes: ["),
        "network",
        "malformed JSON",
    ),
    Case(
        "circuit config empty",
        "files-readable",
        circuit_file("circuit_config.json", b""),
        "network",
        "malformed JSON",
    ),
    Case(
        "circuit config a list",
        "files-readable",
        circuit_file("circuit_config.json", b"[1, 2]"),
        "network",
        "must be a JSON object",
    ),
    Case(
        "circuit config unknown substitution",
        "files-readable",
        edit(
            lambda d: d["networks"]["nodes"][0].__setitem__("nodes_file", "$NOWHERE/nodes.h5"), circuit_path
        ),
        "network",
        "unknown substitution",
    ),
    Case(
        "circuit config not UTF-8",
        "files-readable",
        circuit_file("circuit_config.json", b'{"version": "\xff\xfe"}'),
        "network",
        "cannot read",
    ),
    Case(
        "no morphologies folder",
        "files-readable",
        circuit_file("morphologies", None),
        "components.morphologies_dir",
        "folder not found",
        "circuit",
    ),
    Case(
        "a morphology missing",
        "files-readable",
        first_morphology_missing,
        "components.morphologies_dir",
        "morphology file(s) of the simulated cells not found",
        "circuit",
    ),
    Case(
        "no emodels folder",
        "files-readable",
        circuit_file("emodels", None),
        "components.biophysical_neuron_models_dir",
        "folder not found",
        "circuit",
    ),
    Case(
        "node set negative id",
        "files-readable",
        node_sets(bad={"population": "neurons", "node_id": [0, -1]}),
        "node_sets_file",
        "non-negative",
    ),
    Case(
        "node set float id",
        "files-readable",
        node_sets(bad={"population": "neurons", "node_id": [1.5]}),
        "node_sets_file",
        "non-negative integers",
    ),
    Case(
        "node set string id",
        "files-readable",
        node_sets(bad={"population": "neurons", "node_id": "3"}),
        "node_sets_file",
        "non-negative integers",
    ),
    Case(
        "node set not a rule",
        "files-readable",
        node_sets(bad=5),
        "node_sets_file",
        "libsonata cannot read the node sets",
    ),
    Case(
        "node set of an unknown set",
        "files-readable",
        node_sets(bad=["nobody"]),
        "node_sets_file",
        "libsonata cannot read",
    ),
    Case(
        "node sets not JSON",
        "files-readable",
        circuit_file("node_sets.json", b"{oops"),
        "node_sets_file",
        "not valid JSON",
    ),
    Case(
        "spike input not HDF5",
        "files-readable",
        circuit_file("input_spikes.h5", NOT_HDF5),
        "inputs.thalamic_poisson.spike_file",
        "cannot read",
    ),
    Case(
        "truncated spike input",
        "files-readable",
        truncate("input_spikes.h5"),
        "inputs.thalamic_poisson.spike_file",
        "cannot read",
    ),
    Case(
        "spike input without spikes",
        "files-readable",
        hdf5_without("input_spikes.h5", "spikes"),
        "inputs.thalamic_poisson.spike_file",
        "cannot read",
    ),
    Case(
        "no mod folder",
        "files-readable",
        edit(lambda d: msr(d)["neuron"].__setitem__("mod_dir", "nomods")),
        "multiscale_run.neuron.mod_dir",
        "mod folder not found",
    ),
    Case(
        "empty mod folder",
        "files-readable",
        mods(lambda p: [f.unlink() for f in p.glob("*.mod")]),
        "multiscale_run.neuron.mod_dir",
        "no .mod files",
    ),
    Case(
        "mod file syntax error",
        "files-readable",
        mods(lambda p: (p / "broken.mod").write_text(NEURON_MOD_ERROR)),
        "multiscale_run.neuron.mod_dir",
        "broken.mod does not translate",
    ),
    Case(
        "mod file garbage",
        "files-readable",
        mods(lambda p: (p / "junk.mod").write_bytes(b"\x00\x01 {{{")),
        "multiscale_run.neuron.mod_dir",
        "junk.mod: holds NUL bytes",
    ),
    Case(
        "mod file truncated",
        "files-readable",
        mods(lambda p: (p / "msr_kdr.mod").write_text((p / "msr_kdr.mod").read_text()[:300])),
        "multiscale_run.neuron.mod_dir",
        "msr_kdr.mod: ",
    ),
    Case(
        "mesh file broken",
        "files-readable",
        broken_mesh,
        "multiscale_run.steps.mesh_file",
        "cannot read mesh",
    ),
    # paths NEURON opens
    Case(
        "non-ASCII mechanisms cache",
        "ascii-paths",
        lambda sim: None,
        "MSR_MECHANISMS_CACHE",
        "ASCII paths only",
        env=(("MSR_MECHANISMS_CACHE", "/tmp/méchanismes"),),
    ),
    Case(
        "non-ASCII mod folder",
        "ascii-paths",
        mods(lambda p: None, folder="mød"),
        "multiscale_run.neuron.mod_dir",
        "ASCII paths only",
    ),
    # node sets, simulators
    Case(
        "unknown node set",
        "node-sets",
        edit(lambda d: d.__setitem__("node_set", "Layer9")),
        "node_set",
        "unknown node set 'Layer9'",
    ),
    Case(
        "report of unknown node set",
        "node-sets",
        report("neuron", 0, node_set="Nobody"),
        "multiscale_run.neuron.reports[0].node_set",
        "unknown node set",
    ),
    Case(
        "no simulator",
        "some-simulator",
        edit(lambda d: [msr(d)[s].__setitem__("enabled", False) for s in ("neuron", "metabolism")]),
        "multiscale_run",
        "no simulator is enabled",
    ),
    # couplings
    Case(
        "coupling from a disabled simulator",
        "coupling-endpoints",
        coupling(2, src="steps"),
        "multiscale_run.couplings[2].src",
        "not enabled",
    ),
    Case(
        "coupling to a disabled simulator",
        "coupling-endpoints",
        coupling(2, dest="bloodflow"),
        "multiscale_run.couplings[2].dest",
        "not enabled",
    ),
    Case(
        "unknown source variable",
        "coupling-variables",
        coupling(2, src_variable="ADP"),
        "multiscale_run.couplings[2].src_variable",
        "no variable 'ADP'",
    ),
    Case(
        "unknown destination variable",
        "coupling-variables",
        coupling(2, dest_variable="adp"),
        "multiscale_run.couplings[2].dest_variable",
        "no variable 'adp'",
    ),
    Case(
        "read-only destination",
        "coupling-variables",
        coupling(
            2,
            src="neuron",
            src_variable="atpi",
            dest="metabolism",
            dest_variable="ADP_n",
            operator="segment_to_neuron_volume_mean",
        ),
        "multiscale_run.couplings[2].dest_variable",
        "read-only",
    ),
    Case(
        "merge of a read-only source",
        "coupling-variables",
        coupling(0, src_variable="ina_nA"),
        "multiscale_run.couplings[0].src_variable",
        "read-only",
    ),
    Case(
        "unknown operator",
        "coupling-operator",
        coupling(2, operator="neuron_to_moon"),
        "multiscale_run.couplings[2].operator",
        "unknown operator",
    ),
    Case(
        "operator of other spaces",
        "coupling-operator",
        coupling(2, operator="segment_to_neuron_sum"),
        "multiscale_run.couplings[2].operator",
        "maps segment to neuron",
    ),
    Case(
        "identity across spaces",
        "coupling-operator",
        coupling(2, operator="identity"),
        "multiscale_run.couplings[2].operator",
        "identity cannot map",
    ),
    Case(
        "merge with a transform",
        "merge-writeback",
        coupling(0, transform="vals * 2"),
        "multiscale_run.couplings[0].transform",
        "a merge cannot have a transform",
    ),
    Case(
        "merge without write-back",
        "merge-writeback",
        coupling(0, operator="segment_to_neuron_sum"),
        "multiscale_run.couplings[0].operator",
        "no write-back",
    ),
    Case(
        "coupling period",
        "coupling-period",
        coupling(2, ndts=3),
        "multiscale_run.couplings[2].ndts",
        "not a multiple of the destination",
    ),
    # transforms that are not safe expressions
    *[
        Case(
            f"transform {name}",
            "transform-safe",
            transform(text),
            "multiscale_run.couplings[2].transform",
            words,
        )
        for name, text, words in [
            ("import", "__import__('os').system('touch /tmp/pwned')", "only these functions"),
            ("attribute", "vals.__class__", "Attribute is not allowed"),
            ("lambda", "(lambda: 1)()", "only these functions"),
            ("comprehension", "[v for v in vals]", "ListComp is not allowed"),
            ("open", "open('/etc/passwd')", "only these functions"),
            ("subscript", "vals[0]", "Subscript is not allowed"),
            ("keyword", "clip(vals, a_min=0)", "keyword arguments"),
            ("string", "'text'", "only numeric constants"),
            ("syntax", "vals *", "invalid expression"),
            ("unknown name", "x * 2", "unknown name 'x'"),
            ("deep nesting", "-" * 3000 + "vals", "nests too deeply"),
            ("deep calls", "abs(" * 200 + "vals" + ")" * 200, "nests too deeply"),
            ("too long", "vals" + " + 1" * 2000, "characters long"),
            ("walrus", "(y := vals)", "NamedExpr is not allowed"),
            ("starred", "maximum(*vals)", "Starred is not allowed"),
        ]
    ],
    # transforms that parse but fail on the source's values
    *[
        Case(
            f"transform {name}",
            "transform-finite",
            transform(text, checks),
            "multiscale_run.couplings[2].transform",
            words,
        )
        for name, text, checks, words in [
            ("huge power", "10**10**10", None, "exponent exceeds"),
            ("power()", "power(vals, 5000)", None, "exponent exceeds"),
            ("log of negative", "log(vals - 1e9)", None, "non-finite"),
            ("division by zero", "1/0", None, "non-finite"),
            ("modulo zero", "vals % 0", None, "non-finite"),
            ("log of zero", "log(0 * vals)", None, "non-finite"),
            ("overflow", "exp(vals * 1e6)", None, "non-finite"),
            ("overflow by product", "vals * 1e308 * 1e10", None, "non-finite"),
            (
                "sqrt below a declared bound",
                "sqrt(vals - 0.5)",
                [{"simulator": "metabolism", "variable": "ADP_n", "lb": 0.1, "response": "abort"}],
                "non-finite",
            ),
            ("ambiguous truth", "vals if vals else 0", None, "ambiguous"),
            ("ambiguous comparison", "1 if vals > 0 else 0", None, "ambiguous"),
            (
                "pole at a declared bound",
                "1 / (3 - vals)",
                [{"simulator": "metabolism", "variable": "ADP_n", "lb": 0, "hb": 3, "response": "abort"}],
                "non-finite",
            ),
            (
                "log at a declared bound",
                "log(vals)",
                [{"simulator": "metabolism", "variable": "ADP_n", "leb": 0, "response": "abort"}],
                "non-finite",
            ),
        ]
    ],
    # reports
    Case(
        "report of unknown variable",
        "report-variable",
        report("neuron", 0, variable="vm"),
        "multiscale_run.neuron.reports[0].variable",
        "no variable 'vm'",
    ),
    Case(
        "report period",
        "report-period",
        edit(
            lambda d: msr(d)["metabolism"]["reports"][0].__setitem__(
                "dt_ms", 1.5 * msr(d)["metabolism"]["ndts"] * d["run"]["dt"]
            )
        ),
        "multiscale_run.metabolism.reports[0].dt_ms",
        "not a multiple",
    ),
    Case(
        "report unknown operator",
        "report-operator",
        report("neuron", 0, operator="segment_to_moon"),
        "multiscale_run.neuron.reports[0].operator",
        "unknown operator",
    ),
    Case(
        "soma outside neuron",
        "report-operator",
        report("metabolism", 0, operator="soma"),
        "multiscale_run.metabolism.reports[0].operator",
        "neuron reports only",
    ),
    Case(
        "report operator of other space",
        "report-operator",
        report("metabolism", 0, operator="segment_to_neuron_sum"),
        "multiscale_run.metabolism.reports[0].operator",
        "reads segment values",
    ),
    Case(
        "report starts after tstop",
        "report-window",
        report("metabolism", 0, start_ms=1000.0),
        "multiscale_run.metabolism.reports[0].start_ms",
        "not before tstop",
    ),
    Case(
        "report starts at tstop",
        "report-window",
        report("metabolism", 0, start_ms=300.0),
        "multiscale_run.metabolism.reports[0].start_ms",
        "not before tstop",
    ),
    Case(
        "report ends before it starts",
        "report-window",
        report("neuron", 0, start_ms=100.0, end_ms=50.0),
        "multiscale_run.neuron.reports[0].end_ms",
        "not ordered",
    ),
    Case(
        "report ends where it starts",
        "report-window",
        report("neuron", 0, start_ms=100.0, end_ms=100.0),
        "multiscale_run.neuron.reports[0].end_ms",
        "not ordered",
    ),
    Case(
        "report ends after tstop",
        "report-window",
        report("neuron", 0, end_ms=500.0),
        "multiscale_run.neuron.reports[0].end_ms",
        "within [0, 300]",
    ),
    Case(
        "report ends at zero",
        "report-window",
        report("neuron", 0, end_ms=0.0),
        "multiscale_run.neuron.reports[0].end_ms",
        "not ordered",
    ),
    Case(
        "duplicate report in one simulator",
        "report-names",
        edit(
            lambda d: msr(d)["metabolism"]["reports"][1].__setitem__(
                "name", msr(d)["metabolism"]["reports"][0]["name"]
            )
        ),
        "multiscale_run.metabolism.reports[1].name",
        "already used by multiscale_run.metabolism.reports[0]",
    ),
    Case(
        "duplicate report over simulators",
        "report-names",
        edit(
            lambda d: msr(d)["metabolism"]["reports"][0].__setitem__(
                "name", msr(d)["neuron"]["reports"][0]["name"]
            )
        ),
        "multiscale_run.metabolism.reports[0].name",
        "already used by multiscale_run.neuron.reports[0]",
    ),
    # value checks
    Case(
        "check of a disabled simulator",
        "check-simulator",
        value_check(0, simulator="steps"),
        "multiscale_run.checks[0].simulator",
        "not enabled",
    ),
    Case(
        "check of an unknown variable",
        "check-simulator",
        value_check(0, variable="ATP"),
        "multiscale_run.checks[0].variable",
        "no variable 'ATP'",
    ),
    Case(
        "check without bound",
        "check-bounds",
        value_check(0, drop=("lb", "hb")),
        "multiscale_run.checks[0]",
        "at least one bound",
    ),
    Case(
        "lb above hb",
        "check-bounds",
        value_check(0, lb=5.0, hb=3.0),
        "multiscale_run.checks[0].lb",
        "no value can satisfy lb 5 and hb 3",
    ),
    Case(
        "lb equal to hb",
        "check-bounds",
        value_check(0, lb=3.0, hb=3.0),
        "multiscale_run.checks[0].lb",
        "no value can satisfy",
    ),
    Case(
        "leb above heb",
        "check-bounds",
        value_check(0, drop=("lb", "hb"), leb=4.0, heb=3.5),
        "multiscale_run.checks[0].leb",
        "leb 4 and heb 3.5",
    ),
    Case(
        "leb equal to hb",
        "check-bounds",
        value_check(0, drop=("lb",), leb=3.0),
        "multiscale_run.checks[0].leb",
        "leb 3 and hb 3",
    ),
    Case(
        "lb equal to heb",
        "check-bounds",
        value_check(0, drop=("hb",), lb=3.0, heb=3.0),
        "multiscale_run.checks[0].lb",
        "lb 3 and heb 3",
    ),
    Case(
        "lb NaN-free but above heb",
        "check-bounds",
        value_check(1, drop=("hb",), heb=0.5),
        "multiscale_run.checks[1].lb",
        "lb 1 and heb 0.5",
    ),
    # SONATA inputs and conditions
    Case(
        "shot noise without rate",
        "inputs-conditions",
        add_input("shot", **{k: v for k, v in SHOT.items() if k != "rate"}),
        "inputs.shot.rate",
        "shot_noise needs rate",
    ),
    Case(
        "shot noise decay before rise",
        "inputs-conditions",
        add_input("shot", **{**SHOT, "decay_time": 0.2}),
        "inputs.shot.decay_time",
        "must exceed rise_time",
    ),
    Case(
        "relative shot noise skew 1",
        "inputs-conditions",
        add_input(
            "shot",
            **{
                **SHOT,
                "module": "relative_shot_noise",
                "mean_percent": 50.0,
                "sd_percent": 10.0,
                "relative_skew": 1.0,
            },
        ),
        "inputs.shot.relative_skew",
        "[0, 1)",
    ),
    Case(
        "relative input on cells without threshold_current",
        "inputs-conditions",
        add_input("sub", input_type="current_clamp", module="subthreshold", percent_less=10.0),
        "inputs.sub",
        "dynamics_params/threshold_current: population neurons node",
    ),
    Case(
        "ornstein-uhlenbeck negative tau",
        "inputs-conditions",
        add_input(
            "ou", input_type="current_clamp", module="ornstein_uhlenbeck", tau=-1.0, mean=0.1, sigma=0.01
        ),
        "inputs.ou.tau",
        "tau must be a number > 0",
    ),
    Case(
        "sinusoidal without frequency",
        "inputs-conditions",
        add_input("wave", input_type="current_clamp", module="sinusoidal", amp_start=0.1),
        "inputs.wave.frequency",
        "sinusoidal needs frequency",
    ),
    Case(
        "seclamp with a delay",
        "inputs-conditions",
        add_input("hold", input_type="voltage_clamp", module="seclamp", voltage=-60.0, delay=5.0),
        "inputs.hold.delay",
        "delay must be 0",
    ),
    Case(
        "conductance mode of a module without one",
        "inputs-conditions",
        add_input("ramp", input_type="conductance", module="linear", amp_start=0.01),
        "inputs.ramp.input_type",
        "module linear has no conductance mode",
    ),
    Case(
        "conductance shot noise of negative amplitudes",
        "inputs-conditions",
        add_input("shot", **{**SHOT, "input_type": "conductance", "amp_mean": -0.01}),
        "inputs.shot.amp_mean",
        "amp_mean must be a number > 0",
    ),
    Case(
        "reversal of a current clamp",
        "inputs-conditions",
        add_input("shot", **{**SHOT, "reversal": -80.0}),
        "inputs.shot.reversal",
        "belongs to input_type conductance",
    ),
    Case(
        "reversal not a number",
        "inputs-conditions",
        add_input("shot", **{**SHOT, "input_type": "conductance", "reversal": "GABA"}),
        "inputs.shot.reversal",
        "reversal must be a number, got 'GABA'",
    ),
    Case(
        "relative conductance on cells without input_resistance",
        "inputs-conditions",
        add_input(
            "ou",
            input_type="conductance",
            module="relative_ornstein_uhlenbeck",
            tau=2.0,
            mean_percent=20.0,
            sd_percent=5.0,
        ),
        "inputs.ou",
        "dynamics_params/input_resistance: population neurons node",
    ),
    Case(
        "conductance without msr_gclamp",
        "inputs-conditions",
        lambda sim: (
            mods(lambda p: (p / "msr_gclamp.mod").unlink())(sim),
            add_input("shot", **{**SHOT, "input_type": "conductance"})(sim),
        ),
        "inputs.shot.input_type",
        "needs the msr_gclamp mechanism",
    ),
    Case(
        "seclamp levels of unequal length",
        "inputs-conditions",
        add_input(
            "hold",
            input_type="voltage_clamp",
            module="seclamp",
            voltage=-60.0,
            duration=10.0,
            voltage_levels=[-50.0, -40.0],
            duration_levels=[5.0],
        ),
        "inputs.hold.duration_levels",
        "voltage_levels has 2 levels, duration_levels 1",
    ),
    Case(
        "seclamp negative level duration",
        "inputs-conditions",
        add_input(
            "hold",
            input_type="voltage_clamp",
            module="seclamp",
            voltage=-60.0,
            duration=10.0,
            voltage_levels=[-50.0],
            duration_levels=[-5.0],
        ),
        "inputs.hold.duration_levels[0]",
        "must be a number >= 0 (ms)",
    ),
    Case(
        "seclamp level not a number",
        "inputs-conditions",
        add_input(
            "hold",
            input_type="voltage_clamp",
            module="seclamp",
            voltage=-60.0,
            duration=10.0,
            voltage_levels=["-50"],
            duration_levels=[5.0],
        ),
        "inputs.hold.voltage_levels[0]",
        "must be a number (mV), got '-50'",
    ),
    Case(
        "seclamp levels without duration",
        "inputs-conditions",
        add_input(
            "hold",
            input_type="voltage_clamp",
            module="seclamp",
            voltage=-60.0,
            voltage_levels=[-50.0],
            duration_levels=[5.0],
        ),
        "inputs.hold.duration",
        "needs duration (ms), the first level's",
    ),
    Case(
        "TTX without TTXDynamicsSwitch",
        "inputs-conditions",
        condition("modifications", [TTX]),
        "conditions.modifications[0].type",
        "TTX needs the TTXDynamicsSwitch mechanism",
    ),
    Case(
        "section_configure not an assignment",
        "inputs-conditions",
        condition(
            "modifications", [{**TTX, "type": "ConfigureAllSections", "section_configure": "print(%s.L)"}]
        ),
        "conditions.modifications[0].section_configure",
        "is not an assignment to %s.<attribute>",
    ),
    Case(
        "section_configure calls a function",
        "inputs-conditions",
        condition(
            "modifications",
            [{**TTX, "type": "ConfigureAllSections", "section_configure": "%s.g_pas = __import__('os')"}],
        ),
        "conditions.modifications[0].section_configure",
        "only numbers",
    ),
    Case(
        "modification of an unknown node set",
        "inputs-conditions",
        condition(
            "modifications",
            [{**TTX, "type": "ConfigureAllSections", "node_set": "Nobody", "section_configure": "%s.cm = 2"}],
        ),
        "conditions.modifications[0].node_set",
        "node set 'Nobody' is not defined",
    ),
    Case(
        "modification of an unsupported type",
        "inputs-conditions",
        condition("modifications", [{**TTX, "type": "SectionLists"}]),
        "conditions.modifications[0].type",
        "modification type 'SectionLists' unsupported",
    ),
    Case(
        "section_list of an unknown list",
        "inputs-conditions",
        condition(
            "modifications", [{**TTX, "type": "section_list", "section_configure": "apicals.g_pas = 0"}]
        ),
        "conditions.modifications[0].section_configure",
        "is not an assignment to <list>.<attribute> (list one of",
    ),
    Case(
        "compartment set not in the file",
        "inputs-conditions",
        condition(
            "modifications",
            [
                {
                    "name": "c",
                    "type": "compartment_set",
                    "compartment_set": "x",
                    "section_configure": "g_pas = 0",
                }
            ],
        ),
        "conditions.modifications[0].compartment_set",
        "given but no compartment_sets_file",
    ),
    Case(
        "node set operator on the wrong type",
        "inputs-conditions",
        compose(
            node_sets(bad={"population": "neurons", "x": {"$regex": "2"}}),
            condition("connection_overrides", [{**OVERRIDE, "target": "bad"}]),
        ),
        "connection_overrides[0].target",
        "node set 'bad': $regex needs a string pattern and a string attribute, 'x' is not",
    ),
    Case(
        "override negative weight",
        "inputs-conditions",
        condition("connection_overrides", [{**OVERRIDE, "weight": -1}]),
        "connection_overrides[0].weight",
        "weight must be a number >= 0",
    ),
    Case(
        "override onto an unknown node set",
        "inputs-conditions",
        condition("connection_overrides", [{**OVERRIDE, "target": "Nobody"}]),
        "connection_overrides[0].target",
        "node set 'Nobody' is not defined",
    ),
    Case(
        "override configuring synapses from a time on",
        "inputs-conditions",
        condition("connection_overrides", [{**OVERRIDE, "delay": 100.0, "synapse_configure": "%s.tau2 = 5"}]),
        "connection_overrides[0].synapse_configure",
        "synapse_configure cannot act from a time on",
    ),
    Case(
        "override with a negative delay",
        "inputs-conditions",
        condition("connection_overrides", [{**OVERRIDE, "delay": -5}]),
        "connection_overrides[0].delay",
        "delay must be a number >= 0",
    ),
    Case(
        "override synapse_configure without %s",
        "inputs-conditions",
        condition("connection_overrides", [{**OVERRIDE, "synapse_configure": "tau2 = 5"}]),
        "connection_overrides[0].synapse_configure",
        "hoc code with %s",
    ),
    # output
    Case("output folder is a file", "output-dir", output_is_a_file, "output.output_dir", "is a file"),
    # neurovascular coupling
    Case(
        "nvc on a circuit without endfeet",
        "nvc-circuit",
        edit(lambda d: msr(d).update(nvc={"enabled": True})),
        "multiscale_run.nvc",
        "type 'endfoot', found none",
    ),
    # ranks
    Case(
        "too many ranks",
        "ranks",
        lambda sim: None,
        "node_set",
        "64 MPI ranks for 6 cells",
        args=("--ranks", "64"),
    ),
]


# ----------------------------------------------------------------------------- the test
def snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file under ``root`` except under ``skip``."""
    out = {}
    for path in root.rglob("*"):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        if path.is_file():
            stat = path.stat()
            out[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def template(tmp_path_factory, default_template) -> Path:
    """A template whose simulation config is known to pass ``msr check``."""
    sim = tmp_path_factory.mktemp("corpus") / "sim"
    shutil.copytree(default_template, sim)
    result = CliRunner().invoke(main, ["check", str(sim)])
    assert result.exit_code == 0, result.stderr
    return sim


def _mod_temporaries() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("msr-check-mod-*")}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_input(template, tmp_path, case, monkeypatch):
    # check's temporaries go to a folder of this test's own: other tests' runs create theirs in /tmp
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    sim = tmp_path / "sim"
    shutil.copytree(template, sim)
    case.change(sim)
    (tmp_path / "outside.txt").write_text("a file beside the simulation folder")
    before = (snapshot(tmp_path, skip=sim), snapshot(template), snapshot(data_path("templates")))
    temporaries = _mod_temporaries()

    result = CliRunner().invoke(main, ["check", str(sim), *case.args], env=dict(case.env))

    assert result.exit_code == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    file = (config_path(sim) if case.file == "config" else circuit_path(sim)).resolve()
    lines = [
        line for line in result.stderr.splitlines() if line.startswith(f"msr: error: {file}: {case.key}: ")
    ]
    assert any(case.words in line for line in lines), result.stderr
    after = (snapshot(tmp_path, skip=sim), snapshot(template), snapshot(data_path("templates")))
    assert after == before
    assert _mod_temporaries() == temporaries


def test_every_rule_has_a_case():
    """Every rule has a corpus case (simulator-available: tests/integration/test_provenance.py, which
    hides the optional libraries from a real ``msr check`` / ``msr compute``)."""
    covered = {c.rule for c in CASES} | {"simulator-available"}
    assert {rule for rule, _ in RULES} <= covered, {rule for rule, _ in RULES} - covered


def test_the_corpus_is_large():
    assert len(CASES) >= 100
