"""BBP section ids on a real BBP cell (``bbp_sub_mini5`` node 1, bNAC219 on sm080902a3-2.asc):
the template as it ships, in its own NEURON process, numbered by
:func:`multiscale_run.simulators.neuron.bbp.section_numbering`, judged against MorphIO's reading of
the same morphology (soma, axon, basal, apical; the README's 77 sections) and the edges' ids."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import morphio
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3] / "shared" / "data" / "circuits" / "bbp_sub_mini5"
pytestmark = pytest.mark.skipif(not ROOT.is_dir(), reason="the shared BBP circuit is not installed")

SCRIPT = """
import json, sys
from pathlib import Path
from neuron import h
from multiscale_run import mod_files
from multiscale_run.simulators.neuron import bbp
root = Path(sys.argv[1])
h.nrn_load_dll(str(mod_files.compile_mechanisms(root / "mod")))
h.load_file("stdrun.hoc")
h.load_file(str(root / "sub_mini5" / "biophysical_model_templates" / "bNAC219.hoc"))
cell = h.bNAC219(1, str(root / "sub_mini5" / "morphologies"), "sm080902a3-2.asc")
numbering = bbp.section_numbering(cell, list(cell.all))
print(json.dumps({
    "nSecAll": int(cell.nSecAll),
    "sections": {i: [sec.name().rsplit(".", 1)[-1], sec.L] for i, sec in numbering.items()},
}))
"""


@pytest.fixture(scope="module")
def numbered():
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return out["nSecAll"], {int(k): v for k, v in out["sections"].items()}


def test_section_ids_count_soma_axon_basal_apical_as_the_morphology(numbered):
    n_all, sections = numbered
    m = morphio.Morphology(str(ROOT / "sub_mini5" / "morphologies" / "sm080902a3-2.asc"))
    kinds = [s.type for s in m.sections]
    n_axon = kinds.count(morphio.SectionType.axon)
    basal = [s for s in m.sections if s.type == morphio.SectionType.basal_dendrite]
    apical = [s for s in m.sections if s.type == morphio.SectionType.apical_dendrite]
    assert n_all == 1 + len(kinds) == 77
    # the replaced axon keeps the first two axon ids; the dendrites follow all original axon ids
    assert sorted(sections) == [0, 1, 2, *range(1 + n_axon, n_all)]
    assert sections[0][0] == "soma[0]" and [sections[1][0], sections[2][0]] == ["axon[0]", "axon[1]"]
    for k, s in enumerate([*basal, *apical]):
        name, length = sections[1 + n_axon + k]
        assert name == (f"dend[{k}]" if k < len(basal) else f"apic[{k - len(basal)}]")
        pts = np.asarray(s.points)
        assert length == pytest.approx(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum(), rel=1e-3)


def test_every_synapse_of_node_1_lands_on_a_numbered_section(numbered):
    _, sections = numbered
    with h5py.File(ROOT / "sub_mini5" / "external_default.h5") as f:
        g = f["edges/external_default"]
        onto = g["target_node_id"][()] == 1
        ids = g["0/afferent_section_id"][()][onto]
    assert ids.max() >= 70 and set(ids.tolist()) <= set(sections)
