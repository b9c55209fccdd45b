"""The random SONATA inputs under real mpiexec: shot noise, relative shot noise, (relative)
Ornstein-Uhlenbeck clamps and spontaneous minis give identical spikes and soma voltages on 1,
2 and 4 ranks (each stream is keyed by seed, input and node, never by rank)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from conftest import run_mpi_python

from multiscale_run.circuit.default import build_default_circuit

SCRIPT = """
import sys
from pathlib import Path
import numpy as np
from multiscale_run.parallel import Parallel
from multiscale_run.simulators.neuron import NeuronSim, NeuronSettings

d, out = Path(sys.argv[1]), Path(sys.argv[2])
shot = {"input_type": "current_clamp", "rise_time": 0.5, "decay_time": 5.0, "delay": 5.0, "duration": 90.0}
inputs = {
    "shot": {**shot, "module": "shot_noise", "rate": 400.0, "amp_mean": 0.1, "amp_var": 0.002,
             "node_set": "Excitatory"},
    "relshot": {**shot, "module": "relative_shot_noise", "mean_percent": 150.0, "sd_percent": 40.0,
                "node_set": "neurons", "random_seed": 11},
    "ou": {"input_type": "current_clamp", "module": "ornstein_uhlenbeck", "tau": 3.0, "mean": 0.2,
           "sigma": 0.1, "delay": 0.0, "duration": 100.0, "node_set": "Inhibitory"},
    "relou": {"input_type": "current_clamp", "module": "relative_ornstein_uhlenbeck", "tau": 3.0,
              "mean_percent": 20.0, "sd_percent": 30.0, "delay": 0.0, "duration": 100.0,
              "node_set": "neurons"},
}
minis = ({"name": "minis", "source": "neurons", "target": "neurons", "spont_minis": 20.0},)
par = Parallel()
sim = NeuronSim.from_settings(NeuronSettings(
    circuit_config=d / "circuit_config.json", node_set="neurons", node_sets_file=d / "node_sets.json",
    inputs=inputs, tstop_ms=100.0, random_seed=4, stimulus_seed=2,
    connection_overrides=tuple(("connection_overrides[0]", m) for m in minis)), par)
sim.advance(100.0)
ids, times = sim.spikes()
ids, times = par.gather_concat(ids), par.gather_concat(times)
gids, v = par.gather_concat(sim.gids), par.gather_concat(sim.get("v")[sim.soma_segment_index()])
if par.is_root:
    np.savez(out, ids=ids, times=times, gids=gids, v=v)
"""


@pytest.fixture(scope="module")
def circuit(tmp_path_factory):
    d = tmp_path_factory.mktemp("random_inputs")
    build_default_circuit(d, n_neurons=6, seed=3)
    with h5py.File(d / "nodes.h5", "r+") as f:
        group = f["nodes/neurons/0"]
        n = len(group["morphology"])
        group["dynamics_params/threshold_current"] = np.linspace(0.2, 0.4, n)
    return d


@pytest.mark.mpi
def test_random_inputs_identical_on_1_2_4_ranks(circuit, tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    results = {}
    for n in (1, 2, 4):
        out = tmp_path / f"out_{n}.npz"
        proc = run_mpi_python(n, [str(script), str(circuit), str(out)], timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        got = np.load(out)
        order = np.lexsort((got["times"], got["ids"]))
        results[n] = (got["ids"][order], got["times"][order], got["v"][np.argsort(got["gids"])])
    ids, times, v = results[1]
    assert len(ids) > 0, "the inputs must make the cells fire for this test to mean anything"
    for n in (2, 4):
        np.testing.assert_array_equal(results[n][0], ids)
        np.testing.assert_allclose(results[n][1], times, rtol=0, atol=1e-9)
        np.testing.assert_allclose(results[n][2], v, rtol=0, atol=1e-9)
