"""Benchmark: NEURON under msr against NEURON without it, on two circuits.

1. The default 50-cell circuit, each run in its own fresh process (NEURON state is global):
   * msr: NeuronSim built from the default circuit, advanced in 1 ms steps with a get of v, nai
     and atpi after each step (what a coupled run does);
   * plain: the same NeuronSim-built cells, then only ``h.finitialize`` and one
     ``pc.psolve(tstop)``; advance wall time msr ÷ plain (target <= 1.05).
2. bmtk's ``bio_14cells`` (/work/shared/data/circuits) against bmtk's own simulator, BioNet:
   ``msr compute`` (``msr init --circuit``, NEURON only) and ``python run_bionet.py`` on the
   same copy of the circuit and the same protocol (the shipped network and spike inputs,
   ``tstop`` shortened, soma v of cells 0-9 and spikes written by both; BioNet's calcium and
   netcon reports dropped, msr writes no such reports), alternated run by run so both see the
   same load; whole-process wall time, min and median of the repeats. BioNet runs in its own
   environment (its pins clash with ours): ``$MSR_BMTK_PYTHON``, else
   ``/work/.bmtk-venv/bin/python`` (``python3 -m venv /work/.bmtk-venv &&
   /work/.bmtk-venv/bin/pip install bmtk neuron``); without one this part is skipped, saying so.
   Headline: msr ÷ BioNet median wall time (target <= 1.0).

``python bench/neuron.py [TSTOP_DEFAULT_MS] [TSTOP_BMTK_MS] [REPEATS]`` (1000, 1000, 3).
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

CIRCUITS = Path(__file__).resolve().parents[2] / "shared" / "data" / "circuits"
BMTK_VENV_PYTHON = Path("/work/.bmtk-venv/bin/python")

RUN = """
import sys, time
from pathlib import Path
import numpy as np
from multiscale_run.parallel import Parallel
from multiscale_run.circuit.default import build_default_circuit
from multiscale_run.simulators.neuron import NeuronSettings, NeuronSim
d, mode, tstop = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
t0 = time.perf_counter()
c = build_default_circuit(d / "circuit", 50)
t1 = time.perf_counter()
sim = NeuronSim.from_settings(NeuronSettings(circuit_config=c.circuit_config, node_set=c.node_set,
    node_sets_file=c.node_sets_file, inputs=c.inputs,
    tstop_ms=tstop), Parallel())
t2 = time.perf_counter()
if mode == "msr":
    for t in np.arange(1.0, tstop + 1e-9, 1.0):
        sim.advance(t)
        sim.get("v"); sim.get("nai"); sim.get("atpi")
else:
    from neuron import h
    h.finitialize(-70.0)  # the leaks are already calibrated; replayed events are re-queued below
    for nc, times in sim._replay:
        for t in times:
            nc.event(float(t))
    sim.pc.psolve(tstop)
t3 = time.perf_counter()
ids, _ = sim.spikes()
print({"circuit_s": t1 - t0, "build_s": t2 - t1, "advance_s": t3 - t2, "spikes": len(ids),
       "segments": sim.n_segments})
