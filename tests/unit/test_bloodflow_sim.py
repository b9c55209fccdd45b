"""BloodflowSim through a real config and a generated SONATA vasculature."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from multiscale_run.bloodflow import (
    BoundaryConditions,
    expected_flow_ratio,
    read_sonata_vasculature,
    solve_flow,
)
from multiscale_run.circuit.vasculature import build_vasculature
from multiscale_run.config import Config, ConfigError
from multiscale_run.errors import UserError
from multiscale_run.parallel import Parallel
from multiscale_run.simulators.bloodflow import BloodflowSim, petsc_available
from multiscale_run.spaces import Space

BBOX = (np.array([0.0, 0.0, 0.0]), np.array([200.0, 600.0, 200.0]))


@pytest.fixture(scope="module")
def circuit(tmp_path_factory) -> tuple[Path, dict]:
    directory = tmp_path_factory.mktemp("bf")
    return directory, build_vasculature(directory, BBOX, seed=2)


def make_config(directory: Path, **section) -> Config:
    data = {
        "run": {"tstop": 200.0, "dt": 0.025},
        "network": "circuit_config.json",
        "multiscale_run": {"bloodflow": {"enabled": True, **section}},
    }
    return Config.from_dict(data, directory / "simulation_config.json")


def test_flows_match_the_numerical_core(circuit):
    directory, info = circuit
    sim = BloodflowSim(make_config(directory, solver="scipy", ndts=400), Parallel())
    assert sim.dt_ms == pytest.approx(10.0)
    net = read_sonata_vasculature(info["nodes_file"])
    bc = BoundaryConditions(
        info["entry_nodes"], info["exit_nodes"], inlet_pressure_Pa=4000.0, outlet_pressure_Pa=2000.0
    )
    reference = solve_flow(net, bc, 1.2e-3)
    np.testing.assert_allclose(sim.get("flow"), reference.flow_um3_s, rtol=1e-12, atol=0)
    np.testing.assert_allclose(sim.get("volume"), np.pi * net.radius_um**2 * net.length_um, rtol=1e-12)
    pressure = sim.get("pressure")
    assert np.all(pressure >= 2000.0 - 1e-9) and np.all(pressure <= 4000.0 + 1e-9)
    variables = sim.variables()
    assert {"flow", "volume", "radius", "pressure"} <= set(variables)
    assert all(v.space is Space.VESSEL for v in variables.values())
    assert variables["radius"].writable and not variables["flow"].writable
    geometry = sim.vessel_geometry()
    assert geometry.radius_um.shape == (info["n_segments"],)
    np.testing.assert_allclose(geometry.start_um, net.start_um)


def test_dilation_is_applied_at_the_next_advance(circuit):
    directory, _ = circuit
    sim = BloodflowSim(make_config(directory, solver="scipy"), Parallel())
    before = sim.get("flow")
    sim.set("radius", 1.2 * sim.get("radius"))
    np.testing.assert_array_equal(sim.get("flow"), before)  # not yet re-solved
    sim.advance(100.0)
    after = sim.get("flow")
    scale = np.max(np.abs(after))
    assert np.max(np.abs(after - expected_flow_ratio(1.2) * before)) < 1e-10 * scale
    np.testing.assert_allclose(
        sim.get("volume"), 1.44 * np.pi * (sim.get("radius") / 1.2) ** 2 * sim.network.length_um
    )
    # relative to rest, every vessel sees the Poiseuille ratio (pressure inlets); dead ends, with
    # no flow of their own, follow the network's inflow, which scales the same way
    np.testing.assert_allclose(sim.get("flow_ratio"), expected_flow_ratio(1.2), rtol=1e-9)


def test_pries_law_changes_the_flow(circuit):
    directory, _ = circuit
    constant = BloodflowSim(make_config(directory, solver="scipy"), Parallel())
    pries = BloodflowSim(make_config(directory, solver="scipy", viscosity_law="pries1992"), Parallel())
    # capillaries of 3.5–6 µm are near the Fåhræus–Lindqvist minimum (η_rel ≈ 1.2–1.5), so the
    # apparent viscosity is above plasma's: less flow than with plasma viscosity alone
    assert pries.inflow_um3_s < constant.inflow_um3_s


def test_flow_inlets_from_config(circuit):
    directory, info = circuit
    bcs = {"inlet": "flow", "inlet_flow_um3_s": 3.0e5}
    sim = BloodflowSim(make_config(directory, solver="scipy", boundary_conditions=bcs), Parallel())
    assert sim.inflow_um3_s == pytest.approx(3.0e5 * len(info["entry_nodes"]), rel=1e-10)


def test_explicit_entry_and_exit_nodes(circuit):
    directory, info = circuit
    bcs = {"entry_nodes": info["entry_nodes"][:1], "exit_nodes": info["exit_nodes"][:1]}
    sim = BloodflowSim(make_config(directory, solver="scipy", boundary_conditions=bcs), Parallel())
    np.testing.assert_array_equal(sim.bc.entry_nodes, info["entry_nodes"][:1])
    assert sim.inflow_um3_s > 0


def test_set_rejects_bad_values(circuit):
    directory, info = circuit
    sim = BloodflowSim(make_config(directory, solver="scipy"), Parallel())
    with pytest.raises(KeyError, match="read-only"):
        sim.set("flow", np.zeros(info["n_segments"]))
    with pytest.raises(ValueError, match="one per vessel"):
        sim.set("radius", np.ones(3))
    with pytest.raises(ValueError, match="> 0"):
        sim.set("radius", -np.ones(info["n_segments"]))
    with pytest.raises(KeyError, match="no variable"):
        sim.get("hematocrit")


def test_circuit_without_vasculature_is_a_user_error(tmp_path):
    (tmp_path / "circuit_config.json").write_text(json.dumps({"networks": {"nodes": [], "edges": []}}))
    with pytest.raises(UserError, match="vasculature"):
        BloodflowSim(make_config(tmp_path, solver="scipy"), Parallel())


def test_schema_rejects_unknown_keys(circuit):
    directory, _ = circuit
    with pytest.raises(ConfigError, match="visc"):
        make_config(directory, viscosity=1.0)
    with pytest.raises(ConfigError, match="solver"):
        make_config(directory, solver="umfpack")


@pytest.mark.skipif(not petsc_available(), reason="petsc4py is not installed")
def test_petsc_agrees_with_scipy(circuit):
    directory, _ = circuit
    scipy_flow = BloodflowSim(make_config(directory, solver="scipy"), Parallel()).get("flow")
    petsc_flow = BloodflowSim(make_config(directory, solver="petsc"), Parallel()).get("flow")
    assert np.max(np.abs(petsc_flow - scipy_flow)) < 1e-8 * np.max(np.abs(scipy_flow))


def test_schema_documents_every_key():
    import json

    import jsonschema

    from multiscale_run.simulators import bloodflow as module

    path = Path(module.__file__).parents[1] / "config" / "schema" / "bloodflow.json"
    schema = json.loads(path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)

    def walk(node, where):
        assert node.get("additionalProperties") is False, where
        for key, sub in node["properties"].items():
            assert "default" in sub and "description" in sub, f"{where}.{key}"
            if sub.get("type") == "object" and "properties" in sub:
                walk(sub, f"{where}.{key}")

    walk(schema, "bloodflow")
    assert {"enabled", "ndts", "reports"} <= set(schema["properties"])
    assert schema["properties"]["ndts"]["default"] == 4000
