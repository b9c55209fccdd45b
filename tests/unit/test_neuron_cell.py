"""One default cell built by NeuronSim against the same cell built by hand in plain NEURON."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from multiscale_run.circuit.default import build_default_circuit

STIMULUS = {
    "input_type": "current_clamp",
    "module": "linear",
    "node_set": "neurons",
    "amp_start": 0.4,
    "amp_end": 0.6,
    "delay": 20.0,
    "duration": 80.0,
}
TSTOP, SAMPLE = 120.0, 0.1

MSR = """
import json, sys
from pathlib import Path
import numpy as np
from multiscale_run.parallel import Parallel
from multiscale_run.simulators.neuron import NeuronSim, NeuronSettings
d, out = Path(sys.argv[1]), sys.argv[2]
stim = json.loads(sys.argv[3])
sim = NeuronSim.from_settings(NeuronSettings(circuit_config=d / "circuit_config.json", node_set="neurons",
    node_sets_file=d / "node_sets.json", inputs={"stim": stim},
    soma_reports=(("soma_v", "v"), ("soma_ik", "ik_nA"))), Parallel())
soma = sim.soma_segment_index()[0]
trace = [sim.get("v")[soma]]
for t in np.arange(1, int(round(%(tstop)r / %(sample)r)) + 1) * %(sample)r:
    sim.advance(t)
    trace.append(sim.get("v")[soma])
    # NEURON's soma record and the segment currents in nA agree with the plain getters
    somata, area = sim.soma_segment_index(), sim.segment_geometry().area_um2
    assert np.array_equal(sim.soma_samples("soma_v").take([t], t + %(sample)r)[0], sim.get("v")[somata])
    ik = sim.soma_samples("soma_ik").take([t], t + %(sample)r)[0]
    np.testing.assert_allclose(ik, sim.get("ik_nA")[somata], rtol=1e-15)
    np.testing.assert_allclose(sim.get("ik_nA"), sim.get("ik") * area * 1e-2, rtol=1e-15)
    np.testing.assert_allclose(sim.get("ina_nA"), sim.get("ina") * area * 1e-2, rtol=1e-15)
assert not sim.variables()["ik_nA"].writable
np.save(out, np.array(trace))
""" % {"tstop": TSTOP, "sample": SAMPLE}  # noqa: UP031 - placeholders in a script template

BY_HAND = """
import json, math, sys
from pathlib import Path
import numpy as np, libsonata, morphio
from neuron import h
from multiscale_run import mod_files
d, out = Path(sys.argv[1]), sys.argv[2]
stim = json.loads(sys.argv[3])
h.nrn_load_dll(str(mod_files.compile_mechanisms(mod_files.shipped_mod_dir())))
h.load_file("stdrun.hoc")
h.celsius, h.dt = 34.0, 0.025
h.nai0_na_ion, h.ki0_k_ion, h.nao0_na_ion, h.ko0_k_ion = 7.9717478717769090, 140.0, 140.0, 3.0
h.atpi0_atp_ion, h.adpi0_adp_ion = 2.1973762129517347, 0.014520
nodes = libsonata.NodeStorage(str(d / "nodes.h5")).open_population("neurons")
sel = libsonata.Selection([0])
get = lambda name: nodes.get_attribute(name, sel)[0]
pos = np.array([get("x"), get("y"), get("z")])
w, x, y, z = (get(f"orientation_{c}") for c in "wxyz")
rot = np.array([[1 - 2*(y*y + z*z), 2*(x*y - z*w), 2*(x*z + y*w)],
                [2*(x*y + z*w), 1 - 2*(x*x + z*z), 2*(y*z - x*w)],
                [2*(x*z - y*w), 2*(y*z + x*w), 1 - 2*(x*x + y*y)]])
