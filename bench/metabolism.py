"""Coupled-mode metabolism throughput: batched RODAS4 versus scipy Radau looping over cells.

Throughput is cell × model-seconds per wall-second. Both integrators run the same J15 coupled
model, the same tolerances and the same 100-ms steps (each cell's drive changes at every step,
as a coupling would set it). The Radau baseline gets the exact Jacobian (complex step, one
cell) and is timed on a subset of cells, then extrapolated linearly (its cost is per cell).
Accuracy of both is measured against Radau at rtol 1e-11 on a few cells.

Run: ``.venv/bin/python bench/metabolism.py``; writes bench/results/metabolism.json.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from scipy.integrate import solve_ivp

from multiscale_run.metabolism.model import ModelOptions, rhs
from multiscale_run.metabolism.parameters import initial_state, make_parameters, take_cells
from multiscale_run.metabolism.solver import J15Batch

RTOL, ATOL = 1e-6, 1e-9
STEP_S = 0.1
N_STEPS = 5
SIZES = (1, 100, 1000, 10000)
RADAU_SUBSET = 20
OUT = Path(__file__).resolve().parent / "results" / "metabolism.json"


def drives(n: int, step: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1000 * step + n)
    return {"v_stim_n": rng.uniform(0.0, 1.5, n), "J_pump_ATP_n": rng.uniform(0.15, 0.5, n)}


def run_batch(n: int) -> tuple[float, np.ndarray]:
    batch = J15Batch(n, ModelOptions.coupled(), rtol=RTOL, atol=ATOL)
    t0 = time.perf_counter()
    for k in range(N_STEPS):
        for name, values in drives(n, k).items():
            batch.set(name, values)
        batch.advance((k + 1) * STEP_S)
    return time.perf_counter() - t0, batch.y.copy()


def run_radau(n: int, cells: np.ndarray, rtol=RTOL, atol=ATOL) -> tuple[float, np.ndarray]:
    """Per-cell scipy Radau over the same steps and drives; returns (wall s, final states)."""
    options = ModelOptions.coupled()
    ref = J15Batch(1, options)  # only for its exact one-cell Jacobian
    dyn = ref.integrator.dynamic
    out = np.empty((len(cells), 33))
    t0 = time.perf_counter()
    for i, cell in enumerate(cells):
        y = initial_state(1)[0]
        for k in range(N_STEPS):
            p = take_cells(make_parameters(n, drives(n, k)), np.array([cell]))

            def f(t, yy, p=p):
                return rhs(np.array([t]), yy[None], p, options)[0]

            def jac(t, yy, p=p):
                J = np.zeros((33, 33))
                jr, _ = ref.integrator.jac(np.array([t]), yy[None], p, with_time=False)
                J[np.ix_(dyn, dyn)] = jr[0]
                return J

            sol = solve_ivp(
                f, (k * STEP_S, (k + 1) * STEP_S), y, method="Radau", rtol=rtol, atol=atol, jac=jac
            )
            y = sol.y[:, -1]
        out[i] = y
    return time.perf_counter() - t0, out


def main() -> None:
    model_s = N_STEPS * STEP_S
    load_start = os.getloadavg()
    results = []
    for n in SIZES:
        wall, y = run_batch(n)
        subset = np.unique(np.linspace(0, n - 1, min(n, RADAU_SUBSET)).astype(int))
        r_wall, r_y = run_radau(n, subset)
        r_wall_all = r_wall / len(subset) * n
        acc_cells = subset[:3]
        _, exact = run_radau(n, acc_cells, rtol=1e-11, atol=1e-13)
        err_batch = float(np.max(np.abs(y[acc_cells] - exact) / np.abs(exact).clip(1e-12)))
        err_radau = float(np.max(np.abs(r_y[: len(acc_cells)] - exact) / np.abs(exact).clip(1e-12)))
        entry = {
            "cells": n,
            "model_s": model_s,
            "batch_wall_s": wall,
            "batch_throughput_cell_s_per_s": n * model_s / wall,
            "radau_cells_measured": len(subset),
            "radau_extrapolated": bool(len(subset) < n),
            "radau_wall_s": r_wall_all,
            "radau_throughput_cell_s_per_s": n * model_s / r_wall_all,
            "speedup": r_wall_all / wall,
            "max_rel_error_batch": err_batch,
            "max_rel_error_radau": err_radau,
        }
        results.append(entry)
        print(
            f"{n:6d} cells: batch {entry['batch_throughput_cell_s_per_s']:9.1f} cell·s/s, "
            f"Radau {entry['radau_throughput_cell_s_per_s']:7.2f} cell·s/s, x{entry['speedup']:.1f}, "
            f"errors {err_batch:.1e} / {err_radau:.1e}",
            flush=True,
        )
    at_1000 = next(r for r in results if r["cells"] == 1000)
    at_10000 = next(r for r in results if r["cells"] == 10000)
    # throughput per cell should not fall with the number of cells (batched work is per cell)
    flatness = at_10000["batch_throughput_cell_s_per_s"] / at_1000["batch_throughput_cell_s_per_s"]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "benchmark": "metabolism",
                "what": "J15 coupled mode, 100-ms steps, drives reset each step; batched RODAS4 vs "
                "scipy solve_ivp(Radau, exact Jacobian) looping over cells",
                "rtol": RTOL,
                "atol": ATOL,
                "radau_note": f"Radau timed on up to {RADAU_SUBSET} cells per size and extrapolated "
                "linearly in the number of cells (radau_extrapolated).",
                "python": sys.version.split()[0],
                "machine": platform.platform(),
                "load_average_at_start": load_start,
                "load_average_at_end": os.getloadavg(),
                "throughput_10000_over_1000": flatness,
                "results": results,
                "headline_speedup_1000": at_1000["speedup"],
            },
            indent=2,
        )
    )
    print(f"throughput at 10000 cells / at 1000 cells: {flatness:.2f} (flat = 1)")
    print(f"metabolism: {at_1000['speedup']:.1f}x vs per-cell Radau at 1000 cells (target >= 50x)")


if __name__ == "__main__":
    main()
