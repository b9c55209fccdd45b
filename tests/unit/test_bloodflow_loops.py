"""Flow on looped vessel graphs (real vasculature has loops; trees hide ordering and fill-in
problems): a generated 3-D capillary lattice and a crop of the generated capillary bed, against an
independent dense Kirchhoff solve written here from Poiseuille's law, and the invariance of the
solution to a common shift of all boundary pressures."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale_run.bloodflow import BoundaryConditions, VascularNetwork, solve_flow
from multiscale_run.bloodflow.poiseuille import solve_reduced_scipy
from multiscale_run.bloodflow.synthetic import capillary_lattice
from multiscale_run.circuit.vasculature import generate_network

MU = 1.2e-3  # Pa·s


def dense_kirchhoff(net: VascularNetwork, fixed: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
    """Node pressures and segment flows by a dense solve: one conservation row per free node, one
    identity row per pressure node (nodes touched by no segment get p = 0)."""
    n = net.n_nodes
    lap = np.zeros((n, n))
    for a, b, r, length in zip(net.start_node, net.end_node, net.radius_um, net.length_um, strict=True):
        g = np.pi * r**4 / (8 * MU * length)  # Hagen–Poiseuille
        lap[a, a] += g
        lap[b, b] += g
        lap[a, b] -= g
        lap[b, a] -= g
    rhs = np.zeros(n)
    for node, p in fixed.items():
        lap[node] = 0.0
        lap[node, node] = 1.0
        rhs[node] = p
    for node in np.flatnonzero(np.diag(lap) == 0):
        lap[node, node] = 1.0
    p = np.linalg.solve(lap, rhs)
    g = np.pi * net.radius_um**4 / (8 * MU * net.length_um)
    return p, g * (p[net.start_node] - p[net.end_node])


def boundary_dict(bc: BoundaryConditions) -> dict[int, float]:
    fixed = dict.fromkeys(bc.entry_nodes.tolist(), float(bc.inlet_pressure_Pa))
    fixed.update(dict.fromkeys(bc.exit_nodes.tolist(), float(bc.outlet_pressure_Pa)))
    return fixed


def test_lattice_is_looped_with_one_diameter_per_node():
    net, bc = capillary_lattice(1000, seed=2)
    assert net.n_segments >= 1000
    # cycle rank (independent loops) of a connected graph: edges - nodes + 1
    assert net.n_segments - net.n_nodes + 1 > 0.5 * net.n_segments
    assert bc.entry_nodes.size and bc.exit_nodes.size


@pytest.mark.parametrize("method", ["direct", "cg"])
def test_lattice_flows_match_a_dense_kirchhoff_solve(method):
    net, bc = capillary_lattice(800, seed=3)
    _, q_ref = dense_kirchhoff(net, boundary_dict(bc))
    sol = solve_flow(net, bc, MU, solver=lambda A, b: solve_reduced_scipy(A, b, method=method, rtol=1e-13))
    np.testing.assert_allclose(sol.flow_um3_s, q_ref, rtol=0, atol=1e-10 * np.abs(q_ref).max())


def capillary_crop():
    """Capillaries of the generated bed inside a box at mid-depth, their cut nodes held at the
    pressures the whole network gives them; returns (crop network, its bc pressures, whole
    network's flows on the kept segments)."""
    attrs = generate_network((np.array([0.0, 0.0, 0.0]), np.array([300.0, 600.0, 300.0])), seed=7)
    start = np.column_stack([attrs[f"start_{a}"] for a in "xyz"])
    end = np.column_stack([attrs[f"end_{a}"] for a in "xyz"])
    radius = 0.25 * (attrs["start_diameter"] + attrs["end_diameter"])
    whole = VascularNetwork.from_arrays(
        attrs["start_node"], attrs["end_node"], start, end, radius, attrs["type"]
    )
    bc = BoundaryConditions(attrs["entry_nodes"], attrs["exit_nodes"], inlet_pressure_Pa=4000.0)
    full = solve_flow(whole, bc, MU)
    lo, hi = np.array([40.0, 150.0, 40.0]), np.array([260.0, 450.0, 260.0])
    inside = np.all((start >= lo) & (start <= hi) & (end >= lo) & (end <= hi), axis=1)
    keep = inside & np.isin(attrs["type"], (5, 6))
    kept_nodes = np.unique(np.concatenate([whole.start_node[keep], whole.end_node[keep]]))
    touches = np.zeros(whole.n_nodes, dtype=int)
    np.add.at(touches, np.concatenate([whole.start_node, whole.end_node]), 1)
    in_crop = np.zeros(whole.n_nodes, dtype=int)
    np.add.at(in_crop, np.concatenate([whole.start_node[keep], whole.end_node[keep]]), 1)
    cut = kept_nodes[in_crop[kept_nodes] < touches[kept_nodes]]
    renumber = np.full(whole.n_nodes, -1)
    renumber[kept_nodes] = np.arange(kept_nodes.size)
    crop = VascularNetwork.from_arrays(
        renumber[whole.start_node[keep]],
        renumber[whole.end_node[keep]],
        start[keep],
        end[keep],
        radius[keep],
        attrs["type"][keep],
    )
    return crop, renumber[cut], full.pressure_Pa[cut], full.flow_um3_s[keep]


def test_capillary_crop_reproduces_the_whole_network_and_the_dense_solve():
    crop, cut, p_cut, q_whole = capillary_crop()
    assert crop.n_segments > 200 and crop.n_segments - crop.n_nodes + 1 > 20  # looped
    # pressure boundaries with per-node values: cut nodes split by their pressure into "inlets"
    high = p_cut >= np.median(p_cut)
    bc = BoundaryConditions(
        entry_nodes=cut[high],
        exit_nodes=cut[~high],
        inlet_pressure_Pa=p_cut[high],
        outlet_pressure_Pa=p_cut[~high],
    )
    sol = solve_flow(crop, bc, MU)
    _, q_dense = dense_kirchhoff(crop, dict(zip(cut.tolist(), p_cut.tolist(), strict=True)))
    scale = np.abs(q_whole).max()
    np.testing.assert_allclose(sol.flow_um3_s, q_dense, rtol=0, atol=1e-10 * scale)
    # the crop, held at the whole network's pressures, carries the whole network's flows
    connected = np.abs(q_dense) > 0
    np.testing.assert_allclose(sol.flow_um3_s[connected], q_whole[connected], rtol=0, atol=1e-9 * scale)


def petsc_solver(A, b):
    pytest.importorskip("petsc4py")
    from multiscale_run.simulators.bloodflow import solve_reduced_petsc

    return solve_reduced_petsc(A, b, rtol=1e-12)


@pytest.mark.parametrize(
    "solver",
    [lambda A, b: solve_reduced_scipy(A, b, method="cg", rtol=1e-12), petsc_solver],
    ids=["scipy-cg", "petsc"],
)
def test_tiny_flows_do_not_depend_on_the_absolute_outlet_pressure(solver):
    """An iterative solve stops at rtol·‖b‖; ‖b‖ must follow the pressure drop, not the absolute
    pressures, or the smallest flows lose digits when the outlet pressure is large (with absolute
    pressures, a 1e6-Pa offset cost PETSc 2 orders of magnitude on the smallest flows)."""
    net, bc = capillary_lattice(3000, seed=4)
    exact = solve_flow(net, bc, MU)  # direct
    q = exact.flow_um3_s
    tiny = (np.abs(q) < 1e-2 * np.abs(q).max()) & (np.abs(q) > 1e-12 * np.abs(q).max())
    assert tiny.sum() > 50
    for offset in (0.0, 1e6):
        shifted = BoundaryConditions(
            bc.entry_nodes,
            bc.exit_nodes,
            inlet_pressure_Pa=8000.0 + offset,
            outlet_pressure_Pa=2000.0 + offset,
        )
        sol = solve_flow(net, shifted, MU, solver=solver)
        np.testing.assert_allclose(sol.pressure_Pa - offset, exact.pressure_Pa, rtol=1e-11)
        rel = np.abs(sol.flow_um3_s[tiny] - q[tiny]) / np.abs(q[tiny])
        assert rel.max() < 1e-8, (offset, rel.max())