m = morphio.Morphology(str(d / "morphologies" / (get("morphology") + ".swc")))
c, r = m.soma.points[0], m.soma.diameters[0] / 2
place = lambda p: (np.asarray(p) - c) @ rot.T + pos
def pt3d(sec, p, diam):
    for q, dd in zip(p, diam):
        h.pt3dadd(float(q[0]), float(q[1]), float(q[2]), float(dd), sec=sec)
soma = h.Section(name="soma")
pt3d(soma, place([c + [0, -r, 0], c + [0, r, 0]]), [2 * r, 2 * r])
secs, kinds = [soma], ["somatic"]
for s in m.sections:
    sec = h.Section(name=f"s{s.id}")
    pt3d(sec, place(s.points), s.diameters)
    sec.connect(soma(0.5) if s.is_root else secs[s.parent.id + 1](1), 0)
    secs.append(sec)
    kinds.append({2: "axonal", 3: "basal", 4: "apical"}[int(s.type)])
for sec in secs:
    sec.nseg = max(1, math.ceil(sec.L / 50.0))
emodel = json.loads((d / "emodels" / (get("model_template").split(":")[1] + ".json")).read_text())
groups = {"all": secs, "somatic": [soma], "axonal": [s for s, k in zip(secs, kinds) if k == "axonal"],
          "dendritic": [s for s, k in zip(secs, kinds) if k in ("basal", "apical")]}
for group in ("all", "somatic", "axonal", "dendritic"):
    spec = emodel["sections"].get(group, {})
    for sec in groups[group]:
        for key in ("Ra", "cm"):
            if key in spec:
                setattr(sec, key, spec[key])
        for mech, params in spec.get("mechanisms", {}).items():
            sec.insert(mech)
            for p, v in params.items():
                setattr(sec, f"{p}_{mech}", v)
# The SONATA linear clamp, written the plain-NEURON way: IClamp gates [delay, delay + dur) and
# a played ramp sets its amplitude.
clamp = h.IClamp(soma(0.5))
t0, t1 = stim["delay"], stim["delay"] + stim["duration"]
clamp.delay, clamp.dur = t0, t1 - t0
tv, av = h.Vector([t0, t1]), h.Vector([stim["amp_start"], stim["amp_end"]])
av.play(clamp._ref_amp, tv, 1)
h.finitialize(-70)
h.fcurrent()  # calibrate the ion leaks: zero net Na+ and K+ current at v_init in every segment
for sec in secs:
    for seg in sec:
        seg.msr_ionleak.gna = -seg.ina / (seg.v - seg.ena)
        seg.msr_ionleak.gk = -seg.ik / (seg.v - seg.ek)
rec = h.Vector().record(soma(0.5)._ref_v, %(sample)r)
h.finitialize(-70)
h.continuerun(%(tstop)r)
np.save(out, np.array(rec))
""" % {"tstop": TSTOP, "sample": SAMPLE}  # noqa: UP031 - placeholders in a script template


@pytest.fixture(scope="module")
def one_cell(tmp_path_factory):
    d = tmp_path_factory.mktemp("one_cell")
    build_default_circuit(d, n_neurons=1, seed=2)
    return d


def _run(code: str, d, out) -> np.ndarray:
    proc = subprocess.run(
        [sys.executable, "-c", code, str(d), str(out), json.dumps(STIMULUS)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return np.load(out)


def test_somatic_voltage_matches_plain_neuron(one_cell, tmp_path):
    msr = _run(MSR, one_cell, tmp_path / "msr.npy")
    by_hand = _run(BY_HAND, one_cell, tmp_path / "hand.npy")
    assert msr.shape == by_hand.shape == (round(TSTOP / SAMPLE) + 1,)
    assert msr.max() > 0, "the stimulus must make the cell spike for the comparison to cover active currents"
    np.testing.assert_allclose(msr, by_hand, rtol=0, atol=1e-6)
    assert (
        abs(msr[0] + 70.0) < 1e-9 and abs(msr[int(15 / SAMPLE)] + 70.0) < 0.01
    )  # near rest before the stimulus (ATP use slowly reduces the pump)
