"""Benchmark: NeuronSim.advance on the default 50-cell circuit against the same cells in plain NEURON.

Both runs happen in this invocation, each in its own fresh process (NEURON state is global):
* msr: NeuronSim built from the default circuit, advanced in 1 ms steps with a get of v, nai and
  atpi after each step (what a coupled run does);
* plain: the same NeuronSim-built cells, then only ``h.finitialize`` and one ``pc.psolve(tstop)``.
Headline: advance wall time under msr divided by plain NEURON (target <= 1.05).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def main() -> None:
    tstop = float(sys.argv[1]) if len(sys.argv) > 1 else 1000.0
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
    }
    out = Path(__file__).resolve().parent / "results" / "neuron.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"msr: build circuit {msr['circuit_s']:.2f} s, build cells {msr['build_s']:.2f} s, "
        f"advance {msr['advance_s']:.2f} s; plain NEURON advance {plain['advance_s']:.2f} s; "
        f"{msr['segments']} segments, {msr['spikes']} spikes"
    )
    print(f"neuron: {ratio:.3f}x (target <= 1.05)")


if __name__ == "__main__":
    main()
