"""SONATA ``conditions.mechanisms`` (GLOBALs of the compiled .mod files) and
``conditions.extracellular_calcium`` (u_syn of BBP synapses scaled by the constrained Hill
function of Markram et al. 2015), on the BBP ``bbp_sub_mini5`` circuit: the GLOBALs parsed from
its .mod files are the ones NEURON itself declares, the values a run sets are the ones NEURON
holds, and each synapse's ``Use`` is its edge's ``u_syn`` times the Hill factor of its own
``u_hill_coefficient``. ``msr check`` names bad input."""

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

from multiscale_run.cli import main
from multiscale_run.mod_files import mechanism_globals, mod_files
from multiscale_run.simulators.neuron.mechanism_conditions import constrained_hill

ROOT = Path(__file__).resolve().parents[3] / "shared" / "data" / "circuits" / "bbp_sub_mini5"
CIRCUIT = ROOT / "sub_mini5"
pytestmark = pytest.mark.skipif(not ROOT.is_dir(), reason="the shared BBP circuit is not installed")
CALCIUM = 1.2

SCRIPT = """
import json, sys
from pathlib import Path
import numpy as np
from neuron import h
from multiscale_run.parallel import Parallel
from multiscale_run.simulators.neuron import NeuronSettings, NeuronSim
d, mods = Path(sys.argv[1]), Path(sys.argv[2])
sim = NeuronSim.from_settings(NeuronSettings(
    circuit_config=d / "circuit_config.json", tstop_ms=1.0, circuit_mod_dir=mods,
    calibrate_ion_leaks=False, extracellular_calcium=%r,
    mechanism_globals={"ProbAMPANMDA_EMS": {"init_depleted": True, "tau_r_AMPA": 0.25},
                       "ProbGABAAB_EMS": {"minis_single_vesicle": 1}}), Parallel())
declared = {}
for name, globals_ in json.loads(sys.argv[3]).items():
    declared[name] = {g: hasattr(h, f"{g}_{name}") for g in globals_}
print(json.dumps({
    "use": sorted(float(s.Use) for s in sim._synapses),
    "set": [h.init_depleted_ProbAMPANMDA_EMS, h.tau_r_AMPA_ProbAMPANMDA_EMS,
            h.minis_single_vesicle_ProbGABAAB_EMS],
    "declared": declared,
}))
"""


