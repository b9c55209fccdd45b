"""Named unit conversions of the coupling transforms, against the physics they stand for."""

from __future__ import annotations

import json

import numpy as np
import pytest

from multiscale_run.config import load
from multiscale_run.coupling.conversions import CONVERSIONS, expression_of, transform
from multiscale_run.metabolism.parameters import INPUTS
from multiscale_run.validation import semantic_problems

#: elementary charge, C (SI 2019, exact)
ELEMENTARY_CHARGE_C = 1.602176634e-19


def test_a_current_carries_charge_over_e_ions():
    # 1 nA for 1 ms is 1e-12 C, i.e. 1e-12 / e monovalent ions; linear in current and step
    to_ions = transform("monovalent_current_nA_to_ions")
    ions = to_ions(vals=np.array([1.0, -4.0]), dt_ms=0.5)
    np.testing.assert_allclose(ions, np.array([0.5, -2.0]) * 1e-12 / ELEMENTARY_CHARGE_C, rtol=1e-9)


def test_resting_flow_gives_the_j15_resting_inflow():
    # flow at rest (ratio 1) is the J15 model's own default F_in (F0, Jolivet et al. 2015)
    to_f_in = transform("flow_ratio_to_F_in")
    assert to_f_in(vals=np.array([1.0]), dt_ms=100.0)[0] == INPUTS["F_in"][0]
    assert CONVERSIONS["flow_ratio_to_F_in"].dest_unit == INPUTS["F_in"][1]


def test_an_expression_stands_for_itself():
    assert expression_of(" 2 * vals ") == "2 * vals"
    assert transform("2 * vals")(vals=np.array([1.5]), dt_ms=1.0)[0] == 3.0


def test_check_rejects_a_conversion_between_the_wrong_units(default_sim):
    path = default_sim / "simulation_config.json"
    config = json.loads(path.read_text())
    config["multiscale_run"]["couplings"].append(
        {
            "src": "metabolism",
            "src_variable": "ATP_n",
            "dest": "metabolism",
            "dest_variable": "K_e",
            "operator": "identity",
            "action": "set",
            "transform": "monovalent_current_nA_to_ions",
        }
    )
    path.write_text(json.dumps(config))
    problems = [str(p) for p in semantic_problems(load(default_sim))]
    assert len(problems) == 2, problems
    assert "monovalent_current_nA_to_ions converts nA to 1, but metabolism.ATP_n is in mM" in problems[0]
    assert "couplings[" in problems[0] and ".transform" in problems[0]


@pytest.mark.parametrize("name", sorted(CONVERSIONS))
def test_every_conversion_is_a_valid_transform(name):
    assert np.isfinite(transform(name)(vals=np.ones(3), dt_ms=1.0)).all()
