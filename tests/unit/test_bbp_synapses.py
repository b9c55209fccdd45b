"""BBP synapses against plain NEURON: in ``bbp_sub_mini5`` node 3 (L23_NBC) inhibits node 1 through
ProbGABAAB_EMS synapses (BBP section ids, segment offsets, u_syn/depression/facilitation/decay,
conductance in nS). Node 3 is driven to spike by a clamp; node 1's soma voltage in msr must equal
the one of the same two cells and synapses built by hand in NEURON from h5py's reading of the
edges (section by the template's own index in ``v(0.0001)``, x from the 3-D points; release
streams keyed as neurodamus keys them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3] / "shared" / "data" / "circuits" / "bbp_sub_mini5"
pytestmark = pytest.mark.skipif(not ROOT.is_dir(), reason="the shared BBP circuit is not installed")
TSTOP, SEED = 120.0, 5

SCRIPT = """
import json, sys
from pathlib import Path
import h5py, numpy as np
root, out, mode = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
TSTOP, SEED = %(tstop)r, %(seed)r
stim = {"input_type": "current_clamp", "module": "linear", "amp_start": 0.6, "delay": 10.0,
        "duration": 100.0, "node_set": {"population": "default", "node_id": [3]}}
if mode == "msr":
    from multiscale_run.parallel import Parallel
    from multiscale_run.simulators.neuron import NeuronSettings, NeuronSim
    sim = NeuronSim.from_settings(NeuronSettings(
        circuit_config=root / "sub_mini5" / "circuit_config.json", tstop_ms=TSTOP,
        inputs={"drive": stim}, circuit_mod_dir=root / "mod", v_init_mV=-65.0,
        random_seed=SEED, spike_threshold_mV=-30.0, calibrate_ion_leaks=False), Parallel())
    soma = sim.soma_segment_index()[list(sim.gids).index(1)]
    trace = []
    for t in np.arange(1.0, TSTOP + 1e-9, 1.0):  # msr's somatic voltage of node 1, every ms
        sim.advance(t)
        trace.append(sim.get("v")[soma])
    np.save(out, np.array(trace))
    raise SystemExit
from neuron import h
from multiscale_run import mod_files
h.nrn_load_dll(str(mod_files.compile_mechanisms([mod_files.shipped_mod_dir(), root / "mod"])))
h.load_file("stdrun.hoc")
h.celsius, h.dt = 34.0, 0.025
with h5py.File(root / "sub_mini5" / "default" / "nodes.h5") as f:
    g = f["nodes/default/0"]
    lib = g["@library"]
    text = lambda b: b.decode() if isinstance(b, bytes) else str(b)
    name = lambda a, i: text(lib[a][g[a][i]] if a in lib else g[a][i])
    cells = {}
    for gid in (1, 3):
        template = name("model_template", gid).split(":")[1]
        h.load_file(str(root / "sub_mini5" / "biophysical_model_templates" / f"{template}.hoc"))
        morph = name("morphology", gid) + ".asc"
        cells[gid] = getattr(h, template)(gid, str(root / "sub_mini5" / "morphologies"), morph)
index = {int(sec(0.0001).v): sec for sec in cells[1].all}
clamp = h.IClamp(cells[3].soma[0](0.5))
clamp.delay, clamp.dur, clamp.amp = 10.0, 100.0, 0.6
keep = []
# neurodamus's release streams: global index run.random_seed; (gid + 1 + 250, the synapse's index
# among the target's afferent edges + 100, source and target population ids + synapse_seed + 300),
# a population's id from the MD5 digest of its name
h.Random().Random123_globalindex(SEED)
import hashlib
d = hashlib.md5(b"default").digest()
pop = ((d[1] & 0x0F) << 8) + d[0]
with h5py.File(root / "sub_mini5" / "default" / "edges.h5") as f:
    e = f["edges/default"]
    a = {k: e["0"][k][()] for k in e["0"]}
    for i, k in enumerate(np.flatnonzero(e["target_node_id"][()] == 1) if mode == "hand" else []):
        sec = index[int(a["afferent_section_id"][k])]
        x = (sec.arc3d(int(a["afferent_segment_id"][k])) + a["afferent_segment_offset"][k]) / sec.L
        syn = h.ProbGABAAB_EMS(sec(min(max(x, 0.0), 1.0)))
        syn.Use, syn.Dep, syn.Fac = a["u_syn"][k], a["depression_time"][k], a["facilitation_time"][k]
        syn.tau_d_GABAA, syn.Nrrp = a["decay_time"][k], a["n_rrp_vesicles"][k]
        syn.setRNG(1 + 1 + 250, i + 100, pop * 65536 + pop + 0 + 300)
        nc = h.NetCon(cells[3].soma[0](0.5)._ref_v, syn, sec=cells[3].soma[0])
        nc.threshold, nc.delay, nc.weight[0] = -30.0, max(a["delay"][k], 0.1), a["conductance"][k]
        keep += [syn, nc]
v = h.Vector().record(cells[1].soma[0](0.5)._ref_v)
h.finitialize(-65.0)
h.continuerun(TSTOP)
np.save(out, np.array(v))
""" % {"tstop": TSTOP, "seed": SEED}  # noqa: UP031 - placeholders in a script template


def _run(mode: str, tmp: Path) -> np.ndarray:
    out = tmp / f"{mode}.npy"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT), str(out), mode],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return np.load(out)


def test_inhibition_of_node_1_as_built_by_hand(tmp_path):
    by_hand, bare = _run("hand", tmp_path), _run("bare", tmp_path)
    mine = _run("msr", tmp_path)
    assert len(by_hand) == round(TSTOP / 0.025) + 1
    # node 3 spikes and its synapses move node 1 (the drive is on node 3 only)
    assert np.abs(by_hand - bare).max() > 1.0
    # msr's voltage at 1, 2, ... ms against NEURON's record at the same times (dt 0.025 ms)
    assert len(mine) == round(TSTOP)
    np.testing.assert_allclose(mine, by_hand[40::40], atol=1e-6)
