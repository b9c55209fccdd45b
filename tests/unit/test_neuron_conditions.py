"""SONATA clamps, modifications and connection overrides in NeuronSim against hand-computed
numbers: passive cells on real Allen morphologies, nodes and edges written here with h5py.

- seclamp: at steady state the clamp current is the cell's whole leak current
  Σ g_pas·area·(v − e_pas) (current conservation), the soma at the clamp voltage, 0 nA after;
- sinusoidal and subthreshold: the IClamp's current, recorded, is the formula's;
- ConfigureAllSections: every segment's g_pas halved and cm set, as the statements say;
- section and section_list: ``dend[2]`` and ``apical`` are the sections MorphIO reads as the
  third basal and every apical section of the SWC file;
- connection overrides: weights, delays and synapse_configure as the later override says where
  two match; spont_minis: a Poisson count of releases.
"""

from __future__ import annotations

import json
import math

import h5py
import morphio
import numpy as np
import pytest
from conftest import ALLEN_MORPHOLOGIES, write_cortex_edges, write_cortex_nodes

from multiscale_run.parallel import Parallel
from multiscale_run.simulators.neuron import NeuronSettings, NeuronSim

G_PAS, E_PAS, THRESHOLD = 1e-4, -70.0, 0.3
PASSIVE = {"description": "passive", "sections": {"all": {"Ra": 100.0, "cm": 1.0,
           "mechanisms": {"pas": {"g": G_PAS, "e": E_PAS}}}}}  # fmt: skip
INPUTS = {
    "wave": {"input_type": "current_clamp", "module": "sinusoidal", "amp_start": 0.2, "frequency": 20.0,
             "delay": 10.0, "duration": 60.0, "node_set": "n0"},
    "sub": {"input_type": "current_clamp", "module": "subthreshold", "percent_less": 25.0,
            "delay": 5.0, "duration": 30.0, "node_set": "n2"},
    "hold": {"input_type": "voltage_clamp", "module": "seclamp", "voltage": -55.0, "duration": 300.0,
             "node_set": "n1"},
}  # fmt: skip
MODIFICATIONS = [{"name": "halve", "type": "ConfigureAllSections", "node_set": "n2",
                  "section_configure": "%s.g_pas *= 0.5; %s.cm = 1.5 + 0.5"},
                 {"name": "one", "type": "section", "node_set": "n0",
                  "section_configure": "dend[2].g_pas = 3e-4"},
                 {"name": "apical", "type": "section_list", "node_set": "n0",
                  "section_configure": "apical.cm = apical.cm + 1.5"}]  # fmt: skip
OVERRIDES = [
    {"name": "from0", "source": "n0", "target": "All", "weight": 2.0, "synapse_delay_override": 3.0},
    {"name": "onto2", "source": "All", "target": "n2", "weight": 0.5, "synapse_configure": "%s.tau2 = 7"},
    {"name": "minis", "source": "n0", "target": "n2", "spont_minis": 200.0},
]
TSTOP = 500.0


def _write_circuit(d, names):
    n = len(names)
    with h5py.File(d / "nodes.h5", "w") as f:
        a = write_cortex_nodes(f, names, "msr:P", 300.0)
        a["dynamics_params/threshold_current"] = np.full(n, THRESHOLD)
    write_cortex_edges(d / "edges.h5", 0.05, n)
    (d / "emodels").mkdir()
    (d / "emodels" / "P.json").write_text(json.dumps(PASSIVE))
    networks = {
        "nodes": [{"nodes_file": "nodes.h5", "populations": {"cortex": {"type": "biophysical"}}}],
        "edges": [{"edges_file": "edges.h5", "populations": {"cortex__cortex": {"type": "chemical"}}}],
    }
    components = {"morphologies_dir": str(ALLEN_MORPHOLOGIES), "biophysical_neuron_models_dir": "emodels"}
    (d / "circuit_config.json").write_text(json.dumps({"components": components, "networks": networks}))
    sets = {"All": {"population": "cortex"}, **{f"n{i}": {"node_id": [i]} for i in range(n)}}
    (d / "node_sets.json").write_text(json.dumps(sets))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if not ALLEN_MORPHOLOGIES.is_dir():
        pytest.skip(f"real morphologies not found at {ALLEN_MORPHOLOGIES}")
    from neuron import h

    d = tmp_path_factory.mktemp("conditions")
    _write_circuit(d, sorted(p.stem for p in ALLEN_MORPHOLOGIES.glob("*.swc"))[:3])
    settings = NeuronSettings(
        circuit_config=d / "circuit_config.json", node_set="All", node_sets_file=d / "node_sets.json",
        inputs=INPUTS, tstop_ms=TSTOP, calibrate_ion_leaks=False, v_init_mV=E_PAS,
        modifications=tuple((f"conditions.modifications[{i}]", m) for i, m in enumerate(MODIFICATIONS)),
        connection_overrides=tuple((f"connection_overrides[{i}]", o) for i, o in enumerate(OVERRIDES)),
    )  # fmt: skip
    sim = NeuronSim.from_settings(settings, Parallel())
    kind = lambda obj: obj.hname().split("[")[0]  # noqa: E731
    clamps = {kind(s[0]): s[0] for s in sim._stimuli if kind(s[0]) in ("IClamp", "SEClamp")}
    iclamps = [s[0] for s in sim._stimuli if kind(s[0]) == "IClamp"]
    t, currents = h.Vector().record(h._ref_t), [h.Vector().record(c._ref_i) for c in iclamps]
    # the minis' releases, drawn before the run (the only events replayed here), delivered 0.1 ms late
    out = {"minis": [times - 0.1 for _, times in sim._replay]}
    h.finitialize(E_PAS)  # records start at an initialisation: the one NeuronSim made (no calibration)
    sim.advance(250.0)  # 25 membrane time constants: the clamped cell is at steady state
    out |= {"v": sim.get("v"), "seclamp_i": clamps["SEClamp"].i, "area": sim.segment_geometry().area_um2}
    out["soma"] = sim.soma_segment_index()
    cell2 = {c.gid: c for c in sim.cells}[2]
    out["cell2"] = [(seg.g_pas, seg.cm) for sec in cell2.sections for seg in sec]
    cell0 = {c.gid: c for c in sim.cells}[0]
    out["cell0"] = [(sec.L, sec(0.5).g_pas, sec(0.5).cm) for sec in cell0.sections]
    sim.advance(TSTOP)
    out["seclamp_after"] = clamps["SEClamp"].i
    out["t"], out["iclamp"] = np.array(t), [np.array(c) for c in currents]
    owner = {sec.hname(): c.gid for c in sim.cells for sec in c.sections}
    out["netcons"] = {
        (int(nc.srcgid()), owner[nc.syn().get_segment().sec.hname()]): (nc.weight[0], nc.delay, nc.syn().tau2)
        for made in sim._netcons  # one hoc List of NetCons per edge population
        for nc in made
    }
    sim.close()
    return out


