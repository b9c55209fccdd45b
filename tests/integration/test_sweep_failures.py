"""Failed points are recorded (status, error, wall time), skipped on the next run, and run again
with --retry-failed; points run under mpiexec when the executor asks for several ranks."""

from __future__ import annotations

import json

from sweep_helpers import msr, read_csv, states, write_sweep
from test_sweep_optuna import metabolism_only

from multiscale_run.init import init_simulation

ATP0 = "multiscale_run.metabolism.initial_state.ATP_n"
ROOT_MPI = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}


def test_failed_points_are_recorded_and_retried_on_request(tmp_path):
    init_simulation(tmp_path / "base", neurons=4)
    metabolism_only(tmp_path / "base")
    spec = {
        "base": "base",
        # J15 cannot start with more ATP than its adenine pool (A_tot = 2.212 mM): the second point fails
        "parameters": {ATP0: {"values": [1.5, 2.9]}},
        "metrics": {"atp": {"kind": "mean", "report": "ATP_n"}},
        "executor": {"name": "local", "workers": 2, "ranks": 2, "mpiexec": "mpiexec --oversubscribe"},
    }
    sweep_file = write_sweep(tmp_path / "fails.json", spec)
    sweep_dir = tmp_path / "fails"

    first = msr("sweep", str(sweep_file), extra_env=ROOT_MPI)
    assert first.returncode == 0, first.stderr
    good, bad = states(sweep_dir)["p0000"], states(sweep_dir)["p0001"]
    assert good["status"] == "completed" and good["error"] is None
    run = json.loads((sweep_dir / "points" / "p0000" / "output" / "run.json").read_text())
    assert run["ranks"] == 2 and run["status"] == "completed"
    assert bad["status"] == "failed" and bad["wall_s"] > 0 and bad["attempts"] == 1
    assert bad["error"].startswith("exit code 1: msr: ") and "StepSizeUnderflow" in bad["error"]
    rows = read_csv(sweep_dir / "results.csv")
    assert [r["status"] for r in rows] == ["completed", "failed"]
    assert rows[1]["atp"] == "" and "StepSizeUnderflow" in rows[1]["error"]

    again = msr("sweep", str(sweep_file), extra_env=ROOT_MPI)
    assert "skipping 2 finished point(s) of 2" in again.stderr
    assert states(sweep_dir)["p0001"]["attempts"] == 1

    retry = msr("sweep", "--retry-failed", str(sweep_file), extra_env=ROOT_MPI)
    assert "skipping 1 finished point(s) of 2" in retry.stderr
    after = states(sweep_dir)
    assert after["p0001"]["attempts"] == 2 and after["p0001"]["status"] == "failed"
    assert after["p0000"] == good
