"""MetabolismSim through a real Config: variables, units, set/get, advance in ms, schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from multiscale_run.config import Config
from multiscale_run.metabolism.parameters import STATE_NAMES, initial_state
from multiscale_run.parallel import Parallel
from multiscale_run.simulators.metabolism import MetabolismSim
from multiscale_run.spaces import Space

SCHEMA = Path(__file__).resolve().parents[2] / "multiscale_run" / "config" / "schema" / "metabolism.json"


def make_config(tmp_path: Path, **section) -> Config:
    data = {
        "run": {"tstop": 1000.0, "dt": 0.025},
        "network": "circuit_config.json",
        "multiscale_run": {"metabolism": {"enabled": True, **section}},
    }
    return Config.from_dict(data, tmp_path / "simulation_config.json")


def test_schema_is_valid_and_documents_every_key():
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False

    def walk(props):
        for key, sub in props.items():
            assert "default" in sub and "description" in sub, key
            if sub.get("type") == "object" and "properties" in sub:
                walk(sub["properties"])

    walk(schema["properties"])


def test_defaults_and_variables(tmp_path):
    sim = MetabolismSim(make_config(tmp_path), Parallel(), np.array([3, 5, 9]))
    assert sim.dt_ms == pytest.approx(100.0)
    variables = sim.variables()
    for name in (*STATE_NAMES, "ADP_n", "AMP_n", "ADP_g", "v_stim_n", "J_pump_ATP_n", "F_in", "V_cap", "K_e"):
        assert variables[name].space is Space.NEURON
    assert not variables["ADP_n"].writable
    np.testing.assert_allclose(sim.get("ATP_n"), initial_state(1)[0, STATE_NAMES.index("ATP_n")])
    assert sim.get("ADP_n") == pytest.approx(0.014520, rel=1e-4)
    np.testing.assert_allclose(sim.get("F_in"), 0.012)


def test_na_influx_raises_na_and_costs_atp_via_merge_contract(tmp_path):
    """Coupled mode: v_stim_n adds Na+ (pump off: Na_n rises by exactly ∫v_stim_n dt) and
    J_pump_ATP_n is subtracted from ATP_n; advance takes ms."""
    sim = MetabolismSim(make_config(tmp_path), Parallel(), np.array([0, 1]))
    na0 = sim.get("Na_n")
    sim.set("v_stim_n", np.array([0.0, 2.0]))
    sim.set("J_pump_ATP_n", np.array([0.17858671, 0.5]))
    sim.advance(100.0)
    sim.advance(200.0)
    np.testing.assert_allclose(sim.get("Na_n") - na0, [0.0, 0.4], atol=1e-9)
    atp = sim.get("ATP_n")
    assert atp[1] < atp[0]
    sim.set("K_e", np.array([3.5, 4.0]))
    np.testing.assert_array_equal(sim.get("K_e"), [3.5, 4.0])


def test_bad_names_and_shapes(tmp_path):
    sim = MetabolismSim(make_config(tmp_path), Parallel(), np.array([0, 1]))
    with pytest.raises(KeyError, match="no variable 'ATP'"):
        sim.get("ATP")
    with pytest.raises(ValueError, match="read-only"):
        sim.set("ADP_n", np.zeros(2))
    with pytest.raises(ValueError, match="3 values for 2 local cells"):
        sim.set("Na_n", np.zeros(3))


def test_unknown_parameter_override_is_a_user_error(tmp_path):
    from multiscale_run.errors import UserError

    with pytest.raises(UserError, match="unknown J15 parameter 'kPump'"):
        MetabolismSim(make_config(tmp_path, parameters={"kPump": 1.0}), Parallel(), np.array([0]))


def test_standalone_long_mode_from_config(tmp_path):
    """Standalone LONG mode: the mean-field Na+ influx J = 0.1529 mM/s raises Na_n."""
    cfg = make_config(tmp_path, mode="standalone", stimulus={"t_stim": 100.0, "long_mode": True}, ndts=40)
    sim = MetabolismSim(cfg, Parallel(), np.array([7]))
    sim.advance(1.0)  # 1 ms
    assert sim.get("Na_n")[0] > initial_state(1)[0, 0]
    assert sim.get("V")[0] == initial_state(1)[0, STATE_NAMES.index("V")]
