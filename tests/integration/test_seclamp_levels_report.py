"""A multi-level seclamp and a conductance input through the CLI: ``msr check`` passes, ``msr
compute`` runs, and the soma report (read with libsonata) shows each clamped soma at each level
in order and the unclamped ones free. (1 and 2 ranks: tests/mpi/test_conductance_seclamp_mpi.py.)"""

from __future__ import annotations

import json

import libsonata
import numpy as np
import pytest
from conftest import msr_command, msr_compute, run_checked

LEVELS = [(-70.0, 10.0), (-50.0, 10.0), (-30.0, 10.0), (-60.0, 5.0), (-40.0, 5.0)]  # (mV, ms)
HELD = [0, 3]
INPUTS = {
    "hold": {"input_type": "voltage_clamp", "module": "seclamp", "voltage": LEVELS[0][0],
             "duration": LEVELS[0][1], "voltage_levels": [v for v, _ in LEVELS[1:]],
             "duration_levels": [d for _, d in LEVELS[1:]], "node_set": "held"},
    "excite": {"input_type": "conductance", "module": "shot_noise", "rise_time": 0.5, "decay_time": 4.0,
               "rate": 400.0, "amp_mean": 0.004, "amp_var": 4e-6, "reversal": 0.0, "delay": 5.0,
               "duration": 40.0, "node_set": "neurons"},
}  # fmt: skip


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    d = tmp_path_factory.mktemp("seclamp_levels") / "sim"
    run_checked(msr_command("init", str(d), "--neurons", "4", "--no-metabolism", "--tstop", "50"))
    path = d / "simulation_config.json"
    config = json.loads(path.read_text())
    config["inputs"] = INPUTS
    path.write_text(json.dumps(config, indent=2))
    sets_file = d / config["node_sets_file"]
    sets = json.loads(sets_file.read_text())
    sets["held"] = {"population": "neurons", "node_id": HELD}
    sets_file.write_text(json.dumps(sets))
    run_checked(msr_command("check", str(d)))
    return d


def _soma(output) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    report = libsonata.SomaReportReader(str(output / "soma_v.h5"))
    frame = report["neurons"].get()
    order = np.argsort(frame.ids)
    return np.array(frame.times), np.array(frame.ids)[order], np.array(frame.data)[:, order]


def test_soma_report_follows_the_levels(sim):
    t, ids, v = _soma(msr_compute(sim, ranks=1))
    held = np.isin(ids, HELD)
    start = 0.0
    for level, duration in LEVELS:
        inside = (t > start + 0.1) & (t < start + duration - 0.1)
        # within the drop across the 0.01 MOhm series resistance (< 50 nA here)
        assert np.abs(v[inside][:, held] - level).max() < 0.5
        assert np.abs(v[inside][:, ~held] - level).max() > 5.0
        start += duration
    assert np.abs(v[t > start + 1.0][:, held] - LEVELS[-1][0]).max() > 5.0  # let go after the last