def test_constrained_hill_is_one_at_2_mM_and_rises_with_calcium():
    k = np.array([1.5, 2.79, 4.0])
    np.testing.assert_allclose(constrained_hill(k, 2.0), 1.0, rtol=1e-15)
    low, high = constrained_hill(k, 1.2), constrained_hill(k, 3.0)
    assert np.all(low < 1.0) and np.all(high > 1.0)
    # far above K½ the factor saturates at (K½⁴ + 16) / 16
    np.testing.assert_allclose(constrained_hill(k, 1e4), (k**4 + 16) / 16, rtol=1e-9)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The circuit with a copy of its edges that gives each a u_hill_coefficient, built by msr."""
    d = tmp_path_factory.mktemp("mechanism_conditions")
    shutil.copy(CIRCUIT / "default" / "edges.h5", d / "edges.h5")
    with h5py.File(d / "edges.h5", "r+") as f:
        group = f["edges/default/0"]
        n = group["u_syn"].shape[0]
        group["u_hill_coefficient"] = np.linspace(1.5, 3.5, n)
        u_syn, hill = group["u_syn"][()], group["u_hill_coefficient"][()]
    config = json.loads((CIRCUIT / "circuit_config.json").read_text())
    config["manifest"]["$BASE_DIR"] = str(CIRCUIT)
    config["networks"]["edges"][0]["edges_file"] = str(d / "edges.h5")
    (d / "circuit_config.json").write_text(json.dumps(config))
    declared = mechanism_globals(mod_files(ROOT / "mod"))
    listing = json.dumps({k: sorted(v) for k, v in declared.items()})
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT % (CALCIUM,), str(d), str(ROOT / "mod"), listing],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), u_syn, hill, declared


def test_the_globals_read_from_the_mod_files_are_neurons(built):
    out, _, _, declared = built
    assert {"init_depleted", "minis_single_vesicle", "tau_r_AMPA"} <= declared["ProbAMPANMDA_EMS"]
    assert all(all(found.values()) for found in out["declared"].values()), out["declared"]
    assert "Use" not in declared["ProbAMPANMDA_EMS"]  # a RANGE variable, not a GLOBAL


def test_a_run_sets_the_globals_and_scales_u_syn(built):
    out, u_syn, hill, _ = built
    assert out["set"] == [1.0, 0.25, 1.0]
    expected = np.sort(u_syn * constrained_hill(hill, CALCIUM))
    assert len(out["use"]) == len(u_syn)
    np.testing.assert_allclose(out["use"], expected, rtol=1e-12)
    assert not np.allclose(out["use"], np.sort(u_syn))


def _init(tmp_path, conditions: dict) -> Path:
    """``msr init --circuit`` of the BBP simulation config with these conditions."""
    sim = tmp_path / "sim"
    config = json.loads((ROOT / "simulation_config_mini.json").read_text())
    config["network"] = str(CIRCUIT / "circuit_config.json")
    config["conditions"] = conditions
    (tmp_path / "sim.json").write_text(json.dumps(config))
    args = ["init", str(sim), "--circuit", str(tmp_path / "sim.json"), "--circuit-mod-dir", str(ROOT / "mod")]
    result = CliRunner().invoke(main, [*args, "--no-metabolism"])
    assert result.exit_code == 0, result.output
    return sim


def test_init_adopts_the_conditions_and_check_accepts_them(tmp_path):
    conditions = {
        "extracellular_calcium": CALCIUM,
        "mechanisms": {"ProbAMPANMDA_EMS": {"init_depleted": True}},
        "spike_location": "soma",
    }
    sim = _init(tmp_path, conditions)
    adopted = json.loads((sim / "simulation_config.json").read_text())["conditions"]
    assert {k: adopted[k] for k in conditions} == conditions
    result = CliRunner().invoke(main, ["check", str(sim)])
    assert result.exit_code == 0, result.output


def _check(tmp_path, conditions: dict) -> tuple[Path, list[str]]:
    sim = _init(tmp_path, {})
    path = sim / "simulation_config.json"
    config = json.loads(path.read_text())
    config["conditions"].update(conditions)
    path.write_text(json.dumps(config))
    result = CliRunner().invoke(main, ["check", str(sim)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    return path, result.output.splitlines()


@pytest.mark.parametrize(
    ("conditions", "key", "words"),
    [({"mechanisms": {"ProbAMPANMDA_EMS": {"Use": 0.5}}}, "mechanisms.ProbAMPANMDA_EMS.Use",
      "'Use' is not a GLOBAL of ProbAMPANMDA_EMS"),
     ({"mechanisms": {"Nowhere": {"x": 1}}}, "mechanisms.Nowhere", "no compiled .mod file defines"),
     ({"mechanisms": {"ProbGABAAB_EMS": {"init_depleted": "yes"}}},
      "mechanisms.ProbGABAAB_EMS.init_depleted", "a number or a boolean"),
     ({"extracellular_calcium": 0}, "extracellular_calcium", ""),
     ({"spike_location": "AIS"}, "spike_location", ""),
     ({"spike_threshold": 0.0}, "spike_threshold", "but run.spike_threshold is"),
     ({"celcius": 30}, "", "celcius")],
)  # fmt: skip
def test_check_names_bad_mechanism_conditions(tmp_path, conditions, key, words):
    file, lines = _check(tmp_path, conditions)
    assert any(f"conditions.{key}" in x and str(file) in x and words in x for x in lines), lines


def test_init_names_the_run_and_conditions_keys_it_does_not_take(tmp_path, caplog):
    sim = tmp_path / "sim"
    config = json.loads((ROOT / "simulation_config_mini.json").read_text())
    config["network"] = str(CIRCUIT / "circuit_config.json")
    config["run"]["ionchannel_seed"] = 4
    config["conditions"] = {"celsius": 34.0, "synapses_fade": 1}
    (tmp_path / "sim.json").write_text(json.dumps(config))
    args = ["init", str(sim), "--circuit", str(tmp_path / "sim.json"), "--circuit-mod-dir", str(ROOT / "mod")]
    assert CliRunner().invoke(main, [*args, "--no-metabolism"]).exit_code == 0
    assert "run.ionchannel_seed not taken" in caplog.text
    assert "conditions.synapses_fade not taken" in caplog.text
