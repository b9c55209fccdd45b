"""bmtk's ``bio_14cells`` as shipped, run by ``msr init --circuit <simulation config>`` and ``msr
compute`` (NEURON only) against the BioNet results shipped beside it (bmtk 1.2.0, NEURON 9.0.2;
``/work/shared/data/circuits/README.md`` says how they were made). The circuit files are read in
place, never copied.

- ``bionet_iclamp``: no edges, 0.25 nA IClamp 100-500 ms on the 10 Allen cells: the same spike
  count per node, spike times within 0.1 ms, soma v within 1 mV outside spikes (±2 ms around
  each spike). Frames: BioNet's frame k holds v at (k+1)·dt, msr's soma report frame k v at
  t_start + k·dt; they are compared at equal times.
- ``bionet_shipped``: the 3000-ms network with spike inputs, on 2 ranks. BioNet places the
  synapses with its own random stream, which msr does not reproduce: firing rates within 10 %
  per cell with at least 10 reference spikes (the 4 PV cells fire 1-3 times) and in total.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import msr_command as msr
from conftest import run_checked as _run

CIRCUIT = Path(__file__).resolve().parents[3] / "shared" / "data" / "circuits" / "bmtk_bio_14cells"
REF = CIRCUIT / "reference"
pytestmark = pytest.mark.skipif(not REF.is_dir(), reason="the shared bmtk circuit is not installed")


def _simulate(tmp: Path, config: Path, ranks: int) -> Path:
    sim = tmp / f"sim{ranks}"
    _run(msr("init", str(sim), "--circuit", str(config), "--no-metabolism"))
    _run(msr("compute", str(sim)), ranks)
    return sim / "output"


def _spikes(path: Path, population: str = "v1") -> dict[int, np.ndarray]:
    with h5py.File(path, "r") as f:
        ids, times = f[f"spikes/{population}/node_ids"][()], f[f"spikes/{population}/timestamps"][()]
    return {int(i): np.sort(times[ids == i]) for i in np.unique(ids)}


def _bionet_v(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, node ids, v (time, cell)) of a BioNet membrane report: frame k at (k+1)·dt."""
    with h5py.File(path, "r") as f:
        pop = f["report/v1"]
        start, _, dt = pop["mapping/time"][()]
        data, ids = pop["data"][()], pop["mapping/node_ids"][()]
    return start + dt * (1 + np.arange(len(data))), ids, data


def _msr_v(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with h5py.File(path, "r") as f:
        pop = f["report/v1"]
        start, _, dt = pop["mapping/time"][()]
        n = int(pop["data"].attrs["valid_frames"])
        data, ids = pop["data"][:n], pop["mapping/node_ids"][()]
    return start + dt * np.arange(n), ids, data


@pytest.mark.parametrize("ranks", [1, 2, 4])
def test_iclamp_matches_bionet(tmp_path, ranks):
    out = _simulate(tmp_path, REF / "config.iclamp.json", ranks)
    got, want = _spikes(out / "spikes.h5"), _spikes(REF / "bionet_iclamp" / "spikes.h5")
    assert {k: len(v) for k, v in got.items()} == {k: len(v) for k, v in want.items()}
    worst = max(np.abs(got[k] - want[k]).max() for k in want)
    assert worst <= 0.1, f"spike times differ by up to {worst} ms"

    t_ref, ids_ref, v_ref = _bionet_v(REF / "bionet_iclamp" / "membrane_potential.h5")
    t_msr, ids_msr, v_msr = _msr_v(out / "soma_v.h5")
    common, i_ref, i_msr = np.intersect1d(np.round(t_ref, 6), np.round(t_msr, 6), return_indices=True)
    assert len(common) > 5000
    spikes = np.concatenate([*want.values(), *got.values()])
    quiet = np.all(np.abs(common[:, None] - spikes[None, :]) > 2.0, axis=1)
    for col, node in enumerate(ids_ref):
        mine = v_msr[i_msr, int(np.flatnonzero(ids_msr == node)[0])]
        diff = np.abs(mine - v_ref[i_ref, col])[quiet]
        assert diff.max() < 1.0, f"node {node}: soma v differs by up to {diff.max():.3f} mV outside spikes"


def test_shipped_network_rates_match_bionet(tmp_path):
    out = _simulate(tmp_path, CIRCUIT / "config.simulation.json", 2)
    got = _spikes(out / "spikes.h5")
    want = _spikes(REF / "bionet_shipped" / "spikes.h5")
    report = {k: (len(got.get(k, [])), len(want[k])) for k in sorted(want)}
    busy = [k for k, (_, n) in report.items() if n >= 10]
    assert len(busy) == 10  # 6 excitatory Allen cells and the 4 IntFire1 cells
    for node in busy:
        n_got, n_want = report[node]
        assert abs(n_got - n_want) <= 0.1 * n_want, f"node {node}: {n_got} vs {n_want} spikes ({report})"
    total = sum(n for n, _ in report.values()), sum(n for _, n in report.values())
    assert abs(total[0] - total[1]) <= 0.1 * total[1], report
