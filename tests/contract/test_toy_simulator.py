"""A new simulator is one file plus one schema: the toy of ``toy_simulator.py`` joins a run.

It is registered, coupled to metabolism (``ATP_n`` drives the toy's ``drive``), reported, and
checked by ``msr check``'s rules, with no file of the package changed.
"""

from __future__ import annotations

import json
import math

import h5py
import numpy as np
import pytest
import toy_simulator
from conftest import metabolism_only

from multiscale_run.config import load
from multiscale_run.launch import run_simulation
from multiscale_run.simulators import catalogue
from multiscale_run.validation import semantic_problems


@pytest.fixture
def toy():
    toy_simulator.register()
    yield toy_simulator.SPEC
    catalogue.unregister("toy")


def _with_toy(sim):
    path = sim / "simulation_config.json"
    config = json.loads(path.read_text())
    msr = config["multiscale_run"]
    msr["order"].append("toy")
    msr["toy"] = {"reports": [{"name": "toy_x", "variable": "x"}]}
    msr["couplings"].append(
        {
            "src": "metabolism",
            "src_variable": "ATP_n",
            "dest": "toy",
            "dest_variable": "drive",
            "operator": "identity",
            "action": "set",
        }
    )
    path.write_text(json.dumps(config))
    return sim


def test_the_registry_derives_the_schema_and_build_order(toy):
    assert catalogue.names()[-1] == "toy"
    assert catalogue.build_order(["toy", "metabolism", "steps", "neuron", "bloodflow"]) == [
        "neuron",
        "bloodflow",
        "steps",
        "metabolism",
        "toy",
    ]
    from multiscale_run.config.schema import root_schema

    msr = root_schema()["$defs"]["multiscale_run"]["properties"]
    assert "toy" in msr["order"]["items"]["enum"] and msr["toy"]["properties"]["tau_ms"]["default"] == 150.0


def test_an_unregistered_simulator_is_a_schema_error(default_sim):
    from multiscale_run.config import ConfigError

    _with_toy(default_sim)
    with pytest.raises(ConfigError, match="toy"):
        load(default_sim)


def test_toy_simulator_runs_coupled_to_metabolism(toy, default_sim):
    sim = _with_toy(metabolism_only(default_sim))
    config = load(sim)
    assert config.simulator("toy")["tau_ms"] == 150.0  # the toy schema's default
    assert semantic_problems(config) == []
    assert run_simulation(sim, progress=False) == "completed"
    with h5py.File(sim / "output" / "ATP_n.h5") as f:
        atp = f["report/neurons/data"][:].astype(float)
        t_atp = f["report/neurons/mapping/time"][:]
    with h5py.File(sim / "output" / "toy_x.h5") as f:
        x = f["report/neurons/data"][:]
        np.testing.assert_array_equal(f["report/neurons/mapping/time"][:], t_atp)
        assert f["report/neurons/data"].attrs["units"] == "mM"
    # x_k = D + (x_{k-1} - D) e^{-dt/tau}, D the drive of the previous exchange (0 before the first)
    decay = math.exp(-100.0 / 150.0)
    expected = np.zeros_like(atp)
    for k in range(1, len(atp)):
        drive = atp[k - 1] if k > 1 else 0.0
        expected[k] = drive + (expected[k - 1] - drive) * decay
    np.testing.assert_allclose(x, expected, rtol=1e-6)
    assert np.all(x[2:] > 1.0)  # the ATP drive (about 2.2 mM) reached the toy
