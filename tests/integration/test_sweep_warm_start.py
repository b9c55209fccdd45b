"""Warm start: the base run goes to ``warm_start.t_ms`` once, and every point branches from that
snapshot. The oracle is the uninterrupted run: the point that keeps the base value must equal a
plain ``msr compute`` of the base to tstop, bit for bit; the others share the warm-up's frames
and differ after it."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
from sweep_helpers import msr, read_csv, states, write_sweep

from multiscale_run.init import init_simulation
from multiscale_run.metabolism.parameters import PARAMETERS

ATP = "multiscale_run.metabolism.parameters.vATPasesn"
BASE_ATP = PARAMETERS["vATPasesn"][0]
TSTOP, WARM = 300.0, 150.0


def _reports(folder):
    out = {}
    for path in sorted(folder.glob("*.h5")):
        with h5py.File(path, "r") as f:
            if "report" in f:
                pop = next(iter(f["report"]))
                out[path.name] = f[f"report/{pop}/data"][()]
            else:
                pop = next(iter(f["spikes"]))
                out[path.name] = (f[f"spikes/{pop}/node_ids"][()], f[f"spikes/{pop}/timestamps"][()])
    return out


@pytest.fixture(scope="module")
def warm_sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("warm")
    base = root / "base"
    init_simulation(base, neurons=4, tstop=TSTOP)
    plain = root / "plain"
    shutil.copytree(base, plain)
    done = msr("compute", str(plain), "--no-progress")
    assert done.returncode == 0, done.stderr
    spec = {
        "base": "base",
        "parameters": {ATP: {"values": [BASE_ATP, 1.5 * BASE_ATP]}},
        "metrics": {"atp": {"kind": "mean", "report": "ATP_n", "window_ms": [WARM, TSTOP]}},
        "executor": {"name": "local", "workers": 2},
        "warm_start": {"t_ms": WARM},
    }
    ran = msr("sweep", str(write_sweep(root / "warm.json", spec)))
    assert ran.returncode == 0, ran.stderr
    return root / "warm", plain / "output"


def test_every_point_records_and_continues_the_shared_snapshot(warm_sweep):
    sweep, _ = warm_sweep
    [snapshot] = sorted((sweep / "warm_start" / "output" / "checkpoints").glob("step-*"))
    assert json.loads((snapshot / "manifest.json").read_text())["t_ms"] == WARM
    warm = _reports(sweep / "warm_start" / "output")
    for name, state in states(sweep).items():
        assert state["status"] == "completed", name
        run = json.loads((sweep / "points" / name / "output" / "run.json").read_text())
        assert run["resumed_from"] == {"snapshot": str(snapshot), "t_ms": WARM}
        point = _reports(sweep / "points" / name / "output")
        frames = warm["ATP_n.h5"].shape[0]  # the warm-up's frames: [0, WARM)
        np.testing.assert_array_equal(point["ATP_n.h5"][:frames], warm["ATP_n.h5"], err_msg=name)
    rows = {r["point"]: r for r in read_csv(sweep / "results.csv")}
    assert float(rows["p0001"]["atp"]) != float(rows["p0000"]["atp"])  # the branches differ


def test_the_point_with_the_base_value_equals_an_uninterrupted_run(warm_sweep):
    sweep, plain = warm_sweep
    point, whole = _reports(sweep / "points" / "p0000" / "output"), _reports(plain)
    assert point.keys() == whole.keys()
    for name, values in whole.items():
        if isinstance(values, tuple):
            for a, b in zip(values, point[name], strict=True):
                np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            np.testing.assert_array_equal(values, point[name], err_msg=name)


@pytest.mark.parametrize(
    ("warm", "parameters", "named"),
    [
        ({"t_ms": TSTOP}, {ATP: {"values": [0.1]}}, "warm_start.t_ms: 300 ms is not before a point's tstop"),
        (
            {"t_ms": 50.0},
            {"run.dt": {"values": [0.05]}},
            "parameters.run.dt: cannot be varied with a warm start",
        ),
        ({"t_ms": -1}, {ATP: {"values": [0.1]}}, "warm_start.t_ms: missing or not > 0"),
        (
            {"t_ms": 50.0},
            {"multiscale_run.metabolism.initial_state.ATP_n": {"values": [2.0]}},
            "is an initial value or a coupled input, which a warm start takes from the shared snapshot",
        ),
        (
            {"t_ms": 50.0},
            {"inputs.thalamic_poisson.delay": {"values": [10.0]}},
            "the spike input's events are in the shared snapshot's event queue",
        ),
    ],
)
def test_an_impossible_warm_start_fails_before_anything_runs(tmp_path, warm, parameters, named):
    base = tmp_path / "base"
    init_simulation(base, neurons=4, tstop=TSTOP)
    spec = {"base": "base", "parameters": parameters, "warm_start": warm}
    refused = msr("sweep", str(write_sweep(tmp_path / "bad.json", spec)))
    assert refused.returncode == 2 and named in refused.stderr, refused.stderr
    assert not (tmp_path / "bad" / "warm_start").exists()
