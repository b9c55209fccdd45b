"""Connection overrides with a ``delay``: SONATA applies their ``weight`` from t = delay on. Three
passive cells on real Allen morphologies, Exp2Syn synapses 0→1, 0→2, 1→2 (weight 0.05 µS); an
event on every NetCon at 10, 30 and 50 ms: Exp2Syn's conductance peaks at the NetCon's weight
(NEURON normalises it so), which must be the edge weight × the factor of the last override in
config order acting by then (the cells cannot reach the 50 mV spike threshold: no other events).
A snapshot at 25 ms restored in a new process gives the same
conductances after the 40 ms change as the uninterrupted run. Spontaneous minis on 0→1 with a
delayed override: their replay NetCon takes the new weight at the delay, in the uninterrupted and
the restored run alike."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest
from conftest import ALLEN_MORPHOLOGIES, write_cortex_edges, write_cortex_nodes

W = 0.05
OVERRIDES = [
    {"name": "from0", "source": "n0", "target": "All", "weight": 2.0},
    {"name": "onto2_at20", "source": "All", "target": "n2", "weight": 3.0, "delay": 20.0},
    {"name": "from0_at40", "source": "n0", "target": "All", "weight": 0.5, "delay": 40.0},
]
MINIS = [
    {"name": "minis", "source": "n0", "target": "n1", "spont_minis": 100.0},
    {"name": "from0_at40", "source": "n0", "target": "All", "weight": 0.5, "delay": 40.0},
]
#: (source, target) -> factor after the events at 10, 30, 50 ms (worked out from OVERRIDES)
EXPECTED = {(0, 1): (2.0, 2.0, 0.5), (0, 2): (2.0, 3.0, 0.5), (1, 2): (1.0, 3.0, 3.0)}

SCRIPT = """
import json, sys
from pathlib import Path
import numpy as np
from neuron import h
from multiscale_run.parallel import Parallel
from multiscale_run.simulators.neuron import NeuronSettings, NeuronSim
d, mode, name = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
overrides = json.loads((d / name).read_text())
sim = NeuronSim.from_settings(NeuronSettings(
    circuit_config=d / "circuit_config.json", node_set="All", node_sets_file=d / "node_sets.json",
    tstop_ms=60.0, calibrate_ion_leaks=False, v_init_mV=-70.0, spike_threshold_mV=50.0,
    connection_overrides=tuple((f"connection_overrides[{i}]", o) for i, o in enumerate(overrides))),
    Parallel())
owner = {sec.hname(): c.gid for c in sim.cells for sec in c.sections}
ncs = [nc for made in sim._netcons for nc in made]
minis = [nc for nc, _ in sim._replay]  # the spontaneous minis' replay NetCons
keys = [[int(nc.srcgid()), owner[nc.syn().get_segment().sec.hname()]] for nc in ncs]
t = h.Vector().record(h._ref_t)
g = [h.Vector().record(nc.syn()._ref_g) for nc in ncs]
weights = {}
if mode == "restore":
    state = dict(np.load(d / f"{name}.npz"))
    sim.restore_state(state)  # the events at 30 and 50 ms come back with the snapshot
else:
    h.finitialize(-70.0)  # records start at an initialisation (no calibration: same state)
    for nc in ncs:
        for when in (10.0, 30.0, 50.0):
            nc.event(when)
    sim.advance(15.0)
    weights["15"] = [nc.weight[0] for nc in ncs + minis]
    sim.advance(25.0)
    weights["25"] = [nc.weight[0] for nc in ncs + minis]
    if mode == "snapshot":
        np.savez(d / f"{name}.npz", **sim.save_state())
sim.advance(45.0)
weights["45"] = [nc.weight[0] for nc in ncs + minis]
sim.advance(60.0)
print(json.dumps({"keys": keys, "t": list(t), "g": [list(x) for x in g], "weights": weights,
                  "minis": [len(times) for _, times in sim._replay]}))
