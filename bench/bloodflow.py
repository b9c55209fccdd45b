"""Benchmark: steady blood-flow solve time on random vessel trees of 1e4, 1e5 and 1e6 segments.

Measures, in the same run, the scipy sparse-LU baseline (one process) and PETSc CG + GAMG on 1 and
2 MPI ranks (real ``mpiexec``). The time is the whole ``solve_flow`` call (viscosity,
conductances, reduced-Laplacian assembly, solve, flows); building the random tree is not timed.
Writes bench/results/bloodflow.json; the headline (last line) is PETSc on 2 ranks at 1e6 segments.

Run: ``.venv/bin/python bench/bloodflow.py`` (``--sizes 10000 100000`` for a quick run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from multiscale_run.bloodflow import solve_flow  # noqa: E402
from multiscale_run.bloodflow.poiseuille import net_outflow_um3_s  # noqa: E402
from multiscale_run.bloodflow.synthetic import random_tree  # noqa: E402

MU_PA_S = 1.2e-3
REPEATS = 2


def kirchhoff(net, bc, flow, inflow) -> float:
    internal = np.ones(net.n_nodes, dtype=bool)
    internal[bc.entry_nodes] = internal[bc.exit_nodes] = False
    return float(np.max(np.abs(net_outflow_um3_s(net, flow)[internal])) / inflow)


def time_solve(net, bc, solver) -> tuple[float, np.ndarray, float]:
    best = np.inf
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        sol = solve_flow(net, bc, MU_PA_S, solver=solver)
        best = min(best, time.perf_counter() - t0)
    return best, sol.flow_um3_s, sol.inflow_um3_s


def worker(n: int, out: Path) -> None:
    """Run under mpiexec: PETSc solve of the same tree on every rank count."""
    from mpi4py import MPI

    from multiscale_run.parallel import Parallel
    from multiscale_run.simulators.bloodflow import solve_reduced_petsc

    comm = MPI.COMM_WORLD
    net, bc = random_tree(n, seed=1)
    comm.Barrier()
    parallel = Parallel(comm)
    seconds, flow, inflow = time_solve(net, bc, lambda A, b: solve_reduced_petsc(A, b, parallel=parallel))
    seconds = comm.allreduce(seconds, op=MPI.MAX)
    if comm.rank == 0:
        np.save(out, flow)
        out.with_suffix(".json").write_text(json.dumps({"seconds": seconds, "inflow": inflow}))


def run_petsc(n: int, ranks: int, folder: Path) -> tuple[float, np.ndarray] | None:
    mpiexec = shutil.which("mpiexec")
    if mpiexec is None:
        return None
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    out = folder / f"petsc_{n}_{ranks}.npy"
    cmd = [
        mpiexec,
        "-n",
        str(ranks),
        "--oversubscribe",
        sys.executable,
        __file__,
        "--worker",
        str(n),
        str(out),
    ]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=1200)
    if result.returncode != 0:
        print(result.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(out.with_suffix(".json").read_text())["seconds"], np.load(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--worker", nargs=2, metavar=("N", "OUT"))
    args = parser.parse_args()
    if args.worker:
        worker(int(args.worker[0]), Path(args.worker[1]))
        return

    try:
        import petsc4py  # noqa: F401

        have_petsc = True
    except ImportError:
        have_petsc = False
    tmp = HERE / "results" / "_bloodflow_tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    results = {"unit": "s", "what": f"solve_flow wall time, best of {REPEATS}", "cases": []}
    for n in args.sizes:
        net, bc = random_tree(n, seed=1)
        t_scipy, q_scipy, inflow = time_solve(net, bc, None)
        case = {
            "segments": n,
            "scipy_direct_s": t_scipy,
            "scipy_kirchhoff_rel": kirchhoff(net, bc, q_scipy, inflow),
        }
        scale = float(np.max(np.abs(q_scipy)))
        for ranks in (1, 2) if have_petsc else ():
            got = run_petsc(n, ranks, tmp)
            if got is None:
                continue
            seconds, q = got
            case[f"petsc_{ranks}rank_s"] = seconds
            case[f"petsc_{ranks}rank_vs_scipy_rel"] = float(np.max(np.abs(q - q_scipy)) / scale)
            case[f"petsc_{ranks}rank_kirchhoff_rel"] = kirchhoff(net, bc, q, inflow)
        results["cases"].append(case)
        print(json.dumps(case))
    shutil.rmtree(tmp, ignore_errors=True)
    out = HERE / "results" / "bloodflow.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    # headline: the default solver (PETSc) on 2 ranks, the target's "2 cores"; scipy is the baseline
    last = results["cases"][-1]
    seconds = last.get("petsc_2rank_s", last["scipy_direct_s"])
    label = f"{last['segments']:.0e}".replace("+0", "").replace("+", "")
    print(f"bloodflow: {seconds:.2f}s for {label} segments (target < 10 s)")


if __name__ == "__main__":
    main()
