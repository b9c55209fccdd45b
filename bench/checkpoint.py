"""Benchmark: snapshot write and load time and size, for the default run and a 1000-neuron run.

For each size: ``msr init --neurons N`` (the embedded default, NEURON + metabolism), then, after
one run that compiles the mechanisms and fills the operator cache, ``REPEATS`` pairs of runs:
``msr compute --checkpoint-every T/2`` (a snapshot at T/2 and one at the end) and
``msr compute --resume`` from the T/2 snapshot (its set-up time beside a plain run's gives the
load time). Times come from each run's ``timings.json`` (max over ranks): ``checkpoint:write``
per snapshot and ``checkpoint:restore``; the snapshot's size is its folder on disk.

The share of run time is the write time per snapshot over the default interval between
snapshots (``multiscale_run.checkpoints.every_minutes``, 30 min of wall time); the share that a
snapshot every simulated second would cost is given beside it. Writes
``bench/results/checkpoint.json``; headline: the 1000-neuron share at the default interval
(target < 2 %).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "checkpoint.json"
SIZES = {"default (50 neurons)": (50, 200.0), "1000 neurons": (1000, 20.0)}
REPEATS = 3
DEFAULT_INTERVAL_S = 30 * 60.0
TARGET_SHARE = 0.02


def _env() -> dict[str, str]:
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    return env


def _msr(*args: str) -> dict:
    cmd = [sys.executable, "-m", "multiscale_run.cli", *args]
    subprocess.run(cmd, check=True, env=_env(), capture_output=True, timeout=3600)


def _timings(sim: Path) -> dict:
    rows = json.loads((sim / "output" / "timings.json").read_text())["activities"]
    return {name: row for name, row in rows.items()}


def _measure(neurons: int, tstop_ms: float, tmp: Path) -> dict:
    sim = tmp / f"n{neurons}"
    _msr("init", str(sim), "--neurons", str(neurons), "--tstop", str(tstop_ms))
    _msr("compute", str(sim), "--no-progress", "--overwrite")  # builds caches: not measured
    writes, restores, setups, walls, sizes = [], [], [], [], []
    for _ in range(REPEATS):
        start = time.perf_counter()
        _msr("compute", str(sim), "--no-progress", "--overwrite", "--checkpoint-every", f"{tstop_ms / 2}ms")
        walls.append(time.perf_counter() - start)
        rows = _timings(sim)
        writes.append(rows["checkpoint:write"]["seconds"] / rows["checkpoint:write"]["calls"])
        setups.append(rows["setup:simulators"]["seconds"])
        folders = sorted((sim / "output" / "checkpoints").glob("step-*"))
        sizes.append(sum(p.stat().st_size for p in folders[0].iterdir()))
        shutil.rmtree(folders[-1])  # resume from T/2
        _msr("compute", str(sim), "--no-progress", "--resume")
        restores.append(_timings(sim)["checkpoint:restore"]["seconds"])
    per_sim_s = statistics.median(walls) / (tstop_ms * 1e-3)  # wall s per simulated s
    write = statistics.median(writes)
    return {
        "neurons": neurons,
        "tstop_ms": tstop_ms,
        "write_s": {"min": min(writes), "median": write},
        "restore_s": {"min": min(restores), "median": statistics.median(restores)},
        "setup_s_median": statistics.median(setups),
        "size_bytes": statistics.median(sizes),
        "run_wall_s_median": statistics.median(walls),
        "share_at_default_interval": write / DEFAULT_INTERVAL_S,
        "share_every_simulated_second": write / per_sim_s,
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = {name: _measure(n, t, Path(tmp)) for name, (n, t) in SIZES.items()}
    out = {
        "sizes": results,
        "repeats": REPEATS,
        "default_interval_s": DEFAULT_INTERVAL_S,
        "target_share": TARGET_SHARE,
        "machine": {"cpus": os.cpu_count(), "load_1min": os.getloadavg()[0]},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    for name, r in results.items():
        print(
            f"{name}: write {r['write_s']['median']:.3f} s, restore {r['restore_s']['median']:.3f} s, "
            f"{r['size_bytes'] / 2**20:.1f} MiB, {100 * r['share_every_simulated_second']:.2f} % if every "
            "simulated second"
        )
    big = results["1000 neurons"]
    print(f"checkpoint: {100 * big['share_at_default_interval']:.3f}% (target < {100 * TARGET_SHARE:g}%)")


if __name__ == "__main__":
    main()
