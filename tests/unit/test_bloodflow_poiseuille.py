"""Closed-form Poiseuille cases and conservation checks for the blood-flow numerics."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale_run.bloodflow import (
    BoundaryConditions,
    VascularNetwork,
    conductance,
    expected_flow_ratio,
    pries1992_relative_viscosity,
    solve_flow,
)
from multiscale_run.bloodflow.poiseuille import net_outflow_um3_s, solve_reduced_scipy
from multiscale_run.bloodflow.synthetic import random_tree

MU = 1.2e-3  # Pa·s


def chain(lengths, radii):
    """Tubes in series along x: node i -> node i+1."""
    x = np.concatenate([[0.0], np.cumsum(lengths)])
    pts = np.column_stack([x, np.zeros_like(x), np.zeros_like(x)])
    n = len(lengths)
    return VascularNetwork.from_arrays(np.arange(n), np.arange(1, n + 1), pts[:-1], pts[1:], radii)


def resistance(r, L, mu=MU):
    return 8 * mu * L / (np.pi * r**4)


def test_single_tube_matches_hagen_poiseuille():
    net = chain([120.0], [3.0])
    sol = solve_flow(
        net, BoundaryConditions([0], [1], inlet_pressure_Pa=5000.0, outlet_pressure_Pa=1000.0), MU
    )
    expected = np.pi * 3.0**4 * 4000.0 / (8 * MU * 120.0)
    assert sol.flow_um3_s[0] == pytest.approx(expected, rel=1e-10)
    assert sol.inflow_um3_s == pytest.approx(expected, rel=1e-10)


def test_tubes_in_series_share_flow_and_split_pressure():
    L = np.array([50.0, 80.0, 20.0, 65.0])
    r = np.array([5.0, 3.0, 4.0, 2.5])
    net = chain(L, r)
    sol = solve_flow(
        net, BoundaryConditions([0], [4], inlet_pressure_Pa=6000.0, outlet_pressure_Pa=2000.0), MU
    )
    R = resistance(r, L)
    q = 4000.0 / R.sum()
    np.testing.assert_allclose(sol.flow_um3_s, q, rtol=1e-10)
    drop = np.concatenate([[0.0], np.cumsum(q * R)])
    np.testing.assert_allclose(sol.pressure_Pa, 6000.0 - drop, rtol=1e-10)


def test_parallel_tubes_between_two_nodes():
    # three vessels joining the same two nodes (a multigraph), plus feeding and draining tubes
    start = np.array([0, 1, 1, 1, 2])
    end = np.array([1, 2, 2, 2, 3])
    L = np.array([10.0, 40.0, 70.0, 100.0, 30.0])
    r = np.array([6.0, 2.0, 3.0, 4.0, 6.0])
    x = np.array([0.0, 10.0, 50.0, 80.0])
    pts = np.column_stack([x, np.zeros(4), np.zeros(4)])
    # lengths come from the geometry: put the parallel tubes on bent paths of the right length
    net = VascularNetwork.from_arrays(
        start, end, pts[start], pts[start] + np.column_stack([L, 0 * L, 0 * L]), r
    )
    sol = solve_flow(
        net, BoundaryConditions([0], [3], inlet_pressure_Pa=3000.0, outlet_pressure_Pa=1000.0), MU
    )
    R = resistance(r, L)
    R_par = 1.0 / np.sum(1.0 / R[1:4])
    q = 2000.0 / (R[0] + R_par + R[4])
    p1 = 3000.0 - q * R[0]
    p2 = p1 - q * R_par
    np.testing.assert_allclose(sol.flow_um3_s[[0, 4]], q, rtol=1e-10)
    np.testing.assert_allclose(sol.flow_um3_s[1:4], (p1 - p2) / R[1:4], rtol=1e-10)


def symmetric_tree(depth: int, r0: float = 8.0, L0: float = 100.0):
    """Binary tree: level k has 2**k segments of radius r0·2^(-k/3) (Murray) and length L0·0.8**k."""
    start, end, radius, length = [], [], [], []
    next_id = 1
    frontier = [0]
    for k in range(depth + 1):
        new = []
        for node in frontier:
            for _ in range(1 if k == 0 else 2):
                start.append(node)
                end.append(next_id)
                radius.append(r0 * 2 ** (-k / 3))
                length.append(L0 * 0.8**k)
                new.append(next_id)
                next_id += 1
        frontier = new
    start, end = np.array(start), np.array(end)
    length = np.array(length)
    # geometry: each segment along a random direction with the right length
    rng = np.random.default_rng(3)
    d = rng.normal(size=(len(start), 3))
    d /= np.linalg.norm(d, axis=1)[:, None]
    pos = np.zeros((next_id, 3))
    for i in range(len(start)):  # parents come first
        pos[end[i]] = pos[start[i]] + length[i] * d[i]
    net = VascularNetwork.from_arrays(start, end, pos[start], pos[end], radius)
    leaves = np.array(frontier)
    return net, leaves


def test_symmetric_bifurcation_tree():
    depth = 6
    net, leaves = symmetric_tree(depth)
    sol = solve_flow(
        net, BoundaryConditions([0], leaves, inlet_pressure_Pa=7000.0, outlet_pressure_Pa=1500.0), MU
    )
    # segments were created level by level: 1 at level 0, then 2, 4, 8, ...
    level = np.repeat(np.arange(depth + 1), [1] + [2**k for k in range(1, depth + 1)])
    R_level = resistance(8.0 * 2 ** (-np.arange(depth + 1) / 3), 100.0 * 0.8 ** np.arange(depth + 1))
    R_total = np.sum(R_level / np.array([1] + [2**k for k in range(1, depth + 1)]))
    q_total = 5500.0 / R_total
    expected = q_total / np.array([1] + [2**k for k in range(1, depth + 1)])[level]
    np.testing.assert_allclose(sol.flow_um3_s, expected, rtol=1e-10)
    assert sol.inflow_um3_s == pytest.approx(q_total, rel=1e-10)


def internal_mask(net, bc):
    mask = np.ones(net.n_nodes, dtype=bool)
    mask[bc.entry_nodes] = False
    mask[bc.exit_nodes] = False
    return mask


def test_kirchhoff_on_random_100k_tree():
    net, bc = random_tree(100_000, seed=7)
    sol = solve_flow(net, bc, MU)
    imbalance = net_outflow_um3_s(net, sol.flow_um3_s)[internal_mask(net, bc)]
    assert sol.inflow_um3_s > 0
    assert np.max(np.abs(imbalance)) < 1e-10 * sol.inflow_um3_s
    # every drop of blood that enters leaves through the outlets
    assert -np.sum(net_outflow_um3_s(net, sol.flow_um3_s)[bc.exit_nodes]) == pytest.approx(
        sol.inflow_um3_s, rel=1e-10
    )


def test_scipy_cg_agrees_with_direct():
    net, bc = random_tree(5000, seed=2)
    direct = solve_flow(net, bc, MU)
    cg = solve_flow(net, bc, MU, solver=lambda A, b: solve_reduced_scipy(A, b, method="cg", rtol=1e-13))
    scale = np.max(np.abs(direct.flow_um3_s))
    assert np.max(np.abs(cg.flow_um3_s - direct.flow_um3_s)) < 1e-8 * scale


def test_flow_inlet_imposes_total_inflow():
    net, leaves = symmetric_tree(4)
    bc = BoundaryConditions([0], leaves, inlet="flow", inlet_flow_um3_s=2.5e5, outlet_pressure_Pa=1000.0)
    sol = solve_flow(net, bc, MU)
    assert sol.flow_um3_s[0] == pytest.approx(2.5e5, rel=1e-10)
    np.testing.assert_allclose(sol.flow_um3_s[-16:], 2.5e5 / 16, rtol=1e-10)


def test_velocity_inlet_uses_the_inlet_cross_section():
    net = chain([100.0, 100.0], [4.0, 2.0])
    bc = BoundaryConditions([0], [2], inlet="velocity", inlet_velocity_um_s=1000.0, outlet_pressure_Pa=0.0)
    sol = solve_flow(net, bc, MU)
    np.testing.assert_allclose(sol.flow_um3_s, 1000.0 * np.pi * 16.0, rtol=1e-12)


def test_uniform_dilation_scales_flow_like_r4():
    net, bc = random_tree(2000, seed=5)
    before = solve_flow(net, bc, MU)
    after = solve_flow(net, bc, MU, radius_um=1.1 * net.radius_um)
    # flows near stagnation points lose digits to cancellation: compare against the largest flow
    error = np.abs(after.flow_um3_s - expected_flow_ratio(1.1) * before.flow_um3_s)
    assert np.max(error) < 1e-10 * np.max(np.abs(after.flow_um3_s))
    assert after.inflow_um3_s == pytest.approx(1.4641 * before.inflow_um3_s, rel=1e-10)
    assert expected_flow_ratio(1.1) == pytest.approx(1.4641)


def test_uniform_dilation_with_pries_viscosity():
    net, bc = random_tree(2000, seed=5)
    law = {"law": "pries1992", "plasma_viscosity_Pa_s": MU, "hematocrit": 0.45}
    before = solve_flow(net, bc, **law)
    after = solve_flow(net, bc, radius_um=1.1 * net.radius_um, **law)
    # with diameter-dependent viscosity the ratio differs per vessel, so compare one tube alone
    tube = chain([100.0], [3.0])
    tbc = BoundaryConditions([0], [1])
    ratio = (
        solve_flow(tube, tbc, radius_um=np.array([3.3]), **law).flow_um3_s
        / solve_flow(tube, tbc, **law).flow_um3_s
    )
    assert ratio[0] == pytest.approx(
        expected_flow_ratio(1.1, diameter_um=6.0, viscosity_law="pries1992"), rel=1e-12
    )
    assert after.inflow_um3_s > before.inflow_um3_s


def test_pries_viscosity_law_shape():
    d = np.array([3.0, 6.5, 10.0, 100.0, 1000.0])
    eta = pries1992_relative_viscosity(d)
    # Fåhræus–Lindqvist: minimum around 6–7 µm, rising towards 3.2 in wide tubes at H = 0.45
    assert eta[1] < eta[0] and eta[1] < eta[2] < eta[3] < eta[4]
    assert eta[4] == pytest.approx(3.2, abs=0.02)
    grid = np.linspace(2.0, 30.0, 2801)
    assert 5.0 < grid[np.argmin(pries1992_relative_viscosity(grid))] < 8.0
    # no red cells: plasma viscosity
    np.testing.assert_allclose(pries1992_relative_viscosity(d, hematocrit=0.0), 1.0, atol=1e-12)
    # values of the published formula at 10 µm, H=0.45: 220e^-13 + 3.2 - 2.44 e^(-0.06·10^0.645)
    assert eta[2] == pytest.approx(220 * np.exp(-13) + 3.2 - 2.44 * np.exp(-0.06 * 10**0.645), rel=1e-12)


def test_conductance_units():
    # r = 1 µm, L = 1 µm, μ = 1 Pa·s: π/8 µm³/(Pa·s)
    assert conductance(1.0, 1.0, 1.0) == pytest.approx(np.pi / 8)


def test_component_without_outlet_carries_no_flow():
    # a tube with pressures plus a detached loop: the loop has no boundary, no flow, finite pressure
    start = np.array([0, 2, 3, 4])
    end = np.array([1, 3, 4, 2])
    pts = np.zeros((5, 3))
    pts[1, 0] = 10.0
    pts[3, 1] = 10.0
    pts[4, 2] = 10.0
    net = VascularNetwork.from_arrays(start, end, pts[start], pts[end], 2.0)
    sol = solve_flow(net, BoundaryConditions([0], [1]), MU)
    np.testing.assert_array_equal(sol.flow_um3_s[1:], 0.0)
    assert np.all(np.isfinite(sol.pressure_Pa))


def test_flow_into_a_component_without_outlet_is_rejected():
    # tube 0-1 drains at node 1; tube 2-3 is fed at node 2 but has no outlet
    start, end = np.array([0, 2]), np.array([1, 3])
    pts = np.zeros((4, 3))
    pts[[1, 3], 0] = 10.0
    net = VascularNetwork.from_arrays(start, end, pts[start], pts[end], 2.0)
    with pytest.raises(ValueError, match="no pressure boundary"):
        solve_flow(net, BoundaryConditions([0, 2], [1], inlet="flow"), MU)
    with pytest.raises(ValueError, match="exit node"):
        BoundaryConditions([0], [], inlet="flow")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"radius_um": [1.0, 0.0]}, "radius"),
        ({"start_node": [0, 1], "end_node": [1, 1]}, "same node"),
    ],
)
def test_bad_networks_are_rejected(kwargs, message):
    args = {
        "start_node": [0, 1],
        "end_node": [1, 2],
        "start_um": np.zeros((2, 3)),
        "end_um": np.ones((2, 3)),
        "radius_um": [1.0, 1.0],
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        VascularNetwork.from_arrays(**args)


def test_entry_and_exit_must_differ():
    with pytest.raises(ValueError, match="both an entry and an exit"):
        BoundaryConditions([0, 3], [3])
