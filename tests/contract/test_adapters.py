"""The adapter contract, run over every registered simulator (MUSCLE3's component tester idea):
dt, declared variables, get/set round trips, sizes on their element spaces, read-only and shape
errors, advance, the declared capabilities, close.

All five adapters are built once from the embedded default simulation (with a generated NGV
fragment for the neurovascular coupling) through the registry's factory, in its build order,
exactly as ``msr compute`` builds them (STEPS with the deterministic solver, blood flow with
scipy, so that neither STEPS nor PETSc is needed).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from multiscale_run.circuit.ngv_generation import build_ngv
from multiscale_run.config import load
from multiscale_run.parallel import Parallel
from multiscale_run.simulators import catalogue
from multiscale_run.simulators.base import SegmentGeometrySource, Simulator
from multiscale_run.spaces import Space, Variable

BUILT_IN = ("neuron", "steps", "nvc", "bloodflow", "metabolism")


@pytest.fixture(scope="module")
def built(default_template, tmp_path_factory):
    sim = tmp_path_factory.mktemp("contract") / "sim"
    shutil.copytree(default_template, sim)
    path = sim / "simulation_config.json"
    config = json.loads(path.read_text())
    msr = config["multiscale_run"]
    msr["steps"].update(enabled=True, solver="deterministic")
    msr["bloodflow"].update(enabled=True, solver="scipy")
    msr["nvc"] = {"enabled": True}
    path.write_text(json.dumps(config))
    build_ngv(sim / "circuit")
    config = load(sim)
    parallel = Parallel()
    products: dict = {catalogue.NODE_IDS: parallel.local_cells(np.arange(6))}
    simulators = {}
    for name in catalogue.build_order(list(BUILT_IN)):
        simulators[name] = catalogue.build(name, config, parallel, products)
    yield config, simulators, products
    for adapter in simulators.values():
        adapter.close()


def _size(space: Space, products: dict) -> int:
    if space is Space.SEGMENT:
        return len(products["segment_geometry"].neuron_index)
    if space is Space.NEURON:
        return len(products[catalogue.NODE_IDS])
    if space is Space.TET:
        return len(products["tet_geometry"].tets)
    if space is Space.ENDFOOT:
        return len(products["endfoot_geometry"].vessel_segment)
    return len(products["vessel_geometry"].radius_um)


@pytest.fixture(params=BUILT_IN)
def adapter(request, built):
    config, simulators, products = built
    return request.param, simulators[request.param], config, products


def test_dt_is_ndts_times_the_run_step(adapter):
    name, sim, config, _ = adapter
    assert isinstance(sim, Simulator) and sim.name == name
    assert sim.dt_ms == pytest.approx(config.simulator(name)["ndts"] * config.run.dt_ms, rel=1e-12)


def test_variables_are_declared_without_building(adapter):
    name, sim, config, _ = adapter
    variables = sim.variables()
    assert variables and all(isinstance(v, Variable) and v.name == k for k, v in variables.items())
    assert catalogue.declared_variables(name, config.simulator(name)) == variables


def test_values_are_float64_copies_sized_by_their_space(adapter):
    name, sim, _, products = adapter
    for var in sim.variables().values():
        values = sim.get(var.name)
        assert values.dtype == np.float64 and values.shape == (_size(var.space, products),), var.name
        before = values.copy()
        values += 1.0  # a copy: the simulator's state does not change
        np.testing.assert_array_equal(sim.get(var.name), before, err_msg=f"{name}.{var.name}")


def test_set_get_round_trip_and_errors(adapter):
    name, sim, _, products = adapter
    for var in sim.variables().values():
        current = sim.get(var.name)
        if not var.writable:
            with pytest.raises((KeyError, ValueError)):
                sim.set(var.name, current)
            continue
        finite = np.isfinite(current)  # NEURON reads NaN where a segment lacks the ion
        target = np.where(finite, np.abs(current) * 1.01 + 0.5, current)
        sim.set(var.name, target)
        got = sim.get(var.name)
        np.testing.assert_allclose(got[finite], target[finite], rtol=1e-12, err_msg=f"{name}.{var.name}")
        sim.set(var.name, current)  # leave the state as it was
        with pytest.raises(ValueError):
            sim.set(var.name, np.ones(_size(var.space, products) + 1))
    with pytest.raises(KeyError):
        sim.get("no_such_variable")


def test_advance_keeps_values_finite(adapter):
    name, sim, _, _ = adapter
    sim.advance(sim.dt_ms)
    for var in sim.variables().values():
        values = sim.get(var.name)
        assert not np.isinf(values).any(), f"{name}.{var.name}"


def test_declared_capabilities_are_implemented(adapter):
    name, sim, _, products = adapter
    spec = catalogue.spec(name)
    for capability in spec.provides:
        assert isinstance(sim, capability)
    for product in spec.products:
        assert product in products
    if SegmentGeometrySource in spec.provides:
        np.testing.assert_array_equal(products["segment_geometry"].gids, products[catalogue.NODE_IDS])


def test_a_restored_state_gives_the_same_future_bit_for_bit(adapter):
    """``save_state`` then ``restore_state`` (what a snapshot and a resume do) replays the next
    step exactly; the state is plain numeric arrays (stored in .npz files without pickles)."""
    name, sim, _, _ = adapter
    t_ms = 10 * sim.dt_ms  # later than any other test of the module advances
    sim.advance(t_ms)
    state = sim.save_state()
    assert state and all(np.asarray(v).dtype != object for v in state.values())
    sim.advance(t_ms + sim.dt_ms)
    first = {v: sim.get(v) for v in sim.variables()}
    sim.restore_state(state)
    sim.advance(t_ms + sim.dt_ms)
    for var, values in first.items():
        np.testing.assert_array_equal(sim.get(var), values, err_msg=f"{name}.{var}")
