"""Connection overrides with a ``delay`` under real mpiexec: the thalamic synapses (spikes
replayed from 50 ms on) 3× stronger from 0 ms and cut at 110 ms give identical spikes on 1, 2
and 4 ranks (each rank changes the weights of its own NetCons at the same time); before the cut
the spikes are those of the 3× run, after it others."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_mpi_python

from multiscale_run.circuit.default import build_default_circuit

SCRIPT = """
import json, sys
from pathlib import Path
import numpy as np
from multiscale_run.parallel import Parallel
from multiscale_run.simulators.neuron import NeuronSim, NeuronSettings

d, out, overrides = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
drive = {"input_type": "current_clamp", "module": "shot_noise", "rise_time": 0.5, "decay_time": 5.0,
         "delay": 5.0, "duration": 150.0, "rate": 400.0, "amp_mean": 0.15, "amp_var": 0.002,
         "node_set": "neurons"}
replay = {"input_type": "spikes", "module": "synapse_replay", "spike_file": str(d / "input_spikes.h5"),
          "source": "thalamus", "node_set": "neurons", "delay": 0.0, "duration": 1000.0}
par = Parallel()
sim = NeuronSim.from_settings(NeuronSettings(
    circuit_config=d / "circuit_config.json", node_set="neurons", node_sets_file=d / "node_sets.json",
    inputs={"drive": drive, "replay": replay}, tstop_ms=160.0, random_seed=4, stimulus_seed=2,
    connection_overrides=tuple((f"connection_overrides[{i}]", o) for i, o in enumerate(overrides))), par)
sim.advance(160.0)
ids, times = sim.spikes()
ids, times = par.gather_concat(ids), par.gather_concat(times)
if par.is_root:
    order = np.lexsort((times, ids))
    np.savez(out, ids=ids[order], times=times[order])
"""
OVERRIDES = [
    {"name": "strong", "source": "thalamus", "target": "neurons", "weight": 3.0},
    {"name": "cut", "source": "thalamus", "target": "neurons", "weight": 0.0, "delay": 110.0},
]


@pytest.fixture(scope="module")
def circuit(tmp_path_factory):
    d = tmp_path_factory.mktemp("delayed_mpi")
    build_default_circuit(d, n_neurons=6, seed=3)
    return d


def _spikes(circuit, tmp_path, ranks: int, overrides) -> tuple[np.ndarray, np.ndarray]:
    out = tmp_path / f"spikes{ranks}_{len(overrides)}.npz"
    proc = run_mpi_python(ranks, ["-c", SCRIPT, str(circuit), str(out), json.dumps(overrides)], timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = np.load(out)
    return found["ids"], found["times"]


@pytest.mark.mpi
def test_delayed_overrides_are_the_same_on_any_rank_count(circuit, tmp_path):
    ids, times = _spikes(circuit, tmp_path, 1, OVERRIDES)
    assert len(ids) > 5
    for ranks in (2, 4):
        other_ids, other_times = _spikes(circuit, tmp_path, ranks, OVERRIDES)
        np.testing.assert_array_equal(other_ids, ids)
        np.testing.assert_array_equal(other_times, times)
    strong_ids, strong_times = _spikes(circuit, tmp_path, 1, OVERRIDES[:1])
    before = times < 110.0
    np.testing.assert_array_equal(ids[before], strong_ids[strong_times < 110.0])
    np.testing.assert_array_equal(times[before], strong_times[strong_times < 110.0])
    assert not np.array_equal(strong_times, times), "the cut changes the later spikes"
    assert (times >= 110.0).any()
