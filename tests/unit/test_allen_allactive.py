"""``aibs_allactive`` (Allen all-active fits, ``ctdb:Biophys1.hoc``) against one cell built by hand
in plain NEURON from the same fit file, following BioNet's rule for it (bmtk 1.2.0
``bmtk/simulator/bionet/default_setters/cell_models.py``: ``fix_axon_allactive``,
``set_params_allactive``): axon stubs keeping the original axon's diameters and joined to
soma(1), optional passive entries, ``glob`` genome entries skipped, reversal potentials only
where the ion exists. No all-active fit ships with the shared circuits, so the test writes one
in the Allen format from the Scnn1a perisomatic fit: ``e_pas``/``g_pas`` per section type in
the genome, active dendrites (Ih, and NaTs/K_P on the apical tree), a ``glob`` entry, and an
``erev`` entry for the basal dendrites, which carry no Na+ or K+ mechanism."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

COMPONENTS = Path(__file__).resolve().parents[3] / "shared" / "data" / "circuits" / "bio_components"
pytestmark = pytest.mark.skipif(not COMPONENTS.is_dir(), reason="the shared circuits are not installed")
SWC = COMPONENTS / "morphologies" / "Scnn1a_473845048_m.swc"

SCRIPT = """
import json, sys
from pathlib import Path
import numpy as np
from neuron import h
from multiscale_run import mod_files
components, fit_path, out, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
h.nrn_load_dll(str(mod_files.compile_mechanisms(components / "mechanisms" / "modfiles")))
h.load_file("stdrun.hoc")
h.celsius, h.dt = 34.0, 0.1
fit = json.loads(fit_path.read_text())
swc = components / "morphologies" / "Scnn1a_473845048_m.swc"
if mode == "msr":
    from multiscale_run.simulators.neuron import allen
    cell = allen.ImportedCell(h, swc, 0)
    allen.PROCESSING["aibs_allactive"](h, cell, fit, str(fit_path))
    secs = list(cell.all)
else:  # by hand: Import3d, then BioNet's all-active rule
    h.load_file("import3d.hoc")
    class Cell:
        pass
    cell = Cell()
    reader = h.Import3d_SWC_read()
    reader.input(str(swc))
    h.Import3d_GUI(reader, 0).instantiate(cell)
    kind = lambda s: s.name().split(".")[-1][:4]
    diams = [cell.axon[0].diam, cell.axon[0].diam]
    for sec in cell.all:
        if kind(sec) == "axon":
            diams[1] = sec.diam
    kept = [s for s in cell.all if kind(s) != "axon"]
    for sec in list(cell.axon):
        h.delete_section(sec=sec)
    stubs = [h.Section(name=f"axon[{i}]") for i in range(2)]
    for sec, d in zip(stubs, diams):
        sec.L, sec.diam = 30, d
    stubs[0].connect(cell.soma[0](1), 0)
    stubs[1].connect(stubs[0](1), 0)
    secs = kept + stubs
    h.define_shape()
    passive = fit["passive"][0]
    cm = {c["section"]: c["cm"] for c in passive["cm"]}
    for sec in secs:
        sec.insert("pas")
        sec.Ra = passive["ra"]
        sec.cm = cm[kind(sec)]
    for g in fit["genome"]:
        for sec in (s for s in secs if kind(s) == g["section"]):
            if g["mechanism"]:
                sec.insert(g["mechanism"])
            setattr(sec, g["name"], g["value"])
    for e in fit["conditions"][0]["erev"]:
        for sec in (s for s in secs if kind(s) == e["section"]):
            if h.ismembrane("na_ion", sec=sec):
                sec.ena = e["ena"]
            if h.ismembrane("k_ion", sec=sec):
                sec.ek = e["ek"]
for sec in secs:
    sec.nseg = 1 + 2 * int(sec.L / 40.0)
soma = secs[0]
clamp = h.IClamp(soma(0.5))
clamp.delay, clamp.dur, clamp.amp = 20.0, 200.0, 0.3
v = h.Vector().record(soma(0.5)._ref_v)
h.finitialize(-80.0)
h.continuerun(250.0)
axon = [s for s in secs if "axon" in s.name()]
np.savez(out, v=np.array(v), axon_diam=[s.diam for s in axon], n=len(secs))
"""


def _allactive_fit(tmp: Path) -> Path:
    """The Scnn1a perisomatic fit rewritten in the all-active format (see the module docstring)."""
    peri = json.loads(
        (COMPONENTS / "biophysical_neuron_templates" / "ctdb" / "472363762_fit.json").read_text()
    )
    passive = {k: v for k, v in peri["passive"][0].items() if k != "e_pas"}
    e_pas = peri["passive"][0]["e_pas"]
    genome = [g for g in peri["genome"] if g["section"] == "soma" or g["name"] == "g_pas"]
    genome += [{"section": s, "name": "e_pas", "value": e_pas + d, "mechanism": ""} for s, d in
               (("soma", 0.0), ("axon", 2.0), ("dend", -3.0), ("apic", -1.0))]  # fmt: skip
    genome += [
        {"section": "axon", "name": "gbar_NaTs", "value": 1.5, "mechanism": "NaTs"},
        {"section": "axon", "name": "gbar_K_P", "value": 0.05, "mechanism": "K_P"},
        {"section": "apic", "name": "gbar_NaTs", "value": 0.02, "mechanism": "NaTs"},
        {"section": "apic", "name": "gbar_K_P", "value": 0.005, "mechanism": "K_P"},
        {"section": "apic", "name": "gbar_Ih", "value": 1e-4, "mechanism": "Ih"},
        {"section": "dend", "name": "gbar_Ih", "value": 5e-5, "mechanism": "Ih"},
        {"section": "glob", "name": "celsius", "value": 20.0, "mechanism": ""},
    ]
    erev = [{"section": s, "ena": 53.0, "ek": -107.0} for s in ("soma", "axon", "apic", "dend")]
    fit = {"passive": [passive], "conditions": [{"celsius": 34.0, "erev": erev}], "genome": genome}
    path = tmp / "allactive_fit.json"
    path.write_text(json.dumps(fit))
    return path


def _run(mode: str, tmp: Path, fit: Path) -> dict:
    out = tmp / f"{mode}.npz"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(COMPONENTS), str(fit), str(out), mode],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(np.load(out))


def test_allactive_cell_equals_the_one_built_by_hand(tmp_path):
    fit = _allactive_fit(tmp_path)
    mine, by_hand = _run("msr", tmp_path, fit), _run("hand", tmp_path, fit)
    assert mine["n"] == by_hand["n"]
    # the stubs keep the reconstruction's axon diameters (the perisomatic rule sets 1 µm)
    np.testing.assert_array_equal(mine["axon_diam"], by_hand["axon_diam"])
    assert not np.allclose(mine["axon_diam"], 1.0)
    v = by_hand["v"]
    crossings = int(np.sum((v[1:] > -15) & (v[:-1] <= -15)))
    assert crossings >= 3, f"the clamp must make the fitted cell fire ({crossings} spikes)"
    np.testing.assert_allclose(mine["v"], v, rtol=0, atol=1e-9)
