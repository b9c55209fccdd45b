"""``msr check`` on BBP's SSCx five-cell circuit: a synapse on a section its target's morphology
does not have is named (edges file, edge, population, node) before any compute."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import pytest
from click.testing import CliRunner

from multiscale_run.cli import main

ROOT = Path(__file__).resolve().parents[3] / "shared" / "data" / "circuits" / "bbp_sub_mini5"
pytestmark = pytest.mark.skipif(not ROOT.is_dir(), reason="the shared BBP circuit is not installed")


def _check(tmp_path: Path, circuit: Path) -> tuple[int, str]:
    sim = tmp_path / "sim"
    args = [
        "init",
        str(sim),
        "--circuit",
        str(circuit),
        "--circuit-mod-dir",
        str(ROOT / "mod"),
        "--no-metabolism",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["check", str(sim)])
    return result.exit_code, result.output


def test_the_shipped_circuit_checks_clean(tmp_path):
    code, output = _check(tmp_path, ROOT / "sub_mini5" / "circuit_config.json")
    assert code == 0, output


def test_an_out_of_range_section_id_is_named(tmp_path):
    circuit = tmp_path / "sub_mini5"
    shutil.copytree(ROOT / "sub_mini5", circuit)
    with h5py.File(circuit / "default" / "edges.h5", "r+") as f:
        g = f["edges/default"]
        target = int(g["target_node_id"][5])
        ids = g["0/afferent_section_id"]
        ids[5] = 500
    code, output = _check(tmp_path, circuit / "circuit_config.json")
    assert code == 2
    line = next(x for x in output.splitlines() if "edges default edge 5.afferent_section_id" in x)
    assert str(circuit / "default" / "edges.h5") in line
    assert f"onto population default node {target} name section 500" in line


def test_missing_mechanisms_are_named_with_the_fix(tmp_path):
    sim = tmp_path / "sim"
    args = ["init", str(sim), "--circuit", str(ROOT / "simulation_config_mini.json"), "--no-metabolism"]
    assert CliRunner().invoke(main, args).exit_code == 0
    result = CliRunner().invoke(main, ["check", str(sim)])
    assert result.exit_code == 2
    lines = result.output.splitlines()
    cell = next(x for x in lines if "population default node 0 (hoc:cNAC187) inserts mechanisms" in x)
    assert "'NaTs2_t'" in cell and "msr init --circuit-mod-dir" in cell
    assert any("edges default.syn_type_id" in x and "ProbGABAAB_EMS" in x for x in lines)
