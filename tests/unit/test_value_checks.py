"""Value checks: bounds, NaN, responses, and which neuron a failing element belongs to."""

from __future__ import annotations

import numpy as np

from multiscale_run.spaces import Space
from multiscale_run.value_checks import ValueCheck, evaluate


def test_bounds_strict_and_inclusive():
    values = np.array([0.0, 0.5, 1.0, 2.0, np.nan, np.inf])
    strict = ValueCheck("metabolism", "ATP_n", "abort", lb=0.0, hb=2.0)
    inclusive = ValueCheck("metabolism", "ATP_n", "abort", leb=0.0, heb=2.0)
    assert strict.failing(values).tolist() == [True, False, False, True, True, True]
    assert inclusive.failing(values).tolist() == [False, False, False, False, True, True]


def test_exclude_neuron_from_segment_values_names_the_neuron():
    chk = ValueCheck("neuron", "nai", "exclude_neuron", hb=30.0)
    values = np.array([10.0, 31.0, 12.0, 35.0, 10.0])
    neuron_of_segment = np.array([0, 0, 1, 1, 2])
    node_ids = np.array([4, 9, 17])
    found, abort = evaluate(chk, values, Space.SEGMENT, 25.0, node_ids, neuron_of_segment, np.zeros(3, bool))
    assert abort is None
    assert [(e.node_id, e.value) for e in found] == [(4, 31.0), (9, 35.0)]
    assert found[0].reason == ">= hb 30" and found[0].time_ms == 25.0


def test_already_excluded_neurons_are_not_reported_again():
    chk = ValueCheck("metabolism", "ATP_n", "exclude_neuron", lb=0.5)
    found, _ = evaluate(
        chk, np.array([0.1, 0.2]), Space.NEURON, 0.0, np.array([3, 5]), None, np.array([True, False])
    )
    assert [e.node_id for e in found] == [5]


def test_abort_message_and_global_space_failures_abort():
    chk = ValueCheck("steps", "K_conc", "exclude_neuron", heb=10.0)
    found, abort = evaluate(
        chk, np.array([3.0, 12.0]), Space.TET, 5.0, np.array([0]), None, np.zeros(1, bool)
    )
    assert found == [] and "steps.K_conc = 12" in abort and "tet 1" in abort
