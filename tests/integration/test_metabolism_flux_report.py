"""Metabolism fluxes in the SONATA reports of a default run (``msr init``: NEURON + metabolism,
merged ATP and Na+): the reported v_HK_n, v_LAC_ne and v_Pump_g, read back with h5py, are
``model.fluxes()`` of the reported states, frame by frame and cell by cell."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

from multiscale_run.metabolism.model import ModelOptions, fluxes
from multiscale_run.metabolism.parameters import STATE_INDEX, initial_state, make_parameters

MSR = Path(sys.executable).with_name("msr")
#: each flux and the states it depends on (spec §4.1, §4.3, §4.5)
FLUXES = {"v_HK_n": ("HK_n", ("ATP_n", "GLC_n")), "v_LAC_ne": ("LAC_ne", ("LAC_n", "LAC_e"))}
FLUXES["v_Pump_g"] = ("Pump_g", ("ATP_g", "Na_g"))


def msr(*args: str) -> list[str]:
    return [str(MSR), *args] if MSR.is_file() else [sys.executable, "-m", "multiscale_run.cli", *args]


def run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"


def read(output: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(data [frames, cells] in node-id order, node ids) of report ``name``."""
    with h5py.File(output / f"{name}.h5", "r") as f:
        pop = f["report/neurons"]
        data, ids = pop["data"][: int(pop["data"].attrs["valid_frames"])], pop["mapping/node_ids"][:]
    order = np.argsort(ids)
    return data[:, order], ids[order]


def test_reported_fluxes_are_the_model_fluxes_of_the_reported_states(tmp_path):
    sim = tmp_path / "sim"
    run(msr("init", str(sim), "--neurons", "6", "--tstop", "100"))
    path = sim / "simulation_config.json"
    config = json.loads(path.read_text())
    section = config["multiscale_run"]
    section["progress"] = False
    states = sorted({s for _, deps in FLUXES.values() for s in deps})
    reports = [*FLUXES, *states]
    section["metabolism"]["reports"] = [
        {"name": f"r_{name}", "variable": name, "dt_ms": 10.0} for name in reports
    ]
    path.write_text(json.dumps(config, indent=2))
    # the SONATA "reports" section follows the multiscale_run reports
    run([sys.executable, "-m", "multiscale_run.output.sonata_section", str(path)])
    run(msr("compute", str(sim)))

    output = sim / "output"
    data = {name: read(output, f"r_{name}")[0] for name in reports}
    frames, cells = data["v_HK_n"].shape
    assert frames >= 10 and cells == 6
    y = initial_state(frames * cells).reshape(frames, cells, -1)
    for name in states:
        y[..., STATE_INDEX[name]] = data[name]
    p = make_parameters(cells)
    opts = ModelOptions.coupled()
    expected = fluxes(0.0, y, p, opts)
    eps = 2.0**-23  # reports are float32: each reported value is within one float32 ulp
    for name, (key, deps) in FLUXES.items():
        # rounding bound: the flux's own rounding plus each input state's, propagated
        bound = eps * np.abs(expected[key])
        for state in deps:
            y_up = y.copy()
            y_up[..., STATE_INDEX[state]] *= 1.0 + eps
            bound = bound + np.abs(fluxes(0.0, y_up, p, opts)[key] - expected[key])
        assert np.all(np.abs(data[name] - expected[key]) <= 2.0 * bound), name
    # NEURON's activity moved the fluxes off rest
    assert np.ptp(data["v_HK_n"]) > 1e3 * 2.0**-23 * 0.004372  # far above float32 resolution
