"""TTX and a relative clamp on BBP's SSCx cells against plain NEURON: node 3 (L23_NBC, its
``threshold_current`` read with h5py) under a subthreshold clamp and a 0.6 nA drive, with TTX
(TTXDynamicsSwitch in every section, ttxo_level 1 mM), in msr and built by hand from its template;
without TTX the same drive makes it spike. ``msr check`` names the missing TTXDynamicsSwitch of the
shipped circuit."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from multiscale_run.cli import main

ROOT = Path(__file__).resolve().parents[3] / "shared" / "data" / "circuits" / "bbp_sub_mini5"
pytestmark = pytest.mark.skipif(not ROOT.is_dir(), reason="the shared BBP circuit is not installed")
TSTOP = 60.0

#: written here from what BBP's Na+ channels read (NaTa_t.mod: blocked while ttxi == 0.015625
#: and ttxo > 1e-12), not copied from neurodamus
TTX_SWITCH = """NEURON {
    SUFFIX TTXDynamicsSwitch
    USEION ttx WRITE ttxo, ttxi VALENCE 1
    RANGE ttxo_level
}
UNITS { (mM) = (milli/liter) }
PARAMETER { ttxo_level = 1e-12 (mM) }
ASSIGNED { ttxo (mM) ttxi (mM) }
INITIAL {
    ttxo = ttxo_level
    ttxi = 0.015625
}
"""

SCRIPT = """
import json, sys
from pathlib import Path
import h5py, numpy as np
root, mods, sets = (Path(a) for a in sys.argv[1:4])
out, mode = sys.argv[4], sys.argv[5]
TSTOP = %(tstop)r
drive = {"input_type": "current_clamp", "module": "linear", "amp_start": 0.6, "delay": 10.0,
         "duration": 40.0, "node_set": "three"}
sub = {"input_type": "current_clamp", "module": "subthreshold", "percent_less": 40.0, "delay": 5.0,
       "duration": 50.0, "node_set": "three"}
with h5py.File(root / "sub_mini5" / "default" / "nodes.h5") as f:
    threshold = float(f["nodes/default/0/dynamics_params/threshold_current"][3])
if mode == "msr":
    from multiscale_run.parallel import Parallel
    from multiscale_run.simulators.neuron import NeuronSettings, NeuronSim
    ttx = ({"name": "block", "type": "TTX", "node_set": "three"},)
    sim = NeuronSim.from_settings(NeuronSettings(
        circuit_config=root / "sub_mini5" / "circuit_config.json", node_sets_file=sets, tstop_ms=TSTOP,
        inputs={"drive": drive, "sub": sub}, circuit_mod_dir=mods, v_init_mV=-65.0,
        calibrate_ion_leaks=False, modifications=tuple(("conditions.modifications[0]", m) for m in ttx)),
        Parallel())
    from neuron import h
    v = h.Vector().record({c.gid: c for c in sim.cells}[3].soma(0.5)._ref_v)
    sim.advance(TSTOP)
    np.save(out, np.array(v))
    raise SystemExit
from neuron import h
from multiscale_run import mod_files
h.nrn_load_dll(str(mod_files.compile_mechanisms([mod_files.shipped_mod_dir(), mods])))
h.load_file("stdrun.hoc")
h.celsius, h.dt = 34.0, 0.025
with h5py.File(root / "sub_mini5" / "default" / "nodes.h5") as f:
    g = f["nodes/default/0"]
    lib = g["@library"]
    text = lambda b: b.decode() if isinstance(b, bytes) else str(b)
    name = lambda a, i: text(lib[a][g[a][i]] if a in lib else g[a][i])
    template = name("model_template", 3).split(":")[1]
    h.load_file(str(root / "sub_mini5" / "biophysical_model_templates" / f"{template}.hoc"))
    cell = getattr(h, template)(3, str(root / "sub_mini5" / "morphologies"), name("morphology", 3) + ".asc")
if mode == "ttx":
    for sec in cell.all:
        sec.insert("TTXDynamicsSwitch")
        sec.ttxo_level_TTXDynamicsSwitch = 1.0
clamps = [h.IClamp(cell.soma[0](0.5)) for _ in range(2)]
for clamp, (delay, dur, amp) in zip(clamps, [(10.0, 40.0, 0.6), (5.0, 50.0, 0.6 * threshold)]):
    clamp.delay, clamp.dur, clamp.amp = delay, dur, amp
v = h.Vector().record(cell.soma[0](0.5)._ref_v)
h.finitialize(-65.0)
h.continuerun(TSTOP)
np.save(out, np.array(v))
""" % {"tstop": TSTOP}  # noqa: UP031 - placeholders in a script template


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    """(mod folder: the circuit's mod files and a TTXDynamicsSwitch, node sets with node 3)."""
    tmp = tmp_path_factory.mktemp("bbp_ttx")
    mods = tmp / "mod"
    shutil.copytree(ROOT / "mod", mods)
    (mods / "TTXDynamicsSwitch.mod").write_text(TTX_SWITCH)
    sets = json.loads((ROOT / "sub_mini5" / "node_sets.json").read_text())
    sets["three"] = {"population": "default", "node_id": [3]}
    (tmp / "node_sets.json").write_text(json.dumps(sets))
    return mods, tmp / "node_sets.json"


def _run(mode: str, folders, tmp: Path) -> np.ndarray:
    out = tmp / f"{mode}.npy"
    args = [sys.executable, "-c", SCRIPT, str(ROOT), *map(str, folders), str(out), mode]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return np.load(out)


def test_ttx_and_subthreshold_as_built_by_hand(folders, tmp_path):
    ttx, bare, mine = (_run(mode, folders, tmp_path) for mode in ("ttx", "bare", "msr"))
    assert bare.max() > 0.0, "without TTX the drive makes node 3 spike"
    assert ttx.max() < -20.0, "TTX blocks its spikes"
    # msr records from its first step after initialisation: compare the same times
    np.testing.assert_allclose(mine, ttx[len(ttx) - len(mine) :], atol=1e-6)


def test_check_names_the_missing_ttx_switch(tmp_path):
    config = json.loads((ROOT / "simulation_config_mini.json").read_text())
    config["network"] = str(ROOT / "sub_mini5" / "circuit_config.json")
    config["conditions"] = {"modifications": [{"name": "block", "type": "TTX", "node_set": "Inhibitory"}]}
    (tmp_path / "ttx.json").write_text(json.dumps(config))
    sim = tmp_path / "sim"
    args = ["init", str(sim), "--circuit", str(tmp_path / "ttx.json"), "--circuit-mod-dir", str(ROOT / "mod")]
    assert CliRunner().invoke(main, [*args, "--no-metabolism"]).exit_code == 0
    result = CliRunner().invoke(main, ["check", str(sim)])
    assert result.exit_code == 2
    line = next(x for x in result.output.splitlines() if "conditions.modifications[0].type" in x)
    assert "TTXDynamicsSwitch" in line and str(sim / "simulation_config.json") in line
