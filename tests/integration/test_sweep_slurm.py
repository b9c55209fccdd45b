"""On a real one-node SLURM cluster: the sbatch script ``msr init`` writes runs a 2-rank simulation,
survives its time limit's warning signal (snapshot, requeue, resume), and the ``slurm`` executor
runs a 2 x 2 sweep as job arrays within their concurrency limit."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import time
from datetime import datetime
from pathlib import Path

import h5py
import numpy as np
import pytest
from sweep_helpers import env, msr, read_csv, report_values, states, write_sweep

from multiscale_run.init import init_simulation

ATP = "multiscale_run.metabolism.parameters.vATPasesn"
DELAY = "inputs.thalamic_poisson.delay"


def slurm_env(cluster) -> dict[str, str]:
    return {k: v for k, v in cluster.env.items() if k.startswith(("SLURM", "OMPI"))}


def sbatch_wait(cluster, sim: Path) -> subprocess.CompletedProcess:
    """``sbatch --wait`` of the simulation folder's script: returns when the job has ended."""
    return subprocess.run(
        ["sbatch", "--wait", "--parsable", str(sim / "simulation.sbatch")],
        env={**env(), **slurm_env(cluster)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_init_sbatch_script_runs_on_slurm(slurm_cluster, tmp_path):
    sim = tmp_path / "sim"
    init_simulation(sim, neurons=4, tstop=50.0, ntasks=2, time_limit="00:10:00")
    result = sbatch_wait(slurm_cluster, sim)
    job = result.stdout.strip().split(";")[0]
    log = sim / f"msr-sim-{job}.log"
    assert result.returncode == 0, (result.stderr, log.read_text() if log.is_file() else slurm_cluster.logs())
    run = json.loads((sim / "output" / "run.json").read_text())
    assert run["status"] == "completed" and run["ranks"] == 2 and run["t_reached_ms"] == 50.0
    assert "timings (min/mean/max over ranks)" in log.read_text()


def _fail_next_launch(cluster) -> int:
    """The next job's id, whose first step's launch will fail: PMIx finds that step's folder, as
    a step of an earlier cluster that reused the job id can leave it."""
    held = cluster.run("sbatch", "--hold", "--parsable", "--wrap=true")
    assert held.returncode == 0, held.stderr
    job = int(held.stdout.strip().split(";")[0])
    cluster.run("scancel", str(job))
    (cluster.root / "pmix" / f"spmix_appdir_{os.getuid()}_{job + 1}.0").mkdir()
    return job + 1


def test_init_sbatch_job_whose_launch_failed_fails(slurm_cluster, tmp_path):
    """srun exits 0 after "task 0 launch failed"; the script's job must not end COMPLETED."""
    sim = tmp_path / "sim"
    init_simulation(sim, neurons=2, tstop=5.0, ntasks=1, time_limit="00:10:00")
    job = _fail_next_launch(slurm_cluster)
    result = sbatch_wait(slurm_cluster, sim)
    assert result.stdout.strip().split(";")[0] == str(job)
    log = (sim / f"msr-sim-{job}.log").read_text()
    assert result.returncode == 1, (result.stderr, log)
    assert "launch failed" in log and "no run record" in log, log
    assert "msr: srun exited 0 but the run did not complete" in log
    assert not (sim / "output" / "run.json").exists()


def test_sbatch_job_warned_of_its_time_limit_snapshots_requeues_and_completes(slurm_cluster, tmp_path):
    """SLURM's warning before the time limit (``--signal=USR1@...``, sent here at once with
    ``scancel --signal=USR1``, which signals the job's steps as the time limit does): the ranks
    write a snapshot and exit 75, the script requeues the job, the next allocation resumes."""
    sim = tmp_path / "sim"
    init_simulation(sim, neurons=4, tstop=600.0, ntasks=2, time_limit="00:20:00")
    cluster_env = {**env(), **slurm_env(slurm_cluster)}
    submitted = subprocess.run(
        ["sbatch", "--parsable", str(sim / "simulation.sbatch")],
        env=cluster_env,
        capture_output=True,
        text=True,
        check=True,
    )
    job = submitted.stdout.strip().split(";")[0]
    log, soma = sim / f"msr-sim-{job}.log", sim / "output" / "soma_v.h5"
    _wait(lambda: _simulated_ms(log) > 30.0, 600, slurm_cluster, log)  # the progress bar in the log
    signalled = subprocess.run(
        ["scancel", "--signal=USR1", job], env=cluster_env, capture_output=True, text=True
    )
    assert signalled.returncode == 0, signalled.stderr
    run_json = sim / "output" / "run.json"
    _wait(
        lambda: run_json.is_file() and json.loads(run_json.read_text())["status"] == "completed",
        900,
        slurm_cluster,
        log,
    )
    text = log.read_text()
    assert "interrupted by SIGUSR1" in text and f"requeueing job {job}" in text
    assert "allocation 1 after a requeue: resuming" in text
    run = json.loads(run_json.read_text())
    snapshot_t = run["resumed_from"]["t_ms"]
    assert 0 < snapshot_t < 600.0 and run["t_reached_ms"] == 600.0 and run["ranks"] == 2
    with h5py.File(soma, "r") as f:  # every frame of the whole run is there, no gap at the snapshot
        data = f["report/neurons/data"]
        assert data.attrs["valid_frames"] == data.shape[0] == 6000
        assert np.all(data[()] != 0.0)


def _simulated_ms(log: Path) -> float:
    """How far the run got, by the progress bar it writes into the job's log."""
    found = re.findall(r"simulated: ([0-9.]+)/", log.read_text(errors="replace")) if log.is_file() else []
    return max(map(float, found), default=0.0)


def _wait(condition, timeout: float, cluster, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out; log: {log.read_text() if log.is_file() else cluster.logs()}")
        time.sleep(0.5)


def test_slurm_executor_runs_a_job_array_within_its_limit(slurm_cluster, tmp_path):
    init_simulation(tmp_path / "base", neurons=4, tstop=50.0)
    spec = {
        "base": "base",
        "parameters": {ATP: {"values": [0.1, 0.25]}, DELAY: {"values": [0.0, 20.0]}},
        "metrics": {"atp": {"kind": "mean", "report": "ATP_n", "window_ms": [5, 45]}},
        "executor": {"name": "slurm", "max_concurrent": 1, "ranks": 1, "time": "00:10:00"},
    }
    sweep_file = write_sweep(tmp_path / "array.json", spec)
    result = msr("sweep", str(sweep_file), extra_env=slurm_env(slurm_cluster))
    assert result.returncode == 0, (result.stderr, slurm_cluster.logs())
    # one array of four tasks, one at a time
    assert re.findall(r"--array=(\S+)", result.stderr) == ["0-3%1"], result.stderr
    sweep_dir = tmp_path / "array"
    points = states(sweep_dir)
    assert [s["status"] for s in points.values()] == ["completed"] * 4
    jobs = {s["slurm_job"].split("_")[0] for s in points.values()}
    assert len(jobs) == 1 and all(re.fullmatch(r"\d+_\d", s["slurm_job"]) for s in points.values())
    spans = sorted(
        (datetime.fromisoformat(s["started_at"]), datetime.fromisoformat(s["finished_at"]))
        for s in points.values()
    )
    assert slurm_cluster.cpus >= 2  # so that only the limit keeps the tasks apart
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end  # %1: never two points at once, though the node has room for two
    for row in read_csv(sweep_dir / "results.csv"):
        point = sweep_dir / "points" / row["point"]
        assert row["atp"] and not row["error"], row
        assert float(row["atp"]) == pytest.approx(report_values(point, "ATP_n", 5, 45).mean(), rel=1e-12)
    assert len(list((sweep_dir / "slurm").glob("*.log"))) == 4


def test_a_task_whose_launch_failed_is_failed_not_completed(slurm_cluster, tmp_path):
    """srun exits 0 after "task 0 launch failed": here PMIx finds its folder for the step taken,
    as a step of an earlier cluster that reused the job id can leave it. The point's sbatch script
    exits 1, the point is failed with the script's line (srun's is in its compute.log), and no
    metric is read from outputs it never wrote."""
    init_simulation(tmp_path / "base", neurons=2, tstop=5.0)
    job = _fail_next_launch(slurm_cluster)
    spec = {
        "base": "base",
        "parameters": {ATP: {"values": [0.1]}},
        "metrics": {"atp": {"kind": "mean", "report": "ATP_n"}},
        "executor": {"name": "slurm", "ranks": 1, "time": "00:10:00"},
    }
    result = msr(
        "sweep", str(write_sweep(tmp_path / "launch.json", spec)), extra_env=slurm_env(slurm_cluster)
    )
    assert result.returncode == 0, result.stderr
    state = states(tmp_path / "launch")["p0000"]
    assert state["slurm_job"] == f"{job}_0", state
    assert state["status"] == "failed" and state["returncode"] == 1, state
    assert state["error"] == "exit code 1: msr: srun exited 0 but the run did not complete", state
    assert "launch failed" in (tmp_path / "launch" / "points" / "p0000" / "compute.log").read_text()
    [row] = read_csv(tmp_path / "launch" / "results.csv")
    assert row["status"] == "failed" and row["atp"] == "" and "did not complete" in row["error"]