"""


def _write_circuit(d):
    names = sorted(p.stem for p in ALLEN_MORPHOLOGIES.glob("*.swc"))[:3]
    with h5py.File(d / "nodes.h5", "w") as f:
        write_cortex_nodes(f, names, "msr:P", 300.0)
    write_cortex_edges(d / "edges.h5", W, 3)
    (d / "emodels").mkdir()
    passive = {"sections": {"all": {"Ra": 100.0, "cm": 1.0, "mechanisms": {"pas": {"g": 1e-4, "e": -70.0}}}}}
    (d / "emodels" / "P.json").write_text(json.dumps(passive))
    networks = {
        "nodes": [{"nodes_file": "nodes.h5", "populations": {"cortex": {"type": "biophysical"}}}],
        "edges": [{"edges_file": "edges.h5", "populations": {"cortex__cortex": {"type": "chemical"}}}],
    }
    components = {"morphologies_dir": str(ALLEN_MORPHOLOGIES), "biophysical_neuron_models_dir": "emodels"}
    (d / "circuit_config.json").write_text(json.dumps({"components": components, "networks": networks}))
    sets = {"All": {"population": "cortex"}, **{f"n{i}": {"node_id": [i]} for i in range(3)}}
    (d / "node_sets.json").write_text(json.dumps(sets))
    (d / "overrides.json").write_text(json.dumps(OVERRIDES))
    (d / "minis.json").write_text(json.dumps(MINIS))


def _run(d, mode, name="overrides.json"):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(d), mode, name], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    if not ALLEN_MORPHOLOGIES.is_dir():
        pytest.skip(f"real morphologies not found at {ALLEN_MORPHOLOGIES}")
    d = tmp_path_factory.mktemp("delayed")
    _write_circuit(d)
    return d, (_run(d, "snapshot"), _run(d, "restore"))


def test_the_weight_changes_at_each_delay(runs):
    _, (whole, _) = runs
    t = np.array(whole["t"])
    for key, g in zip(whole["keys"], whole["g"], strict=True):
        g = np.array(g)
        for (t0, t1), factor in zip(((10, 30), (30, 50), (50, 60)), EXPECTED[tuple(key)], strict=True):
            peak = g[(t > t0) & (t < t1)].max()  # the event's delay is the NetCon's 2 ms
            assert peak == pytest.approx(W * factor, rel=2e-3), (key, t0)
    for i, key in enumerate(whole["keys"]):
        factors = EXPECTED[tuple(key)]
        assert whole["weights"]["15"][i] == pytest.approx(W * factors[0], rel=1e-12)
        assert whole["weights"]["25"][i] == pytest.approx(W * factors[1], rel=1e-12)
        assert whole["weights"]["45"][i] == pytest.approx(W * factors[2], rel=1e-12)


def test_a_restored_snapshot_keeps_the_later_change(runs):
    _, (whole, resumed) = runs
    assert resumed["keys"] == whole["keys"]
    assert resumed["weights"]["45"] == whole["weights"]["45"]
    t, t_resumed = np.array(whole["t"]), np.array(resumed["t"])
    after = t_resumed > 25.0 + 1e-9
    index = np.searchsorted(t, t_resumed[after] - 1e-9)
    np.testing.assert_allclose(t[index], t_resumed[after], rtol=0, atol=1e-9)
    for g, g_resumed in zip(whole["g"], resumed["g"], strict=True):
        np.testing.assert_array_equal(np.array(g)[index], np.array(g_resumed)[after])


def test_the_minis_take_a_delayed_weight_and_keep_it_through_a_restore(runs):
    d, _ = runs
    whole, resumed = _run(d, "snapshot", "minis.json"), _run(d, "restore", "minis.json")
    assert whole["minis"] == resumed["minis"] and len(whole["minis"]) == 1  # onto 0→1's synapse
    assert whole["minis"][0] > 0  # releases in the 60 ms (100 Hz: about 6)
    # the NetCons in _netcons order (0→1, 0→2, 1→2), then the minis' replay NetCon (from node 0)
    expected = {"15": (W, W, W, W), "25": (W, W, W, W), "45": (W / 2, W / 2, W, W / 2)}
    for when, weights in expected.items():
        assert whole["weights"][when] == pytest.approx(weights, rel=1e-12), when
    assert resumed["weights"]["45"] == whole["weights"]["45"]
    t, t_resumed = np.array(whole["t"]), np.array(resumed["t"])
    after = t_resumed > 25.0 + 1e-9
    index = np.searchsorted(t, t_resumed[after] - 1e-9)
    for g, g_resumed in zip(whole["g"], resumed["g"], strict=True):  # the minis' events included
        np.testing.assert_array_equal(np.array(g)[index], np.array(g_resumed)[after])