"""


def run(mode: str, directory: Path, tstop: float) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", RUN, str(directory), mode, str(tstop)],
        capture_output=True,
        text=True,
        check=True,
    )
    return eval(proc.stdout.strip().splitlines()[-1])


def bmtk_python() -> Path | None:
    """The Python that has bmtk (``$MSR_BMTK_PYTHON``, else the bench's venv), or None."""
    given = os.environ.get("MSR_BMTK_PYTHON")
    path = Path(given) if given else BMTK_VENV_PYTHON
    return path if path.is_file() else None


def _timed(cmd: list[str], cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"{cmd} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return elapsed


def _spike_count(path: Path) -> int:
    import h5py

    with h5py.File(path, "r") as f:
        return len(f["spikes/v1/node_ids"])


def bench_bmtk(bmtk_py: Path, work: Path, tstop: float, repeats: int) -> dict:
    """msr and BioNet on one copy of bio_14cells, alternated; whole-process wall times."""
    for name in ("bmtk_bio_14cells", "bio_components"):
        shutil.copytree(CIRCUITS / name, work / name, ignore=shutil.ignore_patterns("reference"))
    circuit = work / "bmtk_bio_14cells"
    config = json.loads((circuit / "config.simulation.json").read_text())
    config["run"]["tstop"] = tstop
    config["reports"] = {"membrane_potential": config["reports"]["membrane_potential"]}
    (circuit / "config.bench.json").write_text(json.dumps(config, indent=2))
    env = {**os.environ, "MSR_MECHANISMS_CACHE": str(work / "mechanisms")}
    nrnivmodl = bmtk_py.with_name("nrnivmodl")
    _timed([str(nrnivmodl), "modfiles"], work / "bio_components" / "mechanisms", env)
    msr = [sys.executable, "-m", "multiscale_run.cli"]
    sim = work / "sim"
    _timed(
        [*msr, "init", str(sim), "--circuit", str(circuit / "config.bench.json"), "--no-metabolism"],
        work,
        env,
    )
    _timed([*msr, "compute", str(sim), "--overwrite"], work, env)  # warm-up: compiles msr's build
    bionet = [str(bmtk_py), "run_bionet.py", "config.bench.json"]
    times = {"msr": [], "bionet": []}
    for _ in range(repeats):
        times["bionet"].append(_timed(bionet, circuit, env))
        times["msr"].append(_timed([*msr, "compute", str(sim), "--overwrite"], work, env))
    out = {
        name: {"min_s": min(t), "median_s": statistics.median(t), "runs_s": t} for name, t in times.items()
    }
    out["msr"]["spikes"] = _spike_count(sim / "output" / "spikes.h5")
    out["bionet"]["spikes"] = _spike_count(circuit / "output" / "spikes.h5")
    out["ratio_median"] = out["msr"]["median_s"] / out["bionet"]["median_s"]
    out["ratio_min"] = out["msr"]["min_s"] / out["bionet"]["min_s"]
    out["tstop_ms"], out["repeats"] = tstop, repeats
    return out


def main() -> None:
    tstop = float(sys.argv[1]) if len(sys.argv) > 1 else 1000.0
    tstop_bmtk = float(sys.argv[2]) if len(sys.argv) > 2 else 1000.0
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        run("plain", d, 10.0)  # warm-up: compile the mechanisms once
        start = time.perf_counter()
        msr = run("msr", d, tstop)
        plain = run("plain", d, tstop)
        total = time.perf_counter() - start
    ratio = msr["advance_s"] / plain["advance_s"]
    result = {
        "tstop_ms": tstop,
        "msr": msr,
        "plain_neuron": plain,
        "ratio": ratio,
        "target": 1.05,
        "wall_s": total,
        "same_spike_count": msr["spikes"] == plain["spikes"],
        "load_average_start": os.getloadavg(),
    }
    print(
        f"default circuit: msr: build circuit {msr['circuit_s']:.2f} s, build cells {msr['build_s']:.2f} s, "
        f"advance {msr['advance_s']:.2f} s; plain NEURON advance {plain['advance_s']:.2f} s; "
        f"{msr['segments']} segments, {msr['spikes']} spikes; {ratio:.3f}x (target <= 1.05)"
    )
    bmtk_py = bmtk_python()
    if bmtk_py is None or not CIRCUITS.is_dir():
        print(
            "bmtk circuit skipped: no BioNet (set MSR_BMTK_PYTHON or create "
            f"{BMTK_VENV_PYTHON.parent.parent}) "
            f"or no {CIRCUITS}"
        )
        bmtk = None
    else:
        with tempfile.TemporaryDirectory() as tmp:
            bmtk = bench_bmtk(bmtk_py, Path(tmp), tstop_bmtk, repeats)
        bmtk["target"] = 1.0
        bmtk["load_average_end"] = os.getloadavg()
        for name in ("msr", "bionet"):
            b = bmtk[name]
            print(
                f"bio_14cells {name}: min {b['min_s']:.2f} s, median {b['median_s']:.2f} s, "
                f"{b['spikes']} spikes"
            )
    result["bmtk_bio_14cells"] = bmtk
    out = Path(__file__).resolve().parent / "results" / "neuron.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"load average {os.getloadavg()[0]:.1f} (machine shared with other work)")
    if bmtk is None:
        print(f"neuron: {ratio:.3f}x (target <=1.05, default circuit vs plain NEURON; BioNet not installed)")
    else:
        print(f"neuron: {bmtk['ratio_median']:.3f}x (target <=1.0)")


if __name__ == "__main__":
    main()
