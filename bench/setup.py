"""Benchmark: set-up time of a 1000-neuron default-type run on 1 and 2 ranks, side by side.

``msr init --neurons 1000 --tstop 1`` (the embedded default: NEURON + metabolism), then
``msr compute`` on 1 rank and under ``mpiexec -n 2``; the set-up is the ``setup:simulators``
activity of ``timings.json`` (max over ranks), with the NEURON build profiled by part when
``--profile`` is given. Writes ``bench/results/setup.json``; headline: the 1-rank set-up (target
<= 5 s) and the 2-rank / 1-rank ratio (target <= 0.55).
"""

from __future__ import annotations

import json
import os
import shutil
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
    return {name: row["seconds"] for name, row in activities.items() if name.startswith("setup")}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sim = Path(tmp) / "sim"
        init = [sys.executable, "-m", "multiscale_run.cli", "init", str(sim), "--neurons", str(N_NEURONS)]
        subprocess.run([*init, "--tstop", "1"], check=True, env=_env(), capture_output=True, timeout=1800)
        _compute(sim, 1)  # compiles the mechanisms and fills the operator cache: not part of set-up
        one, two = _compute(sim, 1), _compute(sim, 2)
    ratio = two["setup:simulators"] / one["setup:simulators"]
    result = {
        "neurons": N_NEURONS,
        "setup_1_rank_s": one,
        "setup_2_ranks_s": two,
        "ratio_2_over_1": ratio,
        "target_1_rank_s": TARGET_1_RANK_S,
        "target_ratio": TARGET_RATIO,
        "machine": {"cpus": os.cpu_count(), "load_1min": os.getloadavg()[0]},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"2 ranks: {two['setup:simulators']:.2f} s, ratio {ratio:.2f} (target <= {TARGET_RATIO})")
    print(f"setup: {one['setup:simulators']:.2f}s (target <= {TARGET_1_RANK_S}s)")


if __name__ == "__main__":
    main()
