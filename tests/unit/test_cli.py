"""The command line as a user meets it: version, help, init, edit-mod-files, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from multiscale_run import __version__
from multiscale_run.cli import main


def invoke(*args):
    return CliRunner().invoke(main, list(args))


def test_version_and_alias():
    assert __version__ in invoke("--version").output
    for exe in ("msr", "multiscale-run"):
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import sys; from multiscale_run.cli import main; sys.argv=['{exe}', '--version']; main()",
            ],
            capture_output=True,
            text=True,
        )
        assert __version__ in proc.stdout


@pytest.mark.parametrize(
    "command", ["init", "check", "compute", "status", "post-processing", "edit-mod-files", "demo", "sweep"]
)
def test_every_command_has_help(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert "Usage: " in result.output and len(result.output.splitlines()) > 4


def test_init_writes_a_complete_simulation(tmp_path):
    sim = tmp_path / "sim"
    result = invoke("init", str(sim), "--neurons", "5", "--account", "proj42", "--partition", "prod")
    assert result.exit_code == 0, result.output + result.stderr
    for name in ("simulation_config.json", "simulation.sbatch", "postproc.ipynb"):
        assert (sim / name).is_file(), name
    config = json.loads((sim / "simulation_config.json").read_text())
    assert config["multiscale_run"]["version"] == __version__
    assert (sim / config["network"]).is_file()
    sbatch = (sim / "simulation.sbatch").read_text()
    assert "#SBATCH --account=proj42" in sbatch and "#SBATCH --partition=prod" in sbatch
    assert "srun" in sbatch and "msr compute" in sbatch
    assert invoke("check", str(sim)).exit_code == 0


def test_init_refuses_to_overwrite(tmp_path):
    sim = tmp_path / "sim"
    assert invoke("init", str(sim), "--neurons", "3").exit_code == 0
    before = (sim / "simulation_config.json").read_text()
    result = invoke("init", str(sim), "--neurons", "4")
    assert result.exit_code == 2 and "already holds a simulation" in result.stderr
    assert (sim / "simulation_config.json").read_text() == before
    assert invoke("init", str(sim), "--neurons", "4", "--force").exit_code == 0


def test_init_with_an_existing_circuit(tmp_path):
    source = tmp_path / "source"
    assert invoke("init", str(source), "--neurons", "4").exit_code == 0
    network = source / json.loads((source / "simulation_config.json").read_text())["network"]
    sim = tmp_path / "sim"
    result = invoke("init", str(sim), "--circuit", str(network))
    assert result.exit_code == 0, result.stderr
    config = json.loads((sim / "simulation_config.json").read_text())
    assert config["network"] == str(network.resolve())
    assert not (sim / "circuit").exists()


def test_edit_mod_files_copies_the_mechanisms(tmp_path):
    sim = tmp_path / "sim"
    invoke("init", str(sim), "--neurons", "3")
    result = invoke("edit-mod-files", str(sim))
    assert result.exit_code == 0, result.stderr
    mods = sorted(p.name for p in (sim / "mod").glob("*.mod"))
    assert mods, "no .mod file copied"


def test_check_of_a_missing_folder_is_a_user_error(tmp_path):
    result = invoke("check", str(tmp_path / "nowhere"))
    assert result.exit_code == 2
    assert "simulation_config.json: (top level): file not found" in result.stderr
