"""TTX with BBP's TTX-aware Na+ channel (NaTa_t, from the shared SSCx circuit's mod files) and a
TTXDynamicsSwitch written here: a blocked cell is exactly the same cell without Na+ conductance.
``msr check`` names the missing TTXDynamicsSwitch of the shipped circuit."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ALLEN_MORPHOLOGIES

from multiscale_run.cli import main

ROOT = Path(__file__).resolve().parents[3] / "shared" / "data" / "circuits" / "bbp_sub_mini5"
pytestmark = pytest.mark.skipif(not ROOT.is_dir(), reason="the shared BBP circuit is not installed")

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
from multiscale_run.parallel import Parallel
from multiscale_run.simulators.neuron import NeuronSettings, NeuronSim
d, out = Path(sys.argv[1]), sys.argv[2]
drive = {"input_type": "current_clamp", "module": "linear", "amp_start": 2.0, "delay": 5.0,
         "duration": 30.0}
mods = [{"name": "ttx", "type": "TTX", "node_set": "n0"},
        {"name": "no_na", "type": "ConfigureAllSections", "node_set": "n1",
         "section_configure": "%s.gNaTa_tbar_NaTa_t = 0"}]
sim = NeuronSim.from_settings(NeuronSettings(
    circuit_config=d / "circuit_config.json", node_sets_file=d / "node_sets.json", tstop_ms=40.0,
    inputs={"drive": drive}, circuit_mod_dir=d / "mod", v_init_mV=-75.0, calibrate_ion_leaks=False,
    modifications=tuple((f"conditions.modifications[{i}]", m) for i, m in enumerate(mods))), Parallel())
from neuron import h
v = [h.Vector().record(c.soma(0.5)._ref_v) for c in sim.cells]
h.finitialize(-75.0)  # records start at an initialisation: the one NeuronSim made (no calibration)
sim.advance(40.0)
np.save(out, np.array([np.array(x) for x in v]))
"""


def _circuit(d: Path) -> None:
    """Three identical cells (a real Allen morphology; pas, BBP's NaTa_t and SKv3_1), no edges."""
    name = sorted(p.stem for p in ALLEN_MORPHOLOGIES.glob("*.swc"))[0]
    with h5py.File(d / "nodes.h5", "w") as f:
        g = f.create_group("nodes/cortex")
        g["node_type_id"] = np.full(3, -1, dtype=np.int64)
        g["node_group_id"], g["node_group_index"] = np.zeros(3, np.uint32), np.arange(3, dtype=np.uint64)
        a = g.create_group("0")
        a["x"], a["y"], a["z"] = np.arange(3) * 500.0, np.zeros(3), np.zeros(3)
        a.create_dataset("morphology", data=[name.encode()] * 3, dtype=h5py.string_dtype())
        a.create_dataset("model_template", data=[b"msr:A"] * 3, dtype=h5py.string_dtype())
    (d / "emodels").mkdir()
    (d / "emodels" / "A.json").write_text(json.dumps(EMODEL))
    (d / "mod").mkdir()
    for mod in ("NaTa_t.mod", "SKv3_1.mod"):
        shutil.copy(ROOT / "mod" / mod, d / "mod" / mod)
    (d / "mod" / "TTXDynamicsSwitch.mod").write_text(TTX_SWITCH)
    nodes = [{"nodes_file": "nodes.h5", "populations": {"cortex": {"type": "biophysical"}}}]
    components = {"morphologies_dir": str(ALLEN_MORPHOLOGIES), "biophysical_neuron_models_dir": "emodels"}
    config = {"components": components, "networks": {"nodes": nodes, "edges": []}}
    (d / "circuit_config.json").write_text(json.dumps(config))
    (d / "node_sets.json").write_text(json.dumps({f"n{i}": {"node_id": [i]} for i in range(3)}))


EMODEL = {"description": "Na+ (NaTa_t, reads ttx) and K+ (SKv3_1) channels of BBP's circuit",
          "sections": {"all": {"Ra": 100.0, "cm": 1.0, "mechanisms": {"pas": {"g": 3e-5, "e": -75.0},
                               "NaTa_t": {"gNaTa_tbar": 0.5}, "SKv3_1": {"gSKv3_1bar": 0.3}}},
                       "somatic": {"mechanisms": {"NaTa_t": {"gNaTa_tbar": 3.0},
                                                  "SKv3_1": {"gSKv3_1bar": 1.0}}}}}  # fmt: skip


def test_ttx_blocks_the_sodium_channels(tmp_path):
    """Node 0 under TTX, node 1 with its NaTa_t conductance set to 0 (ConfigureAllSections), node 2
    untouched, the same drive on all: TTX leaves exactly the cell without Na+ current."""
    if not ALLEN_MORPHOLOGIES.is_dir():
        pytest.skip(f"real morphologies not found at {ALLEN_MORPHOLOGIES}")
    _circuit(tmp_path)
    out = tmp_path / "v.npy"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), str(out)], capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ttx, no_na, bare = np.load(out)
    assert len(bare) == 1601
    assert bare.max() > 0.0, "the drive makes the untouched cell spike"
    assert ttx.max() < 0.0, "TTX leaves no overshooting spike"
    # the same to 1e-4 mV: only the first step differs (NaTa_t's INITIAL may run before the switch's)
    np.testing.assert_allclose(ttx, no_na, rtol=0, atol=1e-4)


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
