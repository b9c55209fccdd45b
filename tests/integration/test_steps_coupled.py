"""End to end: NEURON + STEPS + metabolism (+ blood flow) on the default circuit (issues #6 and #7).

The default simulation from ``msr init --steps`` is run with STEPS's deterministic option; the
K+ the neurons release into the extracellular space must equal the time integral of their K+
current, extracellular K+ near the cells must rise with activity and relax after it, and the
results must not depend on the rank count. The stochastic solver must reproduce a run exactly
with the same seed. With blood flow on, dilating every vessel must raise the F_in that
metabolism sees by the Poiseuille ratio.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import msr_compute as compute
from conftest import needs_steps
from conftest import report_frames as report

from multiscale_run.bloodflow.poiseuille import expected_flow_ratio
from multiscale_run.circuit.default import INPUT_WINDOW_MS
from multiscale_run.cli import main

pytestmark = [needs_steps, pytest.mark.mpi]

AVOGADRO, FARADAY = 6.02214076e23, 96485.33212
N_NEURONS = 8


def make_sim(
    directory: Path, cache: Path, tstop: float, solver: str = "deterministic", bloodflow=False
) -> Path:
    args = ["init", str(directory), "--neurons", str(N_NEURONS), "--tstop", str(tstop), "--steps"]
    # blood flow without neurovascular coupling: only the test's own dilation changes radii
    result = CliRunner().invoke(main, args + (["--bloodflow", "--no-nvc"] if bloodflow else []))
    assert result.exit_code == 0, result.output + result.stderr
    path = directory / "simulation_config.json"
    config = json.loads(path.read_text())
    msr = config["multiscale_run"]
    msr["cache_dir"] = str(cache)
    msr["progress"] = False
    msr["steps"]["solver"] = solver
    msr["steps"]["mesh_file"] = str(cache / "mesh.msh")  # one mesh for every run
    msr["neuron"]["reports"].append(
        {"name": "ik_total", "variable": "ik_nA", "operator": "segment_to_neuron_sum", "dt_ms": 1.0}
    )
    msr["steps"]["reports"].append({"name": "K_count", "variable": "K_count", "dt_ms": 1.0})
    path.write_text(json.dumps(config, indent=2))
    return directory


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def deterministic_runs(tmp_path_factory, cache) -> dict[int, Path]:
    out = {1: compute(make_sim(tmp_path_factory.mktemp("det1"), cache, 700.0))}
    for n in (2, 4):
        out[n] = compute(make_sim(tmp_path_factory.mktemp(f"det{n}"), cache, 120.0), ranks=n)
    return out


TOTALS = """
import json, sys
from multiscale_run.config import load
from multiscale_run.parallel import Parallel
from multiscale_run.simulation import Simulation
sim = Simulation(load(sys.argv[1]), Parallel(), progress=False)
sim.setup()
steps, neuron = sim.simulators["steps"], sim.simulators["neuron"]
before = steps.total_molecules("K")
sim.run()
print(json.dumps({"released": steps.total_molecules("K") - before,
                  "ik_at_tstop_nA": float(neuron.get("ik_nA").sum())}))
"""


def test_k_released_equals_the_integral_of_the_k_current(tmp_path, cache):
    # Totals of ~1e11 molecules are beyond float32 reports: this run is read in float64 in-process.
    sim = make_sim(tmp_path / "k", cache, 400.0)
    proc = subprocess.run(
        [sys.executable, "-c", TOTALS, str(sim)], capture_output=True, text=True, check=False, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    totals = json.loads(proc.stdout.strip().splitlines()[-1])
    _, ik = report(sim / "output" / "ik_total.h5")  # nA per neuron at every STEPS step (1 ms)
    # the coupling at step j (t_j = 1, 2, ... tstop ms) adds ik(t_j) * 1 ms; the report's frames
    # hold t = 0 ... tstop - 1 ms, and the run's final currents give the last one
    integral_nA_ms = ik[1:].sum() + totals["ik_at_tstop_nA"]
    expected = integral_nA_ms * 1e-12 * AVOGADRO / FARADAY
    assert abs(expected) > 1e8
    assert totals["released"] == pytest.approx(expected, rel=1e-6)


def test_extracellular_k_rises_near_active_cells_and_relaxes(deterministic_runs):
    t, k_e = report(deterministic_runs[1] / "K_e_neurons.h5")
    t0, t1 = INPUT_WINDOW_MS
    near = k_e.max(axis=1)  # the neuron whose surroundings change most
    rest = near[t < t0]
    peak = int(np.argmax(near))
    assert np.ptp(rest) < 1e-6 and near[peak] > rest[0] + 5e-4, "K+ must rise near active cells"
    assert t0 < t[peak] < t1 + 150.0
    assert near[-1] < near[peak] - 0.3 * (near[peak] - rest[0]), "K+ must relax after activity"


def test_deterministic_results_do_not_depend_on_the_rank_count(deterministic_runs):
    for name, population in (("K_e_neurons", None), ("K_count", "tets"), ("ATP_n", None), ("soma_v", None)):
        t1, ref = report(deterministic_runs[1] / f"{name}.h5", population)
        for n in (2, 4):
            t, data = report(deterministic_runs[n] / f"{name}.h5", population)
            np.testing.assert_array_equal(t, t1[: len(t)])
            np.testing.assert_allclose(
                data, ref[: len(t)], rtol=1e-9, atol=1e-12, err_msg=f"{name}, {n} ranks"
            )


def test_stochastic_runs_reproduce_with_the_same_seed(tmp_path, cache):
    runs = [
        compute(make_sim(tmp_path / f"s{i}", cache, 15.0, solver="TetOpSplit"), ranks=2) for i in range(2)
    ]
    _, a = report(runs[0] / "K_count.h5", "tets")
    _, b = report(runs[1] / "K_count.h5", "tets")
    np.testing.assert_array_equal(a, b)


def test_dilation_raises_f_in_as_poiseuille_predicts(tmp_path, cache):
    sim = make_sim(tmp_path / "flow", cache, 300.0, bloodflow=True)
    path = sim / "simulation_config.json"
    config = json.loads(path.read_text())
    # dilate every vessel by 10 % every 100 ms (a coupling that sets the radii from themselves):
    # re-solved at the next blood-flow step, seen by metabolism right after it
    config["multiscale_run"]["couplings"].append(
        {
            "name": "dilation",
            "src": "bloodflow",
            "src_variable": "radius",
            "dest": "bloodflow",
            "dest_variable": "radius",
            "operator": "identity",
            "action": "set",
            "transform": "vals * 1.1",
            "ndts": 4000,
        }
    )
    path.write_text(json.dumps(config, indent=2))
    t, f_in = report(compute(sim) / "F_in.h5")  # the default report, every 100 ms
    before, after = f_in[t < 100.0], f_in[t >= 200.0]
    np.testing.assert_allclose(before, 0.012, rtol=1e-6)  # float32 report
    np.testing.assert_allclose(after, 0.012 * expected_flow_ratio(1.1), rtol=1e-6)
