"""The SONATA ``reports`` section derived from the multiscale_run reports, and ``msr check`` on it.

libsonata's ``SimulationConfig`` (which bluepysnap uses) parses what ``msr init`` writes; the check
finds the section stale after an edit and names the command that regenerates it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import libsonata
import pytest
from click.testing import CliRunner

from multiscale_run.cli import main
from multiscale_run.output.sonata_section import sonata_reports, stale_reports


@pytest.fixture
def sim(default_sim) -> Path:
    return default_sim


def _config(sim: Path) -> dict:
    return json.loads((sim / "simulation_config.json").read_text())


def _write(sim: Path, config: dict) -> None:
    (sim / "simulation_config.json").write_text(json.dumps(config, indent=2))


def _check(sim: Path):
    result = CliRunner().invoke(main, ["check", str(sim)])
    return result.exit_code, result.stderr, result.stdout


def test_libsonata_parses_the_section_msr_init_writes(sim):
    config = _config(sim)
    parsed = libsonata.SimulationConfig.from_file(str(sim / "simulation_config.json"))
    msr = config["multiscale_run"]
    names = [r["name"] for s in ("neuron", "metabolism") for r in msr[s]["reports"]]
    assert sorted(parsed.list_report_names) == sorted(names)
    run_dt = config["run"]["dt"]
    for sim_name in ("neuron", "metabolism"):
        for rep in msr[sim_name]["reports"]:
            r = parsed.report(rep["name"])
            assert r.type == libsonata.SimulationConfig.Report.Type.compartment
            assert r.sections == libsonata.SimulationConfig.Report.Sections.soma
            assert r.variable_name == rep["variable"]
            assert r.dt == pytest.approx(rep.get("dt_ms") or msr[sim_name]["ndts"] * run_dt)
            assert (r.start_time, r.end_time) == (0.0, 300.0)
            assert Path(r.file_name) == (sim / "output" / f"{rep['name']}.h5").resolve()
            assert r.cells == config["node_set"]
    # units from the variables (libsonata would say mV for an absent unit)
    assert parsed.report("soma_v").unit == "mV" and parsed.report("ATP_n").unit == "mM"


def _dict_config(**msr) -> dict:
    return {
        "run": {"tstop": 100.0, "dt": 0.025},
        "network": "circuit_config.json",
        "multiscale_run": msr,
    }


def test_windows_spaces_and_node_sets():
    config = _dict_config(
        neuron={
            "ndts": 4,
            "reports": [
                {"name": "vseg", "variable": "v", "operator": "identity", "dt_ms": 0.5},
                {"name": "vsoma", "variable": "v", "start_ms": 10, "end_ms": 500, "node_set": "L5"},
            ],
        },
        metabolism={"ndts": 40, "reports": [{"name": "atp", "variable": "ATP_n", "unit": "µM"}]},
        steps={"enabled": False, "reports": [{"name": "k", "variable": "K_conc"}]},
    )
    out = sonata_reports(config)
    assert set(out) == {"vseg", "vsoma", "atp"}  # disabled steps: no report
    assert out["vseg"] == {
        "type": "compartment",
        "sections": "all",
        "compartments": "all",
        "variable_name": "v",
        "unit": "mV",
        "dt": 0.5,
        "start_time": 0.0,
        "end_time": 100.0,
        "file_name": "vseg.h5",
    }
    # no operator on a segment variable: its soma value; end_ms beyond tstop is clipped
    assert out["vsoma"]["sections"] == "soma" and out["vsoma"]["cells"] == "L5"
    assert (out["vsoma"]["dt"], out["vsoma"]["start_time"], out["vsoma"]["end_time"]) == (0.1, 10.0, 100.0)
    assert (out["atp"]["dt"], out["atp"]["unit"]) == (1.0, "µM")


def test_tet_reports_are_not_declared():
    config = _dict_config(
        neuron={"reports": [{"name": "ko", "variable": "ko", "operator": "segment_to_neuron_volume_mean"}]},
        steps={"reports": [{"name": "k_tets", "variable": "K_conc"}]},
    )
    out = sonata_reports(config)
    assert set(out) == {"ko"} and out["ko"]["sections"] == "soma" and out["ko"]["dt"] == 0.025


def test_stale_reports_names_each_disagreement():
    config = _dict_config(metabolism={"ndts": 40, "reports": [{"name": "atp", "variable": "ATP_n"}]})
    config["reports"] = sonata_reports(config)
    assert stale_reports(config) == {}
    config["reports"]["atp"]["end_time"] = 100  # an int where the float was: still the same
    assert stale_reports(config) == {}
    config["run"]["tstop"] = 200.0
    written, expected = stale_reports(config)["atp"]
    assert (written["end_time"], expected["end_time"]) == (100, 200.0)
    config["reports"] = {"ghost": {"type": "compartment"}}
    assert set(stale_reports(config)) == {"ghost", "atp"}
    config["reports"] = {}  # no section: nothing declared, nothing stale
    assert stale_reports(config) == {}


def test_check_warns_of_a_stale_section_and_the_command_fixes_it(sim):
    assert _check(sim)[0] == 0
    config = _config(sim)
    config["run"]["tstop"] = 400.0
    config["multiscale_run"]["metabolism"]["reports"].pop()  # NADHm_n
    _write(sim, config)
    code, _, out = _check(sim)
    assert code == 0  # a stale section only misleads SONATA readers: a warning, not an error
    line = next(line for line in out.splitlines() if line.startswith("warning: ") and ": reports: " in line)
    assert "NADHm_n is not a per-neuron or per-segment report of multiscale_run" in line
    assert "soma_v has stale end_time" in line
    assert (
        f"python -m multiscale_run.output.sonata_section {(sim / 'simulation_config.json').resolve()}" in line
    )
    proc = subprocess.run(
        [sys.executable, "-m", "multiscale_run.output.sonata_section", str(sim)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    code, err, out = _check(sim)
    assert (code, err) == (0, "") and "warning" not in out
    assert _config(sim)["reports"]["soma_v"]["end_time"] == 400.0


def test_check_accepts_a_config_without_the_section(sim):
    config = _config(sim)
    del config["reports"]
    config["run"]["tstop"] = 400.0
    _write(sim, config)
    assert _check(sim)[0] == 0
