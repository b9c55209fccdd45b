"""Value checks in a real run: exclude_neuron decouples and lists the neuron; abort stops cleanly, exit 3."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import h5py
import numpy as np
from conftest import metabolism_only


def configure(default_template, tmp_path, check: dict):
    """A metabolism-only copy of the default simulation (fast: no NEURON) with one value check."""
    import shutil

    sim = tmp_path / "sim"
    shutil.copytree(default_template, sim)
    # Without NEURON's pump, coupled-mode ATP_n rises from its resting 2.1974 mM.
    return metabolism_only(sim, checks=[{"simulator": "metabolism", "variable": "ATP_n", **check}])


def compute(sim):
    return subprocess.run(
        [sys.executable, "-m", "multiscale_run.cli", "compute", str(sim)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_exclude_neuron_decouples_and_lists_it(default_template, tmp_path):
    sim = configure(default_template, tmp_path, {"hb": 2.2, "response": "exclude_neuron"})
    proc = compute(sim)
    assert proc.returncode == 0, proc.stderr
    with open(sim / "output" / "excluded_neurons.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(int(r["node_id"]) for r in rows) == list(range(6))
    assert {r["variable"] for r in rows} == {"ATP_n"} and all(r["reason"] == ">= hb 2.2" for r in rows)
    times = {float(r["time_ms"]) for r in rows}
    assert all(float(r["value"]) >= 2.2 for r in rows) and min(times) >= 100.0
    # an excluded neuron's metabolism is frozen from the time it was excluded
    with h5py.File(sim / "output" / "ATP_n.h5") as f:
        atp = f["report/neurons/data"][:]
        node_ids = f["report/neurons/mapping/node_ids"][:]
        dt = f["report/neurons/mapping/time"][2]
    for r in rows:
        column = int(np.flatnonzero(node_ids == int(r["node_id"]))[0])
        frozen_from = round(float(r["time_ms"]) / dt)
        np.testing.assert_array_equal(atp[frozen_from:, column], atp[frozen_from, column])
    assert json.loads((sim / "output" / "run.json").read_text())["status"] == "completed"


def test_abort_stops_cleanly_with_exit_code_3(default_template, tmp_path):
    sim = configure(default_template, tmp_path, {"hb": 2.2, "response": "abort"})
    proc = compute(sim)
    assert proc.returncode == 3
    assert "msr: run aborted: value check failed at t=" in proc.stderr
    assert "metabolism.ATP_n" in proc.stderr and "Traceback" not in proc.stderr
    assert ") on population neurons node " in proc.stderr  # a cell named as the circuit names it
    run = json.loads((sim / "output" / "run.json").read_text())
    assert run["status"].startswith("aborted: value check failed")
    with h5py.File(sim / "output" / "ATP_n.h5") as f:
        data = f["report/neurons/data"]
        valid = int(data.attrs["valid_frames"])
        assert 0 < valid < data.shape[0]  # flushed up to the abort, not beyond
        assert np.all(data[:valid] > 2.0)
