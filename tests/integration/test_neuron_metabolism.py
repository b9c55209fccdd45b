"""End to end: NEURON + J15 metabolism on the default circuit, under real mpiexec (issue #5).

``msr init`` writes the default circuit and configuration (fewer neurons to keep the test short,
the same inputs and physiology), ``python -m multiscale_run.cli compute`` runs it on 1, 2 and 4
ranks. NEURON's Na+ influx and Na+/K+-ATPase ATP use feed the metabolism; ATP, ADP and Na+ come
back by merge (templates/multiscale_run.json). The SONATA reports are read with h5py and the
spikes with libsonata; nothing here was written by the code under test.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import h5py
import libsonata
import numpy as np
import pytest
from conftest import run_mpi

from multiscale_run.circuit.default import INPUT_WINDOW_MS

N_NEURONS = 12
#: Long enough to see ATP recover: with J15's metabolism and the pump's Na+ clearance (tau ~5 s)
#: the population-mean ATP reaches its minimum ~2 s after the burst (docs/neuron.md).
TSTOP_MS = 3000.0
#: The rank-identity runs need not be long: results at time t depend only on the past.
TSTOP_RANKS_MS = 400.0
REPORTS = ("ATP_n", "Na_n", "ADP_n", "atpi", "nai", "soma_v")


def _init(directory: Path, tstop_ms: float) -> None:
    from click.testing import CliRunner

    from multiscale_run.cli import main

    result = CliRunner().invoke(
        main, ["init", str(directory), "--neurons", str(N_NEURONS), "--tstop", str(tstop_ms)]
    )
    assert result.exit_code == 0, result.output
    path = directory / "simulation_config.json"
    config = json.loads(path.read_text())
    config["multiscale_run"]["progress"] = False
    path.write_text(json.dumps(config, indent=2))


def _report(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times ms, data [frames, cells] with columns sorted by node id, node ids)."""
    with h5py.File(path, "r") as f:
        pop = f["report/neurons"]
        data, ids = pop["data"][:], pop["mapping/node_ids"][:]
        start, _stop, step = pop["mapping/time"][:]
    order = np.argsort(ids, kind="stable")
    return start + step * np.arange(data.shape[0]), data[:, order], ids[order]


def _spikes(path: Path) -> np.ndarray:
    pop = libsonata.SpikeReader(str(path))["neurons"]
    spikes = np.array(pop.get(), dtype=float).reshape(-1, 2)
    return spikes[np.lexsort((spikes[:, 0], spikes[:, 1]))]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[int, Path]:
    """The same simulation computed on 1 (to TSTOP_MS), 2 and 4 ranks (to TSTOP_RANKS_MS)."""
    out = {}
    for n in (1, 2, 4):
        d = tmp_path_factory.mktemp(f"sim{n}")
        _init(d, TSTOP_MS if n == 1 else TSTOP_RANKS_MS)
        proc = run_mpi(n, [sys.executable, "-m", "multiscale_run.cli", "compute", str(d)], timeout=900)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
        out[n] = d / "output"
    return out


@pytest.mark.mpi
def test_activity_lowers_atp_which_recovers_after(runs):
    out = runs[1]
    t0, t1 = INPUT_WINDOW_MS
    spikes = _spikes(out / "spikes.h5")
    assert len(spikes) > 0, "the default inputs must make cells fire"
    assert spikes[:, 1].max() < t1 + 100.0, "activity must stop after the input window"

    t, atp, _ = _report(out / "ATP_n.h5")
    mean_atp = atp.mean(axis=1)
    _, na, _ = _report(out / "Na_n.h5")
    mean_na = na.mean(axis=1)
    before = t <= t0
    during = (t > t0) & (t <= t1)
    # Before the inputs the coupled system is at rest: Na+ constant, ATP within the splitting
    # offset of the 2-ms merge (< 5e-4 mM).
    assert np.ptp(mean_na[before]) < 1e-3
    assert np.ptp(mean_atp[before]) < 5e-4
    # Na+ rises during activity, then the pump brings it down.
    k_na_max = int(np.argmax(mean_na))
    rise = mean_na[k_na_max] - mean_na[0]
    assert rise > 0.02, f"Na_n rose only {rise} mM"
    assert t0 < t[k_na_max] <= t1 + 20.0
    assert mean_na[-1] < mean_na[k_na_max] - 0.1 * rise
    # ATP falls during activity and goes on falling while the Na+ load (the pump's extra ATP use)
    # clears; then glycolysis and mitochondria win and it recovers.
    assert mean_atp[during][-1] < mean_atp[0] - 5e-4, "ATP must fall during activity"
    k_min = int(np.argmax(t >= t1)) + int(np.argmin(mean_atp[t >= t1]))
    dip = mean_atp[0] - mean_atp[k_min]
    assert t1 < t[k_min] < t[-1] - 200.0, f"ATP minimum at {t[k_min]} ms, not before the end"
    assert mean_atp[-1] > mean_atp[k_min] + 0.01 * dip, "ATP must recover after its minimum"
    tail = t >= t[-1] - 300.0
    assert np.polyfit(t[tail], mean_atp[tail], 1)[0] > 0, "ATP must be rising at the end"
    # No cell ends depolarised (no depolarisation block): every soma back near rest.
    _, v, _ = _report(out / "soma_v.h5")
    assert v[-1].max() < -65.0 and v[-1].min() > -80.0


@pytest.mark.mpi
def test_neuron_atp_and_na_track_metabolism(runs):
    """NEURON's volume-mean atpi/nai equal the merged ATP_n/Na_n at the coupling times."""
    out = runs[1]
    t_m, atp_n, ids_m = _report(out / "ATP_n.h5")
    t_n, atpi, ids_n = _report(out / "atpi.h5")
    _, na_n, _ = _report(out / "Na_n.h5")
    _, nai, _ = _report(out / "nai.h5")
    np.testing.assert_array_equal(ids_m, ids_n)
    common, i_m, i_n = np.intersect1d(np.round(t_m, 6), np.round(t_n, 6), return_indices=True)
    assert len(common) >= 10
    # between couplings NEURON's pump uses ATP that metabolism replaces at the next merge: the
    # sawtooth over one 2-ms coupling step is ~4e-4 mM
    np.testing.assert_allclose(atpi[i_n], atp_n[i_m], rtol=0, atol=1e-3)
    np.testing.assert_allclose(nai[i_n], na_n[i_m], rtol=0, atol=1e-3)


@pytest.mark.mpi
def test_identical_on_1_2_4_ranks(runs):
    reference = {name: _report(runs[1] / f"{name}.h5") for name in REPORTS}
    spikes = _spikes(runs[1] / "spikes.h5")
    spikes = spikes[spikes[:, 1] < TSTOP_RANKS_MS]
    for n in (2, 4):
        for name in REPORTS:
            t, data, ids = _report(runs[n] / f"{name}.h5")
            t1, data1, ids1 = reference[name]
            np.testing.assert_array_equal(ids, ids1)
            np.testing.assert_array_equal(t, t1[: len(t)])
            np.testing.assert_allclose(
                data, data1[: len(t)], rtol=1e-9, atol=0, err_msg=f"{name} on {n} ranks"
            )
        other = _spikes(runs[n] / "spikes.h5")
        assert other.shape == spikes.shape
        np.testing.assert_array_equal(other[:, 0], spikes[:, 0])
        np.testing.assert_array_equal(other[:, 1], spikes[:, 1])
