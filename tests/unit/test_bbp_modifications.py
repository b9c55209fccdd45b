"""The ``section_list``, ``section`` and ``compartment_set`` modifications on a real BBP cell
(``bbp_sub_mini5`` node 2, cADpyr229 with its non-uniform apical Ih), judged against the same
template instantiated in plain NEURON and changed by hand as the statements say (hoc arrays
``apic[i]``, lists ``apical``; compartment section ids counted as BBP does: soma 0, the original
axon's ``nSecAxonalOrig`` sections, then ``dend``, then ``apic``). ``msr check`` names bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import morphio
import numpy as np
import pytest
from click.testing import CliRunner

from multiscale_run.cli import main

ROOT = Path(__file__).resolve().parents[3] / "shared" / "data" / "circuits" / "bbp_sub_mini5"
CIRCUIT = ROOT / "sub_mini5"
pytestmark = pytest.mark.skipif(not ROOT.is_dir(), reason="the shared BBP circuit is not installed")

MODIFICATIONS = [
    {"name": "lists", "type": "section_list", "node_set": "n2",
     "section_configure": "apical.gIhbar_Ih *= 0.5; basal.cm = 3"},
    {"name": "one", "type": "Section", "node_set": "n2",
     "section_configure": "apic[3].gSKv3_1bar_SKv3_1 = 2 * apic[3].gSKv3_1bar_SKv3_1 + 0.001; "
                          "dend[1].g_pas *= 2; soma[0].gNaTs2_tbar_NaTs2_t = 0.5"},
    {"name": "spots", "type": "compartment_set", "compartment_set": "spots",
     "section_configure": "gIhbar_Ih = gIhbar_Ih * 0.5 - 1e-6"},
]  # fmt: skip
VARIABLES = ("gIhbar_Ih", "cm", "gSKv3_1bar_SKv3_1", "g_pas", "gNaTs2_tbar_NaTs2_t")

SCRIPT = """
import json, sys
from pathlib import Path
from neuron import h
from multiscale_run.errors import UserError
from multiscale_run.parallel import Parallel
from multiscale_run.simulators.neuron import NeuronSettings, NeuronSim
from multiscale_run.simulators.neuron.modifications import apply_modification
root, d = Path(sys.argv[1]), Path(sys.argv[2])
mods = json.loads((d / "mods.json").read_text())
VARIABLES = %r
sim = NeuronSim.from_settings(NeuronSettings(
    circuit_config=root / "sub_mini5" / "circuit_config.json", node_set="n2",
    node_sets_file=d / "node_sets.json", compartment_sets_file=d / "compartment_sets.json",
    tstop_ms=1.0, circuit_mod_dir=root / "mod", calibrate_ion_leaks=False,
    modifications=tuple((f"conditions.modifications[{i}]", m) for i, m in enumerate(mods))), Parallel())
(cell,) = sim.cells
morph = root / "sub_mini5" / "morphologies"
name = str(cell.template.hname()).split("[")[0]

def values(obj):
    return {sec.name().split(".", 1)[1]: [[getattr(seg, v, None) for v in VARIABLES] for seg in sec]
            for sec in obj.all}

out = {"msr": values(cell.template)}
out["bare"] = values(getattr(h, name)(2, str(morph), sys.argv[3]))
hand = getattr(h, name)(2, str(morph), sys.argv[3])
for sec in hand.apical:
    for seg in sec:
        seg.gIhbar_Ih *= 0.5
for sec in hand.basal:
    sec.cm = 3
for seg in hand.apic[3]:
    seg.gSKv3_1bar_SKv3_1 = 2 * seg.gSKv3_1bar_SKv3_1 + 0.001
for seg in hand.dend[1]:
    seg.g_pas *= 2
for seg in hand.soma[0]:
    seg.gNaTs2_tbar_NaTs2_t = 0.5
for seg in (hand.soma[0](0.5), hand.dend[4](0.9), hand.apic[5](0.13)):
    seg.gIhbar_Ih = seg.gIhbar_Ih * 0.5 - 1e-6
out["hand"] = values(hand)
out["counts"] = [int(hand.nSecAxonalOrig), int(hand.nSecBasal)]
try:
    axon = {"type": "section", "node_set": "n2", "section_configure": "axon[2].g_pas = 0"}
    apply_modification(h, "conditions.modifications[7]", axon, [cell])
except UserError as exc:
    out["axon_error"] = [exc.path, exc.message]
try:
    basal = {"type": "section_list", "node_set": "n2", "section_configure": "basal.gSKv3_1bar_SKv3_1 = 0"}
    apply_modification(h, "conditions.modifications[8]", basal, [cell])
except UserError as exc:
    out["missing_error"] = [exc.path, exc.message]
