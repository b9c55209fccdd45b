"""The bloodflow and metabolism sections typed once: every key carried from a real Config (schema
defaults filled by the config loader), bad hand-made values named by key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from multiscale_run.config import Config
from multiscale_run.errors import UserError
from multiscale_run.simulators.bloodflow_settings import BloodflowSettings
from multiscale_run.simulators.metabolism_settings import MetabolismSettings


def _section(tmp_path: Path, name: str, **section) -> Config:
    data = {
        "run": {"tstop": 100.0, "dt": 0.025},
        "network": "circuit_config.json",
        "multiscale_run": {name: {"enabled": True, **section}},
    }
    config = Config.from_dict(data, tmp_path / "simulation_config.json")
    return config.simulator(name)


def test_bloodflow_settings_carry_every_key(tmp_path):
    section = _section(
        tmp_path,
        "bloodflow",
        ndts=40,
        viscosity_law="pries1992",
        hematocrit=0.3,
        boundary_conditions={"inlet": "flow", "inlet_flow_um3_s": 2e4, "entry_nodes": [4, 2]},
        solver="scipy",
        scipy_method="cg",
        ksp={"rtol": 1e-8, "options": {"ksp_monitor": ""}},
    )
    s = BloodflowSettings.from_section(section, 0.025)
    assert s.dt_ms == pytest.approx(1.0) and s.viscosity_law == "pries1992" and s.hematocrit == 0.3
    assert s.boundary.inlet == "flow" and s.boundary.inlet_flow_um3_s == 2e4
    assert s.boundary.entry_nodes == (4, 2) and s.boundary.exit_nodes == ()
    assert (s.solver, s.scipy_method, s.ksp.rtol, dict(s.ksp.options)) == (
        "scipy",
        "cg",
        1e-8,
        {"ksp_monitor": ""},
    )
    # the schema's defaults, read from the schema by the config loader
    assert s.boundary.outlet_pressure_Pa == section["boundary_conditions"]["outlet_pressure_Pa"] == 2000.0
    assert s.ksp.pc_type == "hypre" and s.viscosity_law_arguments["plasma_viscosity_Pa_s"] == 1.2e-3


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"hematocrit": 1.0}, "hematocrit"),
        ({"viscosity_Pa_s": 0.0}, "viscosity_Pa_s"),
        ({"solver": "mumps"}, "solver"),
        ({"viscosity_law": "newtonian"}, "viscosity_law"),
    ],
)
def test_bad_bloodflow_settings_name_the_key(tmp_path, change, key):
    good = BloodflowSettings.from_section(_section(tmp_path, "bloodflow"), 0.025)
    with pytest.raises(UserError) as err:
        dataclasses.replace(good, **change)
    assert err.value.path == f"multiscale_run.bloodflow.{key}"


def test_metabolism_settings_coupled_and_standalone(tmp_path):
    coupled = MetabolismSettings.from_section(
        _section(tmp_path, "metabolism", ndts=400, max_step_ms=5.0, capillary_dynamics=False), 0.025
    )
    assert coupled.dt_ms == pytest.approx(10.0) and coupled.max_step_ms == 5.0 and coupled.stimulus is None
    assert coupled.model_options().capillary is False and coupled.model_options().stimulus is None
    standalone = MetabolismSettings.from_section(
        _section(tmp_path, "metabolism", mode="standalone", stimulus={"t_stim": 5.0, "cbf": True}), 0.025
    )
    stim = standalone.stimulus
    assert (stim.t_stim_s, stim.cbf, stim.N_e) == (5.0, True, 240.0)
    assert standalone.model_options().stimulus == stim and standalone.model_options().capillary is True


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"rtol": 0.0}, "rtol"),
        ({"atol": -1.0}, "atol"),
        ({"backend": "fortran"}, "backend"),
        ({"mode": "standalone"}, "stimulus"),  # standalone needs its protocol
    ],
)
def test_bad_metabolism_settings_name_the_key(tmp_path, change, key):
    good = MetabolismSettings.from_section(_section(tmp_path, "metabolism"), 0.025)
    with pytest.raises(UserError) as err:
        dataclasses.replace(good, **change)
    assert err.value.path == f"multiscale_run.metabolism.{key}"
