"""The simulator registry: build order from needs and products, missing libraries, init switches."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from multiscale_run.errors import UserError
from multiscale_run.simulators import catalogue
from multiscale_run.simulators.base import SegmentGeometrySource
from multiscale_run.spaces import Space


def test_the_built_in_build_order_puts_geometry_first():
    # STEPS meshes around segments and vessels: after NEURON and blood flow, whatever the order asked
    assert catalogue.build_order(["metabolism", "steps", "bloodflow", "neuron"]) == [
        "neuron",
        "bloodflow",
        "steps",
        "metabolism",
    ]
    assert catalogue.build_order(["steps", "metabolism"]) == ["steps", "metabolism"]


def test_simulators_that_need_each_other_cannot_be_ordered():
    spec = catalogue.SimulatorSpec(
        name="loop",
        adapter="nowhere:Nothing",
        schema=Path("loop.json"),
        space=Space.SEGMENT,
        needs=("tet_geometry",),  # STEPS's product, while STEPS needs this one's segments
        provides=(SegmentGeometrySource,),
    )
    catalogue.register(spec)
    try:
        with pytest.raises(ValueError, match="need each other"):
            catalogue.build_order(["loop", "steps"])
    finally:
        catalogue.unregister("loop")


def test_the_deterministic_extracellular_solver_needs_no_steps(monkeypatch):
    monkeypatch.setitem(sys.modules, "steps", None)  # as if STEPS was never installed
    setting, reason = catalogue.missing_library("steps", {"solver": "TetOpSplit"})
    assert setting == "solver" and "install.sh" in reason and "--steps" in reason
    assert catalogue.missing_library("steps", {"solver": "deterministic"}) is None
    assert catalogue.missing_library("metabolism", {"backend": "python"}) is None


def test_init_rejects_an_unknown_simulator(tmp_path):
    from multiscale_run.init import init_simulation

    with pytest.raises(UserError, match="unknown simulators"):
        init_simulation(tmp_path / "sim", enable={"nest": True})
