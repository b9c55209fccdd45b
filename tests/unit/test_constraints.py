"""Operator constraints against variable kinds (preCICE's consistent / conservative): msr check warns."""

from __future__ import annotations

import json

from multiscale_run.config import load
from multiscale_run.init import init_simulation
from multiscale_run.validation import semantic_warnings


def _constraint_warnings(sim) -> list[str]:
    warnings = [str(w) for w in semantic_warnings(load(sim))]
    return [w for w in warnings if "consistent" in w or "conservative" in w]


def test_the_template_couplings_suit_their_quantities(tmp_path):
    sim = tmp_path / "sim"
    init_simulation(sim, neurons=4, enable={"steps": True, "bloodflow": True})
    assert _constraint_warnings(sim) == []


def test_averaging_a_current_in_nA_is_a_warning(default_sim):
    path = default_sim / "simulation_config.json"
    config = json.loads(path.read_text())
    config["multiscale_run"]["couplings"].append(
        {
            "src": "neuron",
            "src_variable": "ina_nA",
            "dest": "metabolism",
            "dest_variable": "v_stim_n",
            "operator": "segment_to_neuron_volume_mean",
            "action": "set",
        }
    )
    path.write_text(json.dumps(config))
    (warning,) = _constraint_warnings(default_sim)
    assert "segment_to_neuron_volume_mean is consistent, but neuron.ina_nA is extensive" in warning
    assert "a conservative operator" in warning
