"""A run over two biophysical node populations, end to end (``msr init --circuit``, ``msr check``,
``msr compute``, NEURON coupled to metabolism), judged by libsonata and by runs of one population.

The circuit (:mod:`two_populations`): bmtk's shipped ``bio_14cells`` population ``v1`` and a copy
of it, ``v1b``, each with its own recurrent and LGN edges, plus the edges ``v1 -> v1b``. The
simulated cells: nodes 0, 2, 6 (Scnn1a, Rorb, PV1 Allen cells) and 10 (IntFire1) of each
population, driven by a 0.4 nA IClamp and the shipped LGN spikes, 50 ms.

Oracles: ``v1`` receives no edge from ``v1b``, so it must behave exactly as ``v1`` alone in the
shipped circuit; ``v1b`` must behave exactly as ``v1b`` alone with ``v1``'s spikes of the
two-population run replayed through the ``v1 -> v1b`` edges (which also shows those edges are
connected: without the replay, ``v1b`` alone differs). Spikes, soma v and the metabolism's
per-neuron ATP and Na+ are compared exactly, and on 1, 2 and 4 ranks.
"""

from __future__ import annotations

import json
from pathlib import Path

import libsonata
import numpy as np
import pytest
from conftest import msr_command as msr
from conftest import run_checked
from two_populations import CIRCUIT, write_simulation, write_two_population_circuit

pytestmark = [
    pytest.mark.skipif(not CIRCUIT.is_dir(), reason="the shared bmtk circuit is not installed"),
    pytest.mark.slow,  # six runs of eight Allen cells: about a minute
]

CELLS = [0, 2, 6, 10]
TSTOP_MS = 50.0
REPORTS = ("soma_v", "ATP_n", "Na_n")


def _sim(root: Path, name: str, config: Path, ranks: int = 1) -> Path:
    sim = root / name
    run_checked(msr("init", str(sim), "--circuit", str(config)))
    run_checked(msr("compute", str(sim)), ranks)
    return sim / "output"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("two_populations")
    circuit = write_two_population_circuit(root / "circuit", cross=True)
    both = write_simulation(
        root, circuit, {"population": ["v1", "v1b"], "node_id": CELLS}, TSTOP_MS, "both.json"
    )
    out = {"both": _sim(root, "both", both)}
    run_checked(msr("check", str(root / "both")))  # exit 0: check says OK
    shipped = CIRCUIT / "config.circuit.json"
    alone = write_simulation(root, shipped, {"population": "v1", "node_id": CELLS}, TSTOP_MS, "v1.json")
    out["v1"] = _sim(root, "v1", alone)
    plain = write_simulation(root, circuit, {"population": "v1b", "node_id": CELLS}, TSTOP_MS, "v1b.json")
    out["v1b plain"] = _sim(root, "v1b_plain", plain)
    replay = json.loads(plain.read_text())
    replay["inputs"]["v1_replay"] = {
        "input_type": "spikes",
        "module": "sonata",
        "input_file": str(out["both"] / "spikes.h5"),
        "node_set": {"population": "v1", "node_id": CELLS},
    }
    plain.with_name("v1b_replay.json").write_text(json.dumps(replay))
    out["v1b replay"] = _sim(root, "v1b_replay", plain.with_name("v1b_replay.json"))
    for ranks in (2, 4):
        out[f"both {ranks}"] = _sim(root, f"both{ranks}", both, ranks)
    return out


def _spikes(output: Path, population: str) -> list[tuple[int, float]]:
    return sorted(libsonata.SpikeReader(str(output / "spikes.h5"))[population].get())


def _report(output: Path, name: str, population: str) -> tuple[np.ndarray, np.ndarray]:
    """((node id, element id) per column, data (frames, columns)) in node id order."""
    frame = libsonata.ElementReportReader(str(output / f"{name}.h5"))[population].get()
    ids, data = np.asarray(frame.ids), np.asarray(frame.data)
    order = np.lexsort((ids[:, 1], ids[:, 0]))
    return ids[order], data[:, order]


def test_each_population_has_its_spikes_and_report_groups(runs):
    out = runs["both"]
    assert sorted(libsonata.SpikeReader(str(out / "spikes.h5")).get_population_names()) == ["v1", "v1b"]
    for name in REPORTS:
        reader = libsonata.ElementReportReader(str(out / f"{name}.h5"))
        assert sorted(reader.get_population_names()) == ["v1", "v1b"], name
        for population in ("v1", "v1b"):
            ids, data = _report(out, name, population)
            assert ids[:, 0].tolist() == [0, 2, 6] and np.all(np.isfinite(data)), (name, population)
    for population in ("v1", "v1b"):
        assert {i for i, _ in _spikes(out, population)} == {0, 2, 6}, "every Allen cell fires"
    run = json.loads((out / "run.json").read_text())
    assert run["populations"] == ["v1", "v1b"] and run["status"] == "completed"


@pytest.mark.parametrize(("population", "alone"), [("v1", "v1"), ("v1b", "v1b replay")])
def test_each_population_runs_as_it_does_alone(runs, population, alone):
    both, single = runs["both"], runs[alone]
    assert _spikes(both, population) == _spikes(single, population)
    for name in REPORTS:
        (ids, data), (ids1, data1) = _report(both, name, population), _report(single, name, population)
        np.testing.assert_array_equal(ids, ids1)
        np.testing.assert_array_equal(data, data1, err_msg=f"{name} of {population}")
    # the metabolism follows the activity: Na+ rises in the cells that fire
    na = _report(both, "Na_n", population)[1]
    assert np.all(na[-1] > na[0])


def test_edges_across_populations_are_connected(runs):
    with_v1 = _report(runs["both"], "soma_v", "v1b")[1]
    without = _report(runs["v1b plain"], "soma_v", "v1b")[1]
    assert np.abs(with_v1 - without).max() > 1.0


@pytest.mark.mpi
@pytest.mark.parametrize("ranks", [2, 4])
def test_the_same_on_several_ranks(runs, ranks):
    one, many = runs["both"], runs[f"both {ranks}"]
    for population in ("v1", "v1b"):
        assert _spikes(many, population) == _spikes(one, population)
        for name in REPORTS:
            np.testing.assert_array_equal(
                _report(many, name, population)[1], _report(one, name, population)[1]
            )
