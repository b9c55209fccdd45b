"""`msr check` warnings: what does not stop a run but deserves a fix (neurons outside the mesh)."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner
from conftest import needs_steps

from multiscale_run.cli import main
from multiscale_run.mesh import generate_mesh


@needs_steps
def test_neurons_outside_an_existing_mesh_are_reported(tmp_path):
    sim = tmp_path / "sim"
    assert CliRunner().invoke(main, ["init", str(sim), "--neurons", "4", "--steps"]).exit_code == 0
    path = sim / "simulation_config.json"
    config = json.loads(path.read_text())
    # a mesh holding only the lowest 300 µm of the column (the column rises along y from 0)
    generate_mesh(sim / "small.msh", np.array([-400.0, -50.0, -400.0]), np.array([400.0, 300.0, 400.0]), {})
    config["multiscale_run"]["steps"]["mesh_file"] = "small.msh"
    config["multiscale_run"]["steps"]["solver"] = "deterministic"  # runs without STEPS installed
    path.write_text(json.dumps(config))
    result = CliRunner().invoke(main, ["check", str(sim)])
    assert result.exit_code == 0, result.stderr
    warning = next(line for line in result.stdout.splitlines() if line.startswith("warning: "))
    assert ": multiscale_run.steps.mesh_file: " in warning and "lie outside the mesh" in warning
    outside, total = (int(w) for w in warning.split(": ")[-2].split(" morphology")[0].split(" of "))
    assert 0 < outside < total


@needs_steps
def test_a_mesh_generated_around_the_circuit_holds_every_neuron(tmp_path):
    from multiscale_run.config import load
    from multiscale_run.mesh import locate_points, read_mesh
    from multiscale_run.simulators.neuron.circuit import placed_morphology_points
    from multiscale_run.simulators.neuron.settings import settings_from_config

    sim = tmp_path / "sim"
    assert CliRunner().invoke(main, ["init", str(sim), "--neurons", "4", "--steps"]).exit_code == 0
    config = load(sim)
    points, _ = placed_morphology_points(settings_from_config(config))
    lo, hi = points.min(axis=0), points.max(axis=0)
    generate_mesh(sim / "mesh" / "extracellular.msh", lo, hi, config.simulator("steps")["mesh_generation"])
    path = sim / "simulation_config.json"
    data = json.loads(path.read_text())
    data["multiscale_run"]["steps"]["solver"] = "deterministic"  # runs without STEPS installed
    path.write_text(json.dumps(data))
    assert (locate_points(points, read_mesh(sim / "mesh" / "extracellular.msh")) >= 0).all()
    result = CliRunner().invoke(main, ["check", str(sim)])
    assert result.exit_code == 0 and "warning" not in result.stdout
