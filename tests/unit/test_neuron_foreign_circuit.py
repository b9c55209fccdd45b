"""NeuronSim on a SONATA circuit this project did not generate: real Allen morphologies, nodes and
edges written in the test with h5py + libsonata's own index writer, a hoc-free bmtk-like layout
(rotation_angle_yaxis, syn_weight, no afferent_section_pos: synapses on the soma)."""

from __future__ import annotations

import json
import math

import h5py
import libsonata
import morphio
import numpy as np
import pytest
from conftest import write_cortex_nodes

from multiscale_run.circuit.emodels import EMODELS
from multiscale_run.parallel import Parallel
from multiscale_run.simulators.neuron import NeuronSettings, NeuronSim


def _write_circuit(d, morph_dir, names):
    n = len(names)
    with h5py.File(d / "nodes.h5", "w") as f:
        a = write_cortex_nodes(f, names, "msr:RS", 100.0)
        a["rotation_angle_yaxis"] = np.linspace(0, 1, n)
    with h5py.File(d / "edges.h5", "w") as f:
        g = f.create_group("edges/cortex__cortex")
        src = g.create_dataset("source_node_id", data=np.array([0, 0, 1], dtype=np.uint64))
        src.attrs["node_population"] = "cortex"
        tgt = g.create_dataset("target_node_id", data=np.array([1, 2, 2], dtype=np.uint64))
        tgt.attrs["node_population"] = "cortex"
        g["edge_type_id"] = np.full(3, -1, dtype=np.int64)
        g["edge_group_id"] = np.zeros(3, dtype=np.uint32)
        g["edge_group_index"] = np.arange(3, dtype=np.uint64)
        g["0/syn_weight"] = np.full(3, 0.05)
        g["0/delay"] = np.full(3, 2.0)
    libsonata.EdgePopulation.write_indices(str(d / "edges.h5"), "cortex__cortex", n, n)
    (d / "emodels").mkdir()
    (d / "emodels" / "RS.json").write_text(json.dumps(EMODELS["RS"]))
    (d / "circuit_config.json").write_text(
        json.dumps(
            {
                "components": {
                    "morphologies_dir": str(morph_dir),
                    "biophysical_neuron_models_dir": "emodels",
                },
                "networks": {
                    "nodes": [{"nodes_file": "nodes.h5", "populations": {"cortex": {"type": "biophysical"}}}],
                    "edges": [
                        {"edges_file": "edges.h5", "populations": {"cortex__cortex": {"type": "chemical"}}}
                    ],
                },
            }
        )
    )
    (d / "node_sets.json").write_text(
        json.dumps({"All": {"population": "cortex"}, "first": {"node_id": [0]}})
    )


def test_allen_circuit(tmp_path, allen_morphologies):
    names = sorted(p.stem for p in allen_morphologies.glob("*.swc"))[:3]
    _write_circuit(tmp_path, allen_morphologies, names)
    stim = {
        "input_type": "current_clamp",
        "module": "pulse",
        "node_set": "first",
        "amp_start": 1.0,
        "width": 5.0,
        "frequency": 50.0,
        "delay": 5.0,
        "duration": 60.0,
    }
    sim = NeuronSim.from_settings(
        NeuronSettings(
            circuit_config=tmp_path / "circuit_config.json",
            node_set="All",
            node_sets_file=tmp_path / "node_sets.json",
            inputs={"drive": stim},
            tstop_ms=80.0,
        ),
        Parallel(),
    )
    assert list(sim.gids) == [0, 1, 2]
    # expected segment count from morphio alone: soma (1 segment) + ceil(L/50) per section
    expected = 0
    for name in names:
        m = morphio.Morphology(str(allen_morphologies / f"{name}.swc"))
        lengths = [np.linalg.norm(np.diff(s.points, axis=0), axis=1).sum() for s in m.sections]
        expected += 1 + sum(max(1, math.ceil(L / 50.0)) for L in lengths)
    assert sim.n_segments == expected
    geom = sim.segment_geometry()
    assert geom.area_um2.shape == (expected,) and np.all(geom.area_um2 > 0) and np.all(geom.volume_um3 > 0)
    # the soma segment of cell k sits at its node position (x = 100 k)
    soma_mid = 0.5 * (geom.start_um + geom.end_um)[sim.soma_segment_index()]
    np.testing.assert_allclose(soma_mid[:, 0], [0.0, 100.0, 200.0], atol=1e-6)
    sim.advance(80.0)
    ids, times = sim.spikes()
    assert 0 in ids, "node 0 is driven by 1 nA pulses and must spike"
    assert np.all((times > 5.0) & (times < 80.0))


def test_emodel_reversal_potentials_hold_through_the_run(tmp_path, allen_morphologies):
    """An msr e-model can fix ena/ek per section list (an Allen fit's conditions.erev), even where
    msr's homeostasis moves the concentrations; elsewhere they follow Nernst."""
    names = sorted(p.stem for p in allen_morphologies.glob("*.swc"))[:1]
    _write_circuit(tmp_path, allen_morphologies, names)
    emodel = json.loads(json.dumps(EMODELS["RS"]))
    emodel["sections"]["somatic"]["reversal_potentials"] = {"ena": 53.0, "ek": -107.0}
    (tmp_path / "emodels" / "RS.json").write_text(json.dumps(emodel))
    sim = NeuronSim.from_settings(
        NeuronSettings(circuit_config=tmp_path / "circuit_config.json", tstop_ms=5.0),
        Parallel(),
    )
    sim.advance(5.0)
    cell = sim.cells[0]
    soma, dend = cell.soma, cell.sections[cell.kinds.index("basal")]
    assert (soma(0.5).ena, soma(0.5).ek) == (53.0, -107.0)
    # Nernst at 34 °C from the J15 resting concentrations (RT/F = 26.46 mV)
    rt_f = 8.314462618 * (273.15 + 34.0) / 96485.33212 * 1e3
    assert dend(0.5).ena == pytest.approx(rt_f * math.log(dend(0.5).nao / dend(0.5).nai), abs=0.05)
