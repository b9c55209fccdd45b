"""PETSc blood-flow solves under real mpiexec: the same flows on 1, 2 and 4 ranks."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from conftest import run_mpi_python

from multiscale_run.bloodflow import solve_flow
from multiscale_run.bloodflow.poiseuille import net_outflow_um3_s
from multiscale_run.bloodflow.synthetic import random_tree
from multiscale_run.simulators.bloodflow import petsc_available

pytestmark = [
    pytest.mark.mpi,
    pytest.mark.skipif(not petsc_available(), reason="petsc4py is not installed"),
]

N_SEGMENTS = 20_000
SEED = 11

SOLVE_TREE = textwrap.dedent(
    """
    import sys
    import numpy as np
    from mpi4py import MPI
    from multiscale_run.bloodflow import solve_flow
    from multiscale_run.bloodflow.synthetic import random_tree
    from multiscale_run.parallel import Parallel
    from multiscale_run.simulators.bloodflow import solve_reduced_petsc

    net, bc = random_tree({n}, seed={seed})
    comm = MPI.COMM_WORLD
    sol = solve_flow(net, bc, 1.2e-3, solver=lambda A, b: solve_reduced_petsc(A, b, parallel=Parallel(comm)))
    everyone = comm.gather(sol.flow_um3_s, root=0)
    if comm.rank == 0:
        # every rank must hold the whole, identical solution (the vessel space is global)
        assert all(np.array_equal(everyone[0], f) for f in everyone), "ranks disagree"
        np.save(sys.argv[1], sol.flow_um3_s)
    """
)

RUN_SIM = textwrap.dedent(
    """
    import sys
    import numpy as np
    from pathlib import Path
    from mpi4py import MPI
    from multiscale_run.circuit.vasculature import build_vasculature
    from multiscale_run.config import Config
    from multiscale_run.parallel import Parallel
    from multiscale_run.simulators.bloodflow import BloodflowSim

    directory = Path(sys.argv[1])
    comm = MPI.COMM_WORLD
    if comm.rank == 0:
        build_vasculature(directory, (np.zeros(3), np.array([200.0, 600.0, 200.0])), seed=4)
    comm.Barrier()
    data = {"run": {"tstop": 100.0, "dt": 0.025}, "network": "circuit_config.json",
            "multiscale_run": {"bloodflow": {"enabled": True, "solver": "petsc"}}}
    sim = BloodflowSim(Config.from_dict(data, directory / "simulation_config.json"), Parallel(comm))
    sim.set("radius", 1.1 * sim.get("radius"))
    sim.advance(100.0)
    flows = comm.gather(sim.get("flow"), root=0)
    if comm.rank == 0:
        assert all(np.array_equal(flows[0], f) for f in flows), "ranks disagree"
        np.save(directory / f"flow_{comm.size}.npy", flows[0])
    """
)


@pytest.fixture(scope="module")
def tree_flows(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bf_mpi")
    script = folder / "solve_tree.py"
    script.write_text(SOLVE_TREE.format(n=N_SEGMENTS, seed=SEED))
    flows = {}
    for ranks in (1, 2, 4):
        out = folder / f"flow_{ranks}.npy"
        result = run_mpi_python(ranks, [str(script), str(out)], timeout=120, cwd=folder)
        assert result.returncode == 0, result.stderr[-3000:]
        flows[ranks] = np.load(out)
    return flows


def test_petsc_flows_do_not_depend_on_the_rank_count(tree_flows):
    scale = np.max(np.abs(tree_flows[1]))
    for ranks in (2, 4):
        assert np.max(np.abs(tree_flows[ranks] - tree_flows[1])) < 1e-10 * scale, ranks


def test_petsc_matches_scipy_and_conserves_volume(tree_flows):
    net, bc = random_tree(N_SEGMENTS, seed=SEED)
    reference = solve_flow(net, bc, 1.2e-3)
    scale = np.max(np.abs(reference.flow_um3_s))
    internal = np.ones(net.n_nodes, dtype=bool)
    internal[bc.entry_nodes] = internal[bc.exit_nodes] = False
    for ranks, flow in tree_flows.items():
        assert np.max(np.abs(flow - reference.flow_um3_s)) < 1e-8 * scale, ranks
        assert np.max(np.abs(net_outflow_um3_s(net, flow)[internal])) < 1e-10 * reference.inflow_um3_s, ranks


def test_bloodflow_sim_on_1_2_4_ranks(tmp_path):
    script = tmp_path / "run_sim.py"
    script.write_text(RUN_SIM)
    flows = {}
    for ranks in (1, 2, 4):
        folder = tmp_path / f"n{ranks}"
        folder.mkdir()
        result = run_mpi_python(ranks, [str(script), str(folder)], timeout=120, cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        flows[ranks] = np.load(folder / f"flow_{ranks}.npy")
    scale = np.max(np.abs(flows[1]))
    for ranks in (2, 4):
        assert np.max(np.abs(flows[ranks] - flows[1])) < 1e-10 * scale