def test_seclamp_current_is_the_whole_cell_leak(run):
    soma = run["soma"]
    segments = slice(soma[1], soma[2])  # cell 1: from its soma to cell 2's
    leak_nA = G_PAS * (run["v"][segments] - E_PAS) * run["area"][segments] * 1e-2
    assert run["v"][soma[1]] == pytest.approx(-55.0, abs=0.01)
    assert run["seclamp_i"] == pytest.approx(leak_nA.sum(), rel=1e-3)
    assert run["seclamp_after"] == 0.0


def test_sinusoidal_and_subthreshold_currents(run):
    t = run["t"]
    assert len(t) == round(TSTOP / 0.025) + 1
    sub, wave = run["iclamp"]  # in input-name order
    on = (t > 10.0) & (t < 70.0)
    expected = 0.2 * np.sin(2 * np.pi * 20.0 * (t - 10.0) / 1000.0)
    np.testing.assert_allclose(wave[on], expected[on], atol=0.2 * 2 * np.pi * 20.0 * 0.025 / 1000.0)
    assert np.all(wave[t > 70.1] == 0.0) and np.all(wave[t < 10.0] == 0.0)
    inside = (t > 5.1) & (t < 34.9)
    np.testing.assert_allclose(sub[inside], 0.75 * THRESHOLD, rtol=1e-12)
    assert np.all(sub[(t < 4.9) | (t > 35.1)] == 0.0)


def test_configure_all_sections_sets_every_segment(run):
    values = np.array(run["cell2"])
    np.testing.assert_allclose(values[:, 0], 0.5 * G_PAS, rtol=1e-12)
    np.testing.assert_allclose(values[:, 1], 2.0, rtol=1e-12)


def test_section_and_section_list_name_the_morphology_sections(run):
    """node 0: ``dend[2]`` is the third basal section of its SWC file, ``apical`` every apical one
    (MorphIO's reading of the same file: lengths)."""
    name = sorted(p.stem for p in ALLEN_MORPHOLOGIES.glob("*.swc"))[0]
    sections = morphio.Morphology(str(ALLEN_MORPHOLOGIES / f"{name}.swc")).sections
    length = lambda s: np.linalg.norm(np.diff(np.asarray(s.points), axis=0), axis=1).sum()  # noqa: E731
    basal = [length(s) for s in sections if s.type == morphio.SectionType.basal_dendrite]
    apical = [length(s) for s in sections if s.type == morphio.SectionType.apical_dendrite]
    assert len(basal) > 2 and apical
    cell0 = run["cell0"]
    assert [L for L, g, _ in cell0 if g == 3e-4] == pytest.approx([basal[2]], rel=1e-6)
    assert sum(g == G_PAS for _, g, _ in cell0) == len(cell0) - 1
    assert sorted(L for L, _, cm in cell0 if cm == 2.5) == pytest.approx(sorted(apical), rel=1e-6)
    assert sum(cm == 1.0 for *_, cm in cell0) == len(cell0) - len(apical)


def test_overrides_apply_in_order(run):
    found = run["netcons"]
    assert found[(0, 1)][:2] == pytest.approx((0.1, 3.0))  # from0 only
    assert found[(0, 2)] == pytest.approx((0.025, 3.0, 7.0))  # from0's delay, onto2's weight wins
    assert found[(1, 2)] == pytest.approx((0.025, 2.0, 7.0))  # onto2 only: the edge's delay


def test_spont_minis_are_poisson(run):
    assert len(run["minis"]) == 1  # the one synapse from node 0 onto node 2
    times = run["minis"][0]
    expected = 200.0 * TSTOP / 1000.0
    assert abs(len(times) - expected) < 4 * math.sqrt(expected)
    assert times.min() > 0.0 and times.max() < TSTOP
    # exponential intervals of mean 1/rate (their coefficient of variation is 1)
    intervals = np.diff(np.concatenate([[0.0], times]))
    assert intervals.mean() == pytest.approx(5.0, rel=4 / math.sqrt(len(times)))
    assert intervals.std() / intervals.mean() == pytest.approx(1.0, abs=4 / math.sqrt(len(times)))
