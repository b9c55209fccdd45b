"""SONATA conductance inputs and the multi-level voltage clamp in NeuronSim, on three passive cells
of one real Allen morphology (nodes written here with h5py):

- node 0 is held by a 5-level seclamp while a constant conductance (an Ornstein-Uhlenbeck input
  of sigma 0) acts on it: the soma follows each level within the series resistance's drop, the
  conductance's current is g·(e − v) at the soma, and the clamp's current grows by exactly
  g·(v − e) when the conductance comes on (current conservation at a clamped soma);
- node 1 gets a relative shot-noise conductance (% of 1/input_resistance); node 2, the same cell,
  gets the same g(t) the way neurodamus injects a conductance (NEURON's SEClamp holding the
  reversal potential through rs = 1/g): the soma voltages agree.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from conftest import ALLEN_MORPHOLOGIES, write_cortex_nodes

from multiscale_run.parallel import Parallel
from multiscale_run.simulators.neuron import NeuronSettings, NeuronSim

G_PAS, E_PAS = 5e-4, -70.0  # membrane time constant 2 ms
PASSIVE = {"description": "passive", "sections": {"all": {"Ra": 100.0, "cm": 1.0,
           "mechanisms": {"pas": {"g": G_PAS, "e": E_PAS}}}}}  # fmt: skip
LEVELS = [(-70.0, 20.0), (-50.0, 50.0), (-30.0, 30.0), (-60.0, 20.0), (-40.0, 20.0)]  # (mV, ms)
G, E_G, G_ON = 0.002, -20.0, (45.0, 115.0)  # uS, mV, ms
INPUT_RESISTANCE = [200.0, 150.0, 100.0]  # MOhm
INPUTS = {
    "steps": {"input_type": "voltage_clamp", "module": "seclamp", "voltage": LEVELS[0][0],
              "duration": LEVELS[0][1], "voltage_levels": [v for v, _ in LEVELS[1:]],
              "duration_levels": [d for _, d in LEVELS[1:]], "node_set": "n0"},
    "tonic": {"input_type": "conductance", "module": "ornstein_uhlenbeck", "tau": 1.0, "mean": G,
              "sigma": 0.0, "reversal": E_G, "delay": G_ON[0], "duration": G_ON[1] - G_ON[0],
              "node_set": "n0"},
    "shots": {"input_type": "conductance", "module": "relative_shot_noise", "rise_time": 0.5,
              "decay_time": 4.0, "mean_percent": 30.0, "sd_percent": 10.0, "dt": 0.025, "delay": 10.0,
              "duration": 120.0, "node_set": "n1"},
}  # fmt: skip
TSTOP = 150.0


def _write_circuit(d, name: str) -> None:
    with h5py.File(d / "nodes.h5", "w") as f:
        a = write_cortex_nodes(f, [name] * 3, "msr:P", 300.0)
        a["dynamics_params/input_resistance"] = np.array(INPUT_RESISTANCE)
    (d / "emodels").mkdir()
    (d / "emodels" / "P.json").write_text(json.dumps(PASSIVE))
    networks = {"nodes": [{"nodes_file": "nodes.h5", "populations": {"cortex": {"type": "biophysical"}}}]}
    components = {"morphologies_dir": str(ALLEN_MORPHOLOGIES), "biophysical_neuron_models_dir": "emodels"}
    (d / "circuit_config.json").write_text(json.dumps({"components": components, "networks": networks}))
    sets = {"All": {"population": "cortex"}, **{f"n{i}": {"node_id": [i]} for i in range(3)}}
    (d / "node_sets.json").write_text(json.dumps(sets))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if not ALLEN_MORPHOLOGIES.is_dir():
        pytest.skip(f"real morphologies not found at {ALLEN_MORPHOLOGIES}")
    from neuron import h

    d = tmp_path_factory.mktemp("conductance")
    _write_circuit(d, sorted(p.stem for p in ALLEN_MORPHOLOGIES.glob("*.swc"))[0])
    settings = NeuronSettings(
        circuit_config=d / "circuit_config.json", node_set="All", node_sets_file=d / "node_sets.json",
        inputs=INPUTS, tstop_ms=TSTOP, calibrate_ion_leaks=False, v_init_mV=E_PAS,
    )  # fmt: skip
    sim = NeuronSim.from_settings(settings, Parallel())
    cells = {c.gid: c for c in sim.cells}
    owner = {sec.hname(): c.gid for c in sim.cells for sec in c.sections}
    made = {}
    for stim in sim._stimuli:
        made[(stim[0].hname().split("[")[0], owner[stim[0].get_segment().sec.hname()])] = stim
    # node 2: neurodamus's conductance source, NEURON's SEClamp at the reversal through rs = 1/g
    gclamp, tvec, gvec = made[("msr_gclamp", 1)]
    reference = h.SEClamp(cells[2].soma(0.5))
    reference.amp1, reference.dur1 = gclamp.e, 1e9
    rs = h.Vector([1.0 / g if 1e-9 < g < 1e9 else 1e9 for g in gvec])
    rs.play(reference._ref_rs, tvec, 1)
    rec = {"t": h._ref_t, "i_clamp": made[("SEClamp", 0)][0]._ref_i, "i_g": made[("msr_gclamp", 0)][0]._ref_i}
    rec |= {f"v{gid}": cells[gid].soma(0.5)._ref_v for gid in range(3)}
    vectors = {key: h.Vector().record(ref) for key, ref in rec.items()}
    h.finitialize(E_PAS)
    sim.advance(TSTOP)
    out = {key: np.array(v) for key, v in vectors.items()}
    out["g1"] = np.interp(out["t"], np.array(tvec), np.array(gvec))
    out["rs"] = made[("SEClamp", 0)][0].rs
    sim.close()
    return out


def test_the_soma_follows_each_level(run):
    t, v, i = run["t"], run["v0"], run["i_clamp"]
    start = 0.0
    for level, duration in LEVELS:
        inside = (t > start + 0.1) & (t < start + duration - 0.1)
        assert inside.sum() > 100
        np.testing.assert_allclose(v[inside], level, atol=1e-6 + run["rs"] * np.abs(i[inside]).max())
        start += duration
    assert np.all(i[t > start + 0.1] == 0.0)  # the clamp lets go after its last level


def test_conductance_current_is_g_times_driving_force(run):
    t, v, i_g = run["t"], run["v0"], run["i_g"]
    on = (t > G_ON[0] + 0.1) & (t < G_ON[1] - 0.1)
    before = np.roll(v, 1)  # a step's current is computed from the voltage at its start
    np.testing.assert_allclose(i_g[on], G * (E_G - before[on]), rtol=1e-9)
    assert np.all(i_g[(t < G_ON[0] - 0.1) | (t > G_ON[1] + 0.1)] == 0.0)


def test_clamp_current_grows_by_the_conductance_current(run):
    t, i = run["t"], run["i_clamp"]
    off, on = np.argmin(np.abs(t - 44.0)), np.argmin(np.abs(t - 69.0))  # both 24+ ms into -50 mV
    assert i[on] - i[off] == pytest.approx(G * (-50.0 - E_G), rel=1e-3)  # rs·Δi moves v a little


def test_relative_conductance_matches_neurodamus_injection(run):
    t, g = run["t"], run["g1"]
    assert g[t < 10.0].max() == 0.0 and g.max() > 0.5 * 0.3 / INPUT_RESISTANCE[1]
    assert run["v1"].max() - E_PAS > 5.0  # the conductance depolarises the cell
    np.testing.assert_allclose(run["v1"], run["v2"], atol=0.005)
