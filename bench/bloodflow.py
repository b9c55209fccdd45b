"""Benchmark: steady blood-flow solve time on vessel trees and on looped graphs.

Graphs: random recursive trees (``random_tree``), looped 3-D capillary lattices
(``capillary_lattice``; every node on many loops, like a capillary bed) of 1e4, 1e5 and 1e6
segments, and the default circuit's generated vasculature (``msr init``'s network, a looped bed
between penetrating vessels). Solvers, all in the same run: scipy direct (SuperLU in symmetric
mode, the package's ``direct``), the previous scipy direct (SuperLU's default non-symmetric mode,
``spsolve``, kept here as the *before* baseline on the default vasculature and lattices up to 1e5
segments), and PETSc CG + hypre on 1 and 2 MPI ranks (real ``mpiexec``). The time is the whole
``solve_flow`` call (viscosity, conductances, reduced-Laplacian assembly, solve, flows); building
the graph is not timed. Accuracy: max |Δq| / max |q| against scipy direct, and the largest node
imbalance relative to the inflow.

Writes bench/results/bloodflow.json; the headline (last line) is PETSc on 2 ranks on the largest
lattice. Run: ``.venv/bin/python bench/bloodflow.py`` (``--sizes 10000 100000`` for a quick run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from multiscale_run.bloodflow import BoundaryConditions, VascularNetwork, solve_flow  # noqa: E402
from multiscale_run.bloodflow.poiseuille import net_outflow_um3_s  # noqa: E402
from multiscale_run.bloodflow.synthetic import capillary_lattice, random_tree  # noqa: E402

MU_PA_S = 1.2e-3
REPEATS = 2
#: largest graph the scipy direct solvers are timed on (3-D lattices fill in like n^(4/3))
DIRECT_MAX_LOOPED = 200_000
BEFORE_MAX = 200_000


def default_vasculature() -> tuple[VascularNetwork, BoundaryConditions]:
    """The vasculature ``msr init`` generates around the default circuit."""
    from multiscale_run.circuit.default import build_default_circuit
    from multiscale_run.circuit.vasculature import generate_network

    with tempfile.TemporaryDirectory() as tmp:
        bbox = build_default_circuit(Path(tmp) / "circuit", seed=1).bounding_box_um
    a = generate_network(bbox, seed=1)
    net = VascularNetwork.from_arrays(
        a["start_node"],
        a["end_node"],
        np.column_stack([a[f"start_{c}"] for c in "xyz"]),
        np.column_stack([a[f"end_{c}"] for c in "xyz"]),
        0.25 * (a["start_diameter"] + a["end_diameter"]),
        a["type"],
    )
    return net, BoundaryConditions(a["entry_nodes"], a["exit_nodes"], inlet_pressure_Pa=4000.0)


def make_graph(kind: str, n: int) -> tuple[VascularNetwork, BoundaryConditions]:
    if kind == "tree":
        return random_tree(n, seed=1)
    if kind == "lattice":
        return capillary_lattice(n, seed=1)
    return default_vasculature()


def superlu_nonsymmetric(matrix, rhs):
    """The solver before the fix: SuperLU in its default mode (column ordering, row pivoting)."""
    return spla.spsolve(sp.csc_matrix(matrix), rhs, permc_spec="MMD_AT_PLUS_A")


def kirchhoff(net, bc, flow, inflow) -> float:
    internal = np.ones(net.n_nodes, dtype=bool)
    internal[bc.entry_nodes] = internal[bc.exit_nodes] = False
    return float(np.max(np.abs(net_outflow_um3_s(net, flow)[internal])) / inflow)


def time_solve(net, bc, solver, repeats=REPEATS) -> tuple[float, np.ndarray, float]:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        sol = solve_flow(net, bc, MU_PA_S, solver=solver)
        best = min(best, time.perf_counter() - t0)
    return best, sol.flow_um3_s, sol.inflow_um3_s


def worker(kind: str, n: int, out: Path) -> None:
    """Run under mpiexec: PETSc solve of the same graph on every rank count."""
    from mpi4py import MPI

    from multiscale_run.parallel import Parallel
    from multiscale_run.simulators.bloodflow import solve_reduced_petsc

    comm = MPI.COMM_WORLD
    net, bc = make_graph(kind, n)
    comm.Barrier()
    parallel = Parallel(comm)
    seconds, flow, inflow = time_solve(net, bc, lambda A, b: solve_reduced_petsc(A, b, parallel=parallel))
    seconds = comm.allreduce(seconds, op=MPI.MAX)
    if comm.rank == 0:
        np.save(out, flow)
        out.with_suffix(".json").write_text(json.dumps({"seconds": seconds, "inflow": inflow}))


def run_petsc(kind: str, n: int, ranks: int, folder: Path) -> tuple[float, np.ndarray] | None:
    mpiexec = shutil.which("mpiexec")
    if mpiexec is None:
        return None
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    out = folder / f"petsc_{kind}_{n}_{ranks}.npy"
    cmd = [
        mpiexec,
        "-n",
        str(ranks),
        "--oversubscribe",
        sys.executable,
        __file__,
        "--worker",
        kind,
        str(n),
        str(out),
    ]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=1200)
    if result.returncode != 0:
        print(result.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(out.with_suffix(".json").read_text())["seconds"], np.load(out)


def measure(kind: str, n: int, have_petsc: bool, tmp: Path) -> dict:
    net, bc = make_graph(kind, n)
    looped = kind != "tree"
    case = {"graph": kind, "segments": net.n_segments, "loops": int(net.n_segments - net.n_nodes + 1)}
    q_ref = None
    if not looped or net.n_segments <= DIRECT_MAX_LOOPED:
        t_scipy, q_ref, inflow = time_solve(net, bc, None)
        case["scipy_direct_s"] = t_scipy
        case["scipy_kirchhoff_rel"] = kirchhoff(net, bc, q_ref, inflow)
    if looped and net.n_segments <= BEFORE_MAX:
        t_before, q_before, _ = time_solve(net, bc, superlu_nonsymmetric, repeats=1)
        case["scipy_direct_before_s"] = t_before
        case["scipy_direct_speedup"] = t_before / case["scipy_direct_s"]
        case["scipy_before_vs_after_rel"] = float(np.max(np.abs(q_before - q_ref)) / np.max(np.abs(q_ref)))
    for ranks in (1, 2) if have_petsc else ():
        got = run_petsc(kind, n, ranks, tmp)
        if got is None:
            continue
        seconds, q = got
        case[f"petsc_{ranks}rank_s"] = seconds
        if q_ref is not None:
            case[f"petsc_{ranks}rank_vs_scipy_rel"] = float(np.max(np.abs(q - q_ref)) / np.max(np.abs(q_ref)))
        inflow = float(np.sum(net_outflow_um3_s(net, q)[bc.entry_nodes]))
        case[f"petsc_{ranks}rank_kirchhoff_rel"] = kirchhoff(net, bc, q, inflow)
    print(json.dumps(case), flush=True)
    return case


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--worker", nargs=3, metavar=("KIND", "N", "OUT"))
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), Path(args.worker[2]))
        return

    try:
        import petsc4py  # noqa: F401

        have_petsc = True
    except ImportError:
        have_petsc = False
    tmp = HERE / "results" / "_bloodflow_tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    results = {
        "unit": "s",
        "what": f"solve_flow wall time, best of {REPEATS} (the 'before' baseline: one run)",
        "load_average_at_start": load,
        "cases": [measure("default_vasculature", 0, have_petsc, tmp)],
    }
    for kind in ("tree", "lattice"):
        results["cases"] += [measure(kind, n, have_petsc, tmp) for n in args.sizes]
    shutil.rmtree(tmp, ignore_errors=True)
    results["load_average_at_end"] = os.getloadavg()
    out = HERE / "results" / "bloodflow.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    # headline: the default solver (PETSc) on 2 ranks, the target's "2 cores", largest lattice
    last = results["cases"][-1]
    seconds = last.get("petsc_2rank_s", last.get("scipy_direct_s", float("nan")))
    label = f"{last['segments']:.0e}".replace("+0", "").replace("+", "")
    print(f"bloodflow: {seconds:.2f}s for {label} looped segments (target < 5 s)")


if __name__ == "__main__":
    main()
