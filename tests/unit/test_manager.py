"""The connection manager's actions on a hand-computed 3×2 example (DESIGN.md §2)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from multiscale_run.coupling.manager import ConnectionManager, Coupling
from multiscale_run.coupling.transform import Transform, TransformError
from multiscale_run.errors import UserError
from multiscale_run.parallel import Parallel
from multiscale_run.simulators.base import Simulator
from multiscale_run.spaces import Space, Variable


class ArraySim(Simulator):
    """A simulator whose state is plain arrays and whose advance adds a fixed delta per step."""

    def __init__(self, name, space, values, delta=None):
        self.name = name
        self.space = space
        self.values = {k: np.array(v, dtype=float) for k, v in values.items()}
        self.delta = {k: np.array(v, dtype=float) for k, v in (delta or {}).items()}

    @property
    def dt_ms(self):
        return 1.0

    def variables(self):
        return {k: Variable(k, self.space, "1") for k in self.values}

    def advance(self, t_ms):
        for k, d in self.delta.items():
            self.values[k] += d

    def get(self, variable):
        return self.values[variable].copy()

    def set(self, variable, values):
        self.values[variable] = np.asarray(values, dtype=float).copy()


# 2 neurons x 3 segments: neuron 0 owns segments 0 and 1 (volume weights 1 and 3), neuron 1 owns segment 2.
MEAN = sp.csr_matrix(np.array([[0.25, 0.75, 0.0], [0.0, 0.0, 1.0]]))
BROADCAST = sp.csr_matrix(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
OPERATORS = {"segment_to_neuron_volume_mean": MEAN, "neuron_to_segment": BROADCAST}


def make(
    action,
    transform="",
    seg=(1.0, 2.0, 4.0),
    cell=(10.0, 20.0),
    seg_delta=None,
    cell_delta=None,
    operators=OPERATORS,
    **extra,
):
    neuron = ArraySim("neuron", Space.SEGMENT, {"x": seg}, {"x": seg_delta} if seg_delta else None)
    metab = ArraySim("metabolism", Space.NEURON, {"y": cell}, {"y": cell_delta} if cell_delta else None)
    c = Coupling.from_config(
        {
            "src": "neuron",
            "src_variable": "x",
            "dest": "metabolism",
            "dest_variable": "y",
            "operator": "segment_to_neuron_volume_mean",
            "action": action,
            "transform": transform,
            **extra,
        }
    )
    manager = ConnectionManager([c], {"neuron": neuron, "metabolism": metab}, operators, Parallel())
    return manager, neuron, metab


def run_due(manager):
    for bound in manager.due("metabolism", 1):
        manager.run(bound, 1.0)


def test_set():
    manager, _, metab = make("set")
    run_due(manager)
    np.testing.assert_allclose(metab.values["y"], [0.25 * 1 + 0.75 * 2, 4.0], rtol=1e-15)


def test_sum_with_transform():
    manager, _, metab = make("sum", transform="vals * 2 + dt_ms")
    run_due(manager)
    np.testing.assert_allclose(metab.values["y"], [10 + 2 * 1.75 + 1, 20 + 2 * 4 + 1], rtol=1e-15)


def test_merge_conserves_both_deltas():
    # Each side evolves the quantity by its own process; after the merge both hold start + both deltas.
    manager, neuron, metab = make(
        "merge", seg=(1.0, 1.0, 2.0), cell=(0.0, 0.0), seg_delta=(-0.1, -0.3, -0.5), cell_delta=(0.4, 0.2)
    )
    manager.initialize()  # t = 0: the metabolism side starts from the neuron side's means
    np.testing.assert_allclose(metab.values["y"], [1.0, 2.0])
    for _ in range(3):
        neuron.advance(1.0)
        metab.advance(1.0)
        run_due(manager)
    neuron_delta = MEAN @ np.array([-0.1, -0.3, -0.5])  # [-0.25, -0.5] per step
    expected = np.array([1.0, 2.0]) + 3 * (neuron_delta + np.array([0.4, 0.2]))
    np.testing.assert_allclose(metab.values["y"], expected, rtol=1e-12)
    # Written back to every segment of each neuron.
    np.testing.assert_allclose(neuron.values["x"], BROADCAST @ expected, rtol=1e-12)


def test_excluded_neuron_keeps_its_value():
    manager, _, metab = make("set")
    manager.exclude(np.array([False, True]), np.array([False, False, True]))
    run_due(manager)
    np.testing.assert_allclose(metab.values["y"], [1.75, 20.0])


def test_coupling_period():
    manager, _, _ = make("set", ndts=4)
    assert [len(manager.due("metabolism", i)) for i in range(1, 9)] == [0, 0, 0, 1, 0, 0, 0, 1]
    assert manager.due("neuron", 4) == []


def test_transform_rejects_non_finite_results():
    manager, _, _ = make("set", transform="log(vals - 1.75)")
    with pytest.raises(UserError, match=r"coupling '.*': transform 'log.*non-finite"):
        run_due(manager)


@pytest.mark.parametrize(
    "text",
    [
        "vals.T",
        "__import__('os')",
        "vals[0]",
        "[v for v in vals]",
        "open('f')",
        "np.exp(vals)",
        "exp(vals, out=vals)",
        "lambda: 0",
        "'text'",
    ],
)
def test_transform_rejects_unsafe_expressions(text):
    with pytest.raises(TransformError):
        Transform(text)


def test_transform_functions_and_constants():
    f = Transform("where(vals > 1, sqrt(vals), -vals) * FARADAY / dt_ms")
    np.testing.assert_allclose(
        f(vals=np.array([4.0, 0.5]), dt_ms=2.0), [2 * 96485.33212 / 2, -0.5 * 96485.33212 / 2]
    )


def test_elements_the_operator_does_not_reach_keep_their_value():
    # neuron 1 owns no segment here (its row of the mean is empty): it keeps its own value
    partial = sp.csr_matrix(np.array([[0.25, 0.75, 0.0], [0.0, 0.0, 0.0]]))
    manager, _, metab = make("set", operators={"segment_to_neuron_volume_mean": partial})
    run_due(manager)
    np.testing.assert_allclose(metab.values["y"], [1.75, 20.0])
