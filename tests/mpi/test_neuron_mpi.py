"""NeuronSim under real mpiexec: identical spikes on 1, 2 and 4 ranks, read back with libsonata."""

from __future__ import annotations

import libsonata
import numpy as np
import pytest
from conftest import run_mpi_python

from multiscale_run.circuit.default import build_default_circuit

SCRIPT = """
import sys
from pathlib import Path
import numpy as np
from multiscale_run.parallel import Parallel
from multiscale_run.circuit.default import build_default_circuit
from multiscale_run.circuit.spikes import write_spike_file
from multiscale_run.simulators.neuron import NeuronSim, NeuronSettings

circuit_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
tstop = float(sys.argv[3])
inputs = dict(np.load(circuit_dir / "inputs.npy", allow_pickle=True).item())
par = Parallel()
settings = NeuronSettings(circuit_config=circuit_dir / "circuit_config.json", node_set="neurons",
                          node_sets_file=circuit_dir / "node_sets.json", inputs=inputs,
                          tstop_ms=tstop)
sim = NeuronSim.from_settings(settings, par)
for t in np.arange(5.0, tstop + 1e-9, 5.0):
    sim.advance(t)
ids, times = sim.spikes()
ids, times = par.gather_concat(ids), par.gather_concat(times)
n_seg = par.total(sim.n_segments)
n_cells = par.total(len(sim.gids))
if par.is_root:
    write_spike_file(out, {"neurons": (ids, times)})
    print("SEGMENTS", int(n_seg), "CELLS", int(n_cells))
"""


@pytest.fixture(scope="module")
def small_circuit(tmp_path_factory):
    d = tmp_path_factory.mktemp("circuit")
    c = build_default_circuit(d, n_neurons=16, seed=3)
    np.save(d / "inputs.npy", c.inputs, allow_pickle=True)
    return d


@pytest.mark.mpi
def test_spikes_identical_on_1_2_4_ranks(small_circuit, tmp_path):
    circuit_dir = small_circuit
    script = tmp_path / "run_neuron.py"
    script.write_text(SCRIPT)
    results = {}
    for n in (1, 2, 4):
        out = tmp_path / f"spikes_{n}.h5"
        proc = run_mpi_python(n, [str(script), str(circuit_dir), str(out), "250"], timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "CELLS 16" in proc.stdout
        pop = libsonata.SpikeReader(str(out))["neurons"]
        spikes = np.array(pop.get(), dtype=float).reshape(-1, 2)
        results[n] = spikes[np.lexsort((spikes[:, 0], spikes[:, 1]))]
    assert len(results[1]) > 0, "the circuit must fire in 250 ms for this test to mean anything"
    for n in (2, 4):
        assert results[n].shape == results[1].shape
        np.testing.assert_array_equal(results[n][:, 0], results[1][:, 0])
        np.testing.assert_allclose(results[n][:, 1], results[1][:, 1], rtol=0, atol=1e-9)


@pytest.mark.mpi
def test_more_ranks_than_cells(tmp_path, small_circuit):
    """A rank that owns no cell must not crash NEURON (install-notes: segfault in psolve)."""
    d = tmp_path / "tiny"
    c = build_default_circuit(d, n_neurons=2, seed=5)
    np.save(d / "inputs.npy", c.inputs, allow_pickle=True)
    script = tmp_path / "run_neuron.py"
    script.write_text(SCRIPT)
    proc = run_mpi_python(4, [str(script), str(d), str(tmp_path / "s.h5"), "20"], timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "CELLS 2" in proc.stdout
