"""Perfusion operators: vessel flows -> F_in (s⁻¹) of tissue regions, checked on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale_run.bloodflow import BoundaryConditions, VascularNetwork, expected_flow_ratio, solve_flow
from multiscale_run.bloodflow.perfusion import (
    length_inside_sphere_um,
    region_crossing_operator,
    sphere_blood_volume_operator,
    sphere_crossing_operator,
)


def straight_vessel(n: int = 10, length: float = 200.0):
    x = np.linspace(-length / 2, length / 2, n + 1)
    pts = np.column_stack([x, np.zeros_like(x), np.zeros_like(x)])
    net = VascularNetwork.from_arrays(np.arange(n), np.arange(1, n + 1), pts[:-1], pts[1:], 3.0)
    return net, BoundaryConditions([0], [n])


def test_a_vessel_through_a_sphere_perfuses_it_with_q_over_v():
    net, bc = straight_vessel()
    sol = solve_flow(net, bc, 1.2e-3)
    R = 45.0
    M = sphere_crossing_operator(np.array([[0.0, 0.0, 0.0], [500.0, 0.0, 0.0]]), R, net.start_um, net.end_um)
    F = M @ np.abs(sol.flow_um3_s)
    assert F[0] == pytest.approx(sol.inflow_um3_s / (4 / 3 * np.pi * R**3), rel=1e-12)
    assert F[1] == 0.0


def test_branching_inside_the_sphere_counts_the_inflow_once():
    # one feeding vessel enters the sphere, splits at the centre into two that leave it
    pts = np.array([[-100.0, 0, 0], [0.0, 0, 0], [100.0, 50, 0], [100.0, -50, 0]])
    start, end = np.array([0, 1, 1]), np.array([1, 2, 3])
    net = VascularNetwork.from_arrays(start, end, pts[start], pts[end], [4.0, 3.0, 2.0])
    sol = solve_flow(net, BoundaryConditions([0], [2, 3]), 1.2e-3)
    R = 30.0
    M = sphere_crossing_operator(np.zeros((1, 3)), R, net.start_um, net.end_um)
    # no segment has an end inside except at the centre node: all three cross the sphere
    assert (M @ np.abs(sol.flow_um3_s))[0] == pytest.approx(
        sol.inflow_um3_s / (4 / 3 * np.pi * R**3), rel=1e-12
    )


def test_region_operator_on_disjoint_boxes():
    # five segments along x; regions = unit boxes [0,40) [40,80) ... by the x of each end point
    net, bc = straight_vessel(n=5, length=200.0)
    sol = solve_flow(net, bc, 1.2e-3)
    region_of = lambda p: np.floor((p[:, 0] + 100.0) / 66.7).astype(int)  # noqa: E731 - 3 regions
    starts, ends = region_of(net.start_um), region_of(net.end_um)
    ends[ends > 2] = 2
    volume = np.array([10.0, 20.0, 30.0])
    F = region_crossing_operator(starts, ends, volume) @ np.abs(sol.flow_um3_s)
    q = sol.inflow_um3_s
    # the end regions are crossed once (inflow or outflow only): ½ q / V; the middle twice: q / V
    np.testing.assert_allclose(F, [0.5 * q / 10.0, q / 20.0, 0.5 * q / 30.0], rtol=1e-12)


def test_length_inside_sphere():
    start = np.array([[-20.0, 0, 0], [-1.0, 0, 0], [0.0, 50, 0], [3.0, 0, 0]])
    end = np.array([[20.0, 0, 0], [1.0, 0, 0], [10.0, 50, 0], [30.0, 0, 0]])
    got = length_inside_sphere_um(np.zeros(3), 10.0, start, end)
    np.testing.assert_allclose(got, [20.0, 2.0, 0.0, 7.0], atol=1e-12)


def test_blood_volume_fraction_of_a_cylinder_through_a_sphere():
    net, _ = straight_vessel(n=7, length=300.0)
    R = 50.0
    M = sphere_blood_volume_operator(np.zeros((1, 3)), R, net.start_um, net.end_um)
    fraction = (M @ net.volume_um3())[0]
    assert fraction == pytest.approx(np.pi * 3.0**2 * 2 * R / (4 / 3 * np.pi * R**3), rel=1e-12)


def test_perfusion_rises_like_r4_on_uniform_dilation():
    net, bc = straight_vessel()
    M = sphere_crossing_operator(np.zeros((1, 3)), 45.0, net.start_um, net.end_um)
    before = M @ np.abs(solve_flow(net, bc, 1.2e-3).flow_um3_s)
    after = M @ np.abs(solve_flow(net, bc, 1.2e-3, radius_um=1.05 * net.radius_um).flow_um3_s)
    assert after[0] / before[0] == pytest.approx(expected_flow_ratio(1.05), rel=1e-10)
