"""Conductance inputs and a multi-level seclamp on msr's generated circuit under real mpiexec:
the same soma voltages on 1 and 2 ranks (inputs spanning cells of both ranks), and every
clamped soma at each level of its clamp within the series resistance's drop."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from conftest import run_mpi_python

from multiscale_run.circuit.default import build_default_circuit

LEVELS = [(-65.0, 10.5), (-45.0, 15.0), (-30.0, 15.0), (-55.0, 10.0)]  # (mV, ms)
TSTOP = 60

SCRIPT = f"""
import sys
from pathlib import Path
import numpy as np
from multiscale_run.parallel import Parallel
from multiscale_run.simulators.neuron import NeuronSim, NeuronSettings

d, out = Path(sys.argv[1]), Path(sys.argv[2])
levels = {LEVELS!r}
inputs = {{
    "steps": {{"input_type": "voltage_clamp", "module": "seclamp", "voltage": levels[0][0],
               "duration": levels[0][1], "voltage_levels": [v for v, _ in levels[1:]],
               "duration_levels": [t for _, t in levels[1:]], "node_set": "held"}},
    "gshot": {{"input_type": "conductance", "module": "shot_noise", "rise_time": 0.5, "decay_time": 5.0,
               "rate": 300.0, "amp_mean": 0.004, "amp_var": 4e-6, "reversal": 0.0, "delay": 2.0,
               "duration": 50.0, "node_set": "neurons"}},
    "gou": {{"input_type": "conductance", "module": "relative_ornstein_uhlenbeck", "tau": 3.0,
             "mean_percent": 100.0, "sd_percent": 50.0, "reversal": -75.0, "delay": 0.0,
             "node_set": "neurons", "random_seed": 5}},
}}
par = Parallel()
sim = NeuronSim.from_settings(NeuronSettings(
    circuit_config=d / "circuit_config.json", node_set="neurons", node_sets_file=d / "node_sets.json",
    inputs=inputs, tstop_ms={TSTOP}, random_seed=4, stimulus_seed=2), par)
soma = sim.soma_segment_index()
owner = {{sec.hname(): c.gid for c in sim.cells for sec in c.sections}}
clamps = [s[0] for s in sim._stimuli if s[0].hname().startswith("SEClamp")]
clamp_of = {{owner[c.get_segment().sec.hname()]: c for c in clamps}}
v, i = [], []
for t in range(1, {TSTOP} + 1):
    sim.advance(float(t))
    v.append(sim.get("v")[soma])
    i.append([clamp_of[int(g)].i if int(g) in clamp_of else np.nan for g in sim.gids])
gids = par.gather_concat(sim.gids)
ranks = par.gather_concat(np.full(len(sim.gids), par.rank))
v, i = par.gather_concat(np.array(v).T), par.gather_concat(np.array(i).T)
if par.is_root:
    np.savez(out, gids=gids, ranks=ranks, v=v, i=i, rs=0.01)
"""


@pytest.fixture(scope="module")
def circuit(tmp_path_factory):
    d = tmp_path_factory.mktemp("conductance_mpi")
    build_default_circuit(d, n_neurons=6, seed=3)
    with h5py.File(d / "nodes.h5", "r+") as f:
        group = f["nodes/neurons/0"]
        group["dynamics_params/input_resistance"] = np.linspace(80.0, 160.0, len(group["morphology"]))
    sets = json.loads((d / "node_sets.json").read_text())
    sets["held"] = {"population": "neurons", "node_id": [0, 5]}  # the first and last: on two ranks
    (d / "node_sets.json").write_text(json.dumps(sets))
    return d


@pytest.mark.mpi
def test_conductance_and_seclamp_levels_on_1_and_2_ranks(circuit, tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    results = {}
    for n in (1, 2):
        out = tmp_path / f"out_{n}.npz"
        proc = run_mpi_python(n, [str(script), str(circuit), str(out)], timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        got = np.load(out)
        order = np.argsort(got["gids"])
        results[n] = {k: got[k][order] for k in ("gids", "ranks", "v", "i")}
    one = results[1]
    clamped = ~np.isnan(one["i"][:, 0])
    assert 0 < clamped.sum() < len(clamped)
    assert len(set(results[2]["ranks"][clamped])) == 2  # the clamp spans both ranks' cells
    t = np.arange(1, TSTOP + 1, dtype=float)
    level = np.full(len(t), np.nan)
    start = 0.0
    for voltage, duration in LEVELS:
        level[(t > start) & (t < start + duration)] = voltage
        start += duration
    held = ~np.isnan(level)
    drop = 0.01 * np.abs(one["i"][clamped][:, held]) + 1e-6
    assert np.all(np.abs(one["v"][clamped][:, held] - level[held]) <= drop)
    assert np.all(one["i"][clamped][:, t > start] == 0.0)  # released after the last level
    free = one["v"][~clamped]
    assert free.max() - free.min() > 5.0  # the conductances move the unclamped cells
    np.testing.assert_allclose(results[2]["v"], one["v"], rtol=0, atol=1e-9)
