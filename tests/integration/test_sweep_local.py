"""A 3 x 3 grid over a metabolism and a stimulus parameter on the default circuit, run locally by 2
workers, killed half way and resumed; results.csv and the page checked against the reports
re-read with libsonata."""

from __future__ import annotations

import itertools
import json
import signal

import numpy as np
import pytest
from sweep_helpers import Tables, msr, read_csv, report_values, run_and_kill, spike_count, states, write_sweep

from multiscale_run.init import init_simulation

ATP = "multiscale_run.metabolism.parameters.vATPasesn"  # J15 neuronal ATPase rate (mM/s)
DELAY = "inputs.thalamic_poisson.delay"  # onset of the thalamic input (ms)
N_NEURONS, TSTOP = 4, 150.0


@pytest.fixture
def grid(tmp_path):
    base = tmp_path / "base"
    init_simulation(base, neurons=N_NEURONS, tstop=TSTOP)
    spec = {
        "base": "base",
        "parameters": {ATP: {"values": [0.1, 0.17, 0.25]}, DELAY: {"low": 0.0, "high": 80.0, "num": 3}},
        "method": {"name": "grid"},
        "metrics": {
            "atp": {"kind": "mean", "report": "ATP_n", "window_ms": [45, 145]},
            "na_max": {"kind": "max", "report": "Na_n", "window_ms": [45, 145]},
            "rate": {"kind": "spike_rate"},
        },
        "executor": {"name": "local", "workers": 2},
    }
    return write_sweep(tmp_path / "grid.json", spec), tmp_path / "grid", base


def test_grid_killed_and_resumed(grid):
    sweep_file, sweep_dir, base = grid
    before, err = run_and_kill(["sweep", str(sweep_file)], sweep_dir, completed=3, sig=signal.SIGTERM)
    done_before = {name for name, s in before.items() if s["status"] == "completed"}
    assert 3 <= len(done_before) < 9, err
    assert {s["status"] for name, s in before.items() if name not in done_before} <= {
        "pending",
        "interrupted",
    }

    result = msr("sweep", str(sweep_file))
    assert result.returncode == 0, result.stderr
    assert f"skipping {len(done_before)} finished point(s) of 9" in result.stderr
    after = states(sweep_dir)
    assert all(s["status"] == "completed" for s in after.values())
    for name in done_before:  # not run again
        assert after[name]["started_at"] == before[name]["started_at"]
        assert after[name]["attempts"] == 1
    rerun = {name for name in after if after[name].get("started_at") != before[name].get("started_at")}
    assert rerun == set(after) - done_before

    # every point is a real simulation folder on the base's circuit and caches, which were built once
    first_start = min(s["started_at"] for s in after.values() if s["name"] != "p0000")
    for name in after:
        point = sweep_dir / "points" / name
        config = json.loads((point / "simulation_config.json").read_text())
        assert config["network"] == str(base / "circuit" / "circuit_config.json")
        assert config["multiscale_run"]["cache_dir"] == str(base / "cache")
        assert not (point / "circuit").exists() and not (point / "cache").exists()
        log = (point / "compute.log").read_text()
        assert name == "p0000" or "compiling NEURON mechanisms" not in log  # one build, if any
        check = msr("check", str(point))
        assert check.returncode == 0 and ": OK:" in check.stdout, check.stderr
    from datetime import datetime

    built = max(p.stat().st_mtime for p in (base / "cache").rglob("*") if p.is_file())
    assert built < datetime.fromisoformat(first_start).timestamp()

    rows = read_csv(sweep_dir / "results.csv")
    grid_values = list(itertools.product([0.1, 0.17, 0.25], [0.0, 40.0, 80.0]))
    assert [(float(r[ATP]), float(r[DELAY])) for r in rows] == grid_values
    for row in rows:
        point = sweep_dir / "points" / row["point"]
        config = json.loads((point / "simulation_config.json").read_text())
        assert config["multiscale_run"]["metabolism"]["parameters"]["vATPasesn"] == float(row[ATP])
        assert config["inputs"]["thalamic_poisson"]["delay"] == float(row[DELAY])
        assert float(row["atp"]) == pytest.approx(report_values(point, "ATP_n", 45, 145).mean(), rel=1e-12)
        assert float(row["na_max"]) == pytest.approx(report_values(point, "Na_n", 45, 145).max(), rel=1e-12)
        rate = spike_count(point, 0.0, TSTOP) / (N_NEURONS * TSTOP / 1000.0)
        assert float(row["rate"]) == pytest.approx(rate, rel=1e-12)
        assert row["status"] == "completed" and float(row["wall_s"]) > 0 and row["error"] == ""
    # a faster neuronal ATPase leaves less ATP, whatever the stimulus onset
    atp = np.array([float(r["atp"]) for r in rows]).reshape(3, 3)
    assert (np.diff(atp, axis=0) < 0).all()

    # the page made by msr post-processing SWEEP shows the same table and the plots
    page = msr("post-processing", str(sweep_dir))
    assert page.returncode == 0, page.stderr
    html = Tables((sweep_dir / "results.html").read_text())
    header, *cells = html.tables["results"]
    assert header == list(rows[0])
    for row, shown in zip(rows, cells, strict=True):
        for key, text in zip(header, shown, strict=True):
            if key in ("atp", "na_max", "rate", ATP, DELAY):
                assert float(text) == pytest.approx(float(row[key]), rel=1e-5), key
            else:
                assert text == row[key]
    for metric in ("atp", "na_max", "rate"):
        assert f"heat map of {metric} over {ATP} and {DELAY}" in html.images
        assert {f"{metric} against {ATP}", f"{metric} against {DELAY}"} <= set(html.images)