print(json.dumps(out))
"""


def _morphology() -> str:
    import h5py

    with h5py.File(CIRCUIT / "default" / "nodes.h5") as f:
        return f["nodes/default/0/morphology"][2].decode() + ".asc"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("bbp_mods")
    (d / "node_sets.json").write_text(json.dumps({"n2": {"population": "default", "node_id": [2]}}))
    (d / "mods.json").write_text(json.dumps(MODIFICATIONS))
    # BBP section ids: soma 0, the morphology's axon sections, its basal ones, its apical ones
    types = [s.type for s in morphio.Morphology(str(CIRCUIT / "morphologies" / _morphology())).sections]
    n_axon, n_basal = types.count(morphio.SectionType.axon), types.count(morphio.SectionType.basal_dendrite)
    apic5 = 1 + n_axon + n_basal + 5
    locations = [[2, 0, 0.5], [2, 1 + n_axon + 4, 0.9], [2, apic5, 0.13], [2, apic5, 0.1300001]]
    (d / "compartment_sets.json").write_text(
        json.dumps({"spots": {"population": "default", "compartment_set": locations}})
    )
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT % (VARIABLES,), str(ROOT), str(d), _morphology()],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["counts"] == [n_axon, n_basal]  # the template counts as MorphIO does
    return out


def _array(values: dict) -> dict:
    return {k: np.array([[np.nan if x is None else x for x in seg] for seg in v]) for k, v in values.items()}


def test_msr_changes_the_cell_as_the_hand_does(built):
    msr, hand, bare = _array(built["msr"]), _array(built["hand"]), _array(built["bare"])
    assert sorted(msr) == sorted(hand)
    changed = 0
    for name in hand:
        np.testing.assert_allclose(msr[name], hand[name], rtol=1e-12, equal_nan=True, err_msg=name)
        changed += int(not np.allclose(hand[name], bare[name], equal_nan=True))
    n_apical = sum(k.startswith("apic[") for k in hand)
    n_basal = sum(k.startswith("dend[") for k in hand)
    assert changed == n_apical + n_basal + 1  # every apical and basal section, and the soma


def test_a_section_the_cell_lacks_names_the_node(built):
    path, message = built["axon_error"]
    assert path == "conditions.modifications[7].section_configure"
    assert "axon[2]: population default node 2 has 2 axonal section(s)" in message
    path, message = built["missing_error"]
    assert path == "conditions.modifications[8].section_configure"
    assert "node 2: section" in message and "gSKv3_1bar_SKv3_1" in message


def _check(tmp_path, modifications, extra=None):
    config = json.loads((ROOT / "simulation_config_mini.json").read_text())
    config["network"] = str(CIRCUIT / "circuit_config.json")
    config["conditions"] = {"modifications": modifications}
    config.update(extra or {})
    (tmp_path / "mods.json").write_text(json.dumps(config))
    sim = tmp_path / "sim"
    args = [
        "init",
        str(sim),
        "--circuit",
        str(tmp_path / "mods.json"),
        "--circuit-mod-dir",
        str(ROOT / "mod"),
    ]
    assert CliRunner().invoke(main, [*args, "--no-metabolism"]).exit_code == 0
    result = CliRunner().invoke(main, ["check", str(sim)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    return sim / "simulation_config.json", result.output.splitlines()


@pytest.mark.parametrize(
    ("modification", "key", "words"),
    [
        ({"type": "section_list", "node_set": "Mosaic", "section_configure": "apicl.g_pas = 0"},
         "section_configure", "is not an assignment to <list>.<attribute>"),
        ({"type": "section", "node_set": "Mosaic", "section_configure": "apic[999].g_pas = 0"},
         "section_configure", "apic[999]: population default node 0 has 0 such section(s)"),
        ({"type": "section", "node_set": "Mosaic", "section_configure": "apic[1].g_pas = dend[0].g_pas"},
         "section_configure", "reads another place than it assigns"),
        ({"type": "compartment_set", "compartment_set": "nowhere", "section_configure": "g_pas = 0"},
         "compartment_set", "compartment set 'nowhere' given but no compartment_sets_file"),
        ({"type": "compartment_set", "compartment_set": "c", "section_configure": "L = 3"},
         "section_configure", "L is a section's, not a compartment's"),
    ],
)  # fmt: skip
def test_check_names_bad_modifications(tmp_path, modification, key, words):
    file, lines = _check(tmp_path, [{"name": "m", **modification}])
    assert any(f"{file}: conditions.modifications[0].{key}: " in x and words in x for x in lines), lines


def test_check_reads_the_compartment_sets(tmp_path):
    sets = {"far": {"population": "default", "compartment_set": [[0, 0, 0.5], [2, 5000, 0.5]]}}
    (tmp_path / "cs.json").write_text(json.dumps(sets))
    mod = {"name": "m", "type": "compartment_set", "compartment_set": "far", "section_configure": "g_pas = 0"}
    file, lines = _check(tmp_path, [mod], {"compartment_sets_file": str(tmp_path / "cs.json")})
    hit = [x for x in lines if f"{file}: conditions.modifications[0].compartment_set: " in x]
    assert hit and "node 2: section 5000, but its morphology has sections 0-" in hit[0], lines
