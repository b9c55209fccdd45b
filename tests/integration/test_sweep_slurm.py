"""On a real one-node SLURM cluster: the sbatch script ``msr init`` writes runs a 2-rank simulation,
and the ``slurm`` executor runs a 2 x 2 sweep as job arrays within their concurrency limit."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
from datetime import datetime

import pytest
from sweep_helpers import env, msr, read_csv, report_values, states, write_sweep

from multiscale_run.init import init_simulation

ATP = "multiscale_run.metabolism.parameters.vATPasesn"
DELAY = "inputs.thalamic_poisson.delay"


def slurm_env(cluster) -> dict[str, str]:
    return {k: v for k, v in cluster.env.items() if k.startswith(("SLURM", "OMPI"))}


def test_init_sbatch_script_runs_on_slurm(slurm_cluster, tmp_path):
    sim = tmp_path / "sim"
    init_simulation(sim, neurons=4, tstop=50.0, ntasks=2, time_limit="00:10:00")
    result = subprocess.run(
        ["sbatch", "--wait", "--parsable", str(sim / "simulation.sbatch")],
        env={**env(), **slurm_env(slurm_cluster)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    job = result.stdout.strip().split(";")[0]
    log = sim / f"msr-sim-{job}.log"
    assert result.returncode == 0, (result.stderr, log.read_text() if log.is_file() else slurm_cluster.logs())
    run = json.loads((sim / "output" / "run.json").read_text())
    assert run["status"] == "completed" and run["ranks"] == 2 and run["t_reached_ms"] == 50.0
    assert "timings (min/mean/max over ranks)" in log.read_text()


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
        assert float(row["atp"]) == pytest.approx(report_values(point, "ATP_n", 5, 45).mean(), rel=1e-12)
    assert len(list((sweep_dir / "slurm").glob("*.log"))) == 4
