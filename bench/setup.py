"""Benchmark: set-up time of a 1000-neuron default-type run on 1 and 2 ranks, side by side.

``msr init --neurons 1000 --tstop 1`` (the embedded default: NEURON + metabolism), then
``msr compute`` on 1 rank and under ``mpiexec -n 2``; the set-up is the ``setup:simulators``
activity of ``timings.json`` (max over ranks). The 1- and 2-rank runs alternate ``--repeats``
times (default 3); min and median of each are reported with the load average before and after
(2 cores shared with other jobs: the min is the best estimate of the code's cost). Also recorded:
everything before the first step (``setup:*``, the initial coupling exchange, which makes the
PtrVectors of the coupled NEURON variables, and the reports' creation). Writes
``bench/results/setup.json``; headline: the 1-rank set-up (target <= 5 s) and the 2-rank / 1-rank
ratio of the minima (target <= 0.55).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "setup.json"
N_NEURONS = 1000
TARGET_1_RANK_S = 5.0
TARGET_RATIO = 0.55


def _env() -> dict[str, str]:
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    return env


def _compute(sim: Path, ranks: int) -> dict:
    shutil.rmtree(sim / "output", ignore_errors=True)
    cmd = [sys.executable, "-m", "multiscale_run.cli", "compute", str(sim), "--no-progress"]
    if ranks > 1:
        cmd = ["mpiexec", "-n", str(ranks), "--oversubscribe", *cmd]
    subprocess.run(cmd, check=True, env=_env(), capture_output=True, timeout=1800)
    activities = json.loads((sim / "output" / "timings.json").read_text())["activities"]
    out = {name: row["seconds"] for name, row in activities.items() if name.startswith("setup")}
    before = ("setup:simulators", "setup:operators", "couplings:initial exchange", "reports:create")
    out["before_first_step"] = sum(activities[name]["seconds"] for name in before if name in activities)
    return out


def _summary(runs: list[dict]) -> dict:
    values = {key: [run[key] for run in runs] for key in runs[0]}
    return {key: {"min": min(v), "median": statistics.median(v), "all": v} for key, v in values.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        sim = Path(tmp) / "sim"
        init = [sys.executable, "-m", "multiscale_run.cli", "init", str(sim), "--neurons", str(N_NEURONS)]
        subprocess.run([*init, "--tstop", "1"], check=True, env=_env(), capture_output=True, timeout=1800)
        _compute(sim, 1)  # compiles the mechanisms and fills the operator cache: not part of set-up
        ones, twos = [], []
        for _ in range(args.repeats):
            ones.append(_compute(sim, 1))
            twos.append(_compute(sim, 2))
    one, two = _summary(ones), _summary(twos)
    best_1, best_2 = one["setup:simulators"]["min"], two["setup:simulators"]["min"]
    ratio = best_2 / best_1
    result = {
        "neurons": N_NEURONS,
        "repeats": args.repeats,
        "setup_1_rank_s": one,
        "setup_2_ranks_s": two,
        "ratio_2_over_1": ratio,
        "target_1_rank_s": TARGET_1_RANK_S,
        "target_ratio": TARGET_RATIO,
        "machine": {"cpus": os.cpu_count(), "load_before": load_before, "load_after": os.getloadavg()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f} ({os.cpu_count()} cpus)")
    for name, summary in (("1 rank", one), ("2 ranks", two)):
        row = summary["setup:simulators"]
        print(f"{name}: min {row['min']:.2f} s, median {row['median']:.2f} s", end="; ")
        print(f"before the first step: min {summary['before_first_step']['min']:.2f} s")
    print(f"2 ranks / 1 rank: {ratio:.2f} (target <= {TARGET_RATIO})")
    print(f"setup: {best_1:.2f}s (target <= {TARGET_1_RANK_S}s)")


if __name__ == "__main__":
    main()
