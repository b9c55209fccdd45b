"""Broken configs: each gives one line naming the file and the JSON path, exit code 2, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from multiscale_run.cli import main


@pytest.fixture
def sim(default_sim) -> Path:
    return default_sim


def edit(sim: Path, change) -> None:
    path = sim / "simulation_config.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def check(sim: Path, *args: str):
    result = CliRunner().invoke(main, ["check", str(sim), *args])
    return result.exit_code, result.stderr, result.stdout


def coupling(data: dict, index: int) -> dict:
    return data["multiscale_run"]["couplings"][index]


CASES = [
    # (id, change, expected JSON path, expected words in the message)
    ("wrong type", lambda d: d["run"].__setitem__("tstop", "long"), "run.tstop", "wrong type"),
    (
        "unknown top-level key",
        lambda d: d.__setitem__("node_set_file", "x.json"),
        "node_set_file",
        "unknown key",
    ),
    (
        "unknown msr key",
        lambda d: d["multiscale_run"]["neuron"].__setitem__("ndt", 2),
        "multiscale_run.neuron.ndt",
        "unknown key",
    ),
    ("missing dt", lambda d: d["run"].pop("dt"), "run.dt", "missing required key"),
    (
        "missing network file",
        lambda d: d.__setitem__("network", "nowhere/circuit_config.json"),
        "network",
        "circuit config not found",
    ),
    (
        "missing node sets file",
        lambda d: d.__setitem__("node_sets_file", "nope.json"),
        "node_sets_file",
        "node sets file not found",
    ),
    (
        "unknown node set",
        lambda d: d.__setitem__("node_set", "Layer9"),
        "node_set",
        "unknown node set 'Layer9'",
    ),
    (
        "tstop not a multiple of dt",
        lambda d: d["run"].__setitem__("tstop", 100.01),
        "run.tstop",
        "not a multiple of run.dt",
    ),
    (
        "report dt not a multiple",
        lambda d: d["multiscale_run"]["metabolism"]["reports"][0].__setitem__(
            "dt_ms", 1.5 * d["multiscale_run"]["metabolism"]["ndts"] * d["run"]["dt"]
        ),
        "multiscale_run.metabolism.reports[0].dt_ms",
        "not a multiple",
    ),
    (
        "ndts below 1",
        lambda d: d["multiscale_run"]["metabolism"].__setitem__("ndts", 0),
        "multiscale_run.metabolism.ndts",
        "less than the minimum",
    ),
    (
        "unknown simulator",
        lambda d: coupling(d, 0).__setitem__("src", "nest"),
        "multiscale_run.couplings[0].src",
        "invalid value",
    ),
    (
        "disabled simulator",
        lambda d: coupling(d, 0).__setitem__("dest", "steps"),
        "multiscale_run.couplings[0].dest",
        "not enabled",
    ),
    (
        "unknown source variable",
        lambda d: coupling(d, 0).__setitem__("src_variable", "atp"),
        "multiscale_run.couplings[0].src_variable",
        "neuron has no variable 'atp'",
    ),
    (
        "unknown destination variable",
        lambda d: coupling(d, 1).__setitem__("dest_variable", "Na_x"),
        "multiscale_run.couplings[1].dest_variable",
        "metabolism has no variable 'Na_x'",
    ),
    (
        "unknown operator",
        lambda d: coupling(d, 0).__setitem__("operator", "segment_to_moon"),
        "multiscale_run.couplings[0].operator",
        "unknown operator",
    ),
    (
        "operator spaces mismatch",
        lambda d: coupling(d, 2).__setitem__("operator", "segment_to_neuron_area_mean"),
        "multiscale_run.couplings[2].operator",
        "maps segment to neuron",
    ),
    (
        "merge without write-back",
        lambda d: d["multiscale_run"]["couplings"].append(
            {
                "src": "metabolism",
                "src_variable": "ADP_n",
                "dest": "neuron",
                "dest_variable": "adpi",
                "operator": "neuron_to_segment",
                "action": "merge",
            }
        ),
        "multiscale_run.couplings[3].src_variable",
        "read-only",
    ),
    (
        "unsafe transform",
        lambda d: coupling(d, 2).__setitem__("transform", "vals.__class__"),
        "multiscale_run.couplings[2].transform",
        "Attribute is not allowed",
    ),
    (
        "transform with unknown name",
        lambda d: coupling(d, 2).__setitem__("transform", "vals * scale"),
        "multiscale_run.couplings[2].transform",
        "unknown name 'scale'",
    ),
    (
        "merge with a transform",
        lambda d: coupling(d, 0).__setitem__("transform", "vals * 2"),
        "multiscale_run.couplings[0].transform",
        "merge cannot have a transform",
    ),
    (
        "invalid action",
        lambda d: coupling(d, 0).__setitem__("action", "add"),
        "multiscale_run.couplings[0].action",
        'invalid value "add"',
    ),
    (
        "coupling period not a multiple",
        lambda d: coupling(d, 0).__setitem__("ndts", d["multiscale_run"]["metabolism"]["ndts"] + 1),
        "multiscale_run.couplings[0].ndts",
        "is not a multiple of the destination's ndts",
    ),
    (
        "check of unknown variable",
        lambda d: d["multiscale_run"]["checks"][0].__setitem__("variable", "ATP"),
        "multiscale_run.checks[0].variable",
        "metabolism has no variable 'ATP'",
    ),
    (
        "check without bounds",
        lambda d: d["multiscale_run"]["checks"].append(
            {"simulator": "metabolism", "variable": "ATP_n", "response": "abort"}
        ),
        "multiscale_run.checks[2]",
        "at least one bound",
    ),
    (
        "unknown response",
        lambda d: d["multiscale_run"]["checks"][0].__setitem__("response", "panic"),
        "multiscale_run.checks[0].response",
        "invalid value",
    ),
    (
        "unknown substitution",
        lambda d: d.__setitem__("network", "${CIRCUIT_DIR}/circuit_config.json"),
        "network",
        "unknown substitution ${CIRCUIT_DIR}",
    ),
    (
        "report of unknown variable",
        lambda d: d["multiscale_run"]["neuron"]["reports"][0].__setitem__("variable", "vm"),
        "multiscale_run.neuron.reports[0].variable",
        "neuron has no variable 'vm'",
    ),
    (
        "report of unknown node set",
        lambda d: d["multiscale_run"]["neuron"]["reports"][0].__setitem__("node_set", "Nobody"),
        "multiscale_run.neuron.reports[0].node_set",
        "unknown node set 'Nobody'",
    ),
    (
        "population on a neuron report",
        lambda d: d["multiscale_run"]["neuron"]["reports"][0].__setitem__("population", "All"),
        "multiscale_run.neuron.reports[0].population",
        "its groups are named after the populations of its cells",
    ),
    (
        "soma operator outside neuron",
        lambda d: d["multiscale_run"]["metabolism"]["reports"][0].__setitem__("operator", "soma"),
        "multiscale_run.metabolism.reports[0].operator",
        "neuron reports only",
    ),
    (
        "no simulator enabled",
        lambda d: [d["multiscale_run"][s].__setitem__("enabled", False) for s in ("neuron", "metabolism")],
        "multiscale_run",
        "no simulator",
    ),
]


def test_valid_config_passes(sim):
    code, err, out = check(sim)
    assert code == 0, err
    assert "OK" in out and "simulation_config.json" in out


@pytest.mark.parametrize(("change", "path", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_broken_config(sim, change, path, words):
    edit(sim, change)
    code, err, _ = check(sim)
    assert code == 2
    assert "Traceback" not in err
    config = str((sim / "simulation_config.json").resolve())
    lines = [line for line in err.splitlines() if f": {path}: " in line]
    assert lines, f"no line for {path} in:\n{err}"
    assert any(line.startswith(f"msr: error: {config}: {path}: ") and words in line for line in lines), err


def test_malformed_json_names_line_and_column(sim):
    path = sim / "simulation_config.json"
    text = path.read_text().splitlines()
    text[2] = text[2] + " oops"
    path.write_text("\n".join(text))
    code, err, _ = check(sim)
    assert code == 2
    assert f"{path.resolve()}: line 3 column" in err and "malformed JSON" in err


def test_every_problem_is_reported(sim):
    def change(d):
        d["run"]["tstop"] = 100.01
        coupling(d, 0)["operator"] = "segment_to_moon"
        d["multiscale_run"]["checks"][0]["variable"] = "ATP"

    edit(sim, change)
    _, err, _ = check(sim)
    assert len([line for line in err.splitlines() if line.startswith("msr: error:")]) == 3


def test_too_many_ranks(sim):
    code, err, _ = check(sim, "--ranks", "64")
    assert code == 2
    assert "64 MPI ranks for 6 cells" in err


def test_real_process_exit_code_and_no_traceback(sim):
    edit(sim, lambda d: d["run"].__setitem__("tstop", "long"))
    proc = subprocess.run(
        [sys.executable, "-m", "multiscale_run.cli", "check", str(sim)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "run.tstop: wrong type" in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "multiscale_run.cli", "--verbose", "check", str(sim)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and "Traceback" in proc.stderr


def test_compute_refuses_a_broken_config(sim):
    edit(sim, lambda d: coupling(d, 0).__setitem__("operator", "segment_to_moon"))
    result = CliRunner().invoke(main, ["compute", str(sim)])
    assert result.exit_code == 2
    assert "unknown operator" in result.stderr
    assert not (sim / "output").exists()
