"""Benchmark: ECS mesh generation and StepsSim advance/coupling cost on the default-circuit mesh.

Measured in one run, on the standard mesh around the default circuit of ``msr init`` (its
neurons' bounding box, ~450 × 2300 × 450 µm; 20 µm margin, 50 µm characteristic length: the
schema defaults):

* mesh generation with gmsh (target < 10 s);
* advance cost in µs per tet·ms of simulated time (1 ms steps, species K 3 mM and Na 140 mM) for
  the deterministic finite-volume solver, STEPS's TetOpSplit (if STEPS is installed), and the
  in-run baseline: the same implicit system solved with ``scipy.sparse.linalg.cg`` (Jacobi
  preconditioner, same tolerance), i.e. what one would write with scipy alone;
* coupling cost: one ``get("K_conc")`` plus one ``set("K_count", ...)`` of all tets, in µs.

Writes bench/results/steps.json; the headline (last line) is the default solver's advance cost
(TetOpSplit when STEPS is installed, else deterministic) against the scipy baseline.

Run: ``.venv/bin/python bench/steps.py``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# this file is called steps.py: keep its folder off the path so `import steps` finds STEPS
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

import scipy.sparse as sp  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402

from multiscale_run import mesh  # noqa: E402
from multiscale_run.parallel import Parallel  # noqa: E402
from multiscale_run.simulators.steps import SpeciesSettings, StepsSettings, StepsSim  # noqa: E402
from multiscale_run.simulators.steps.diffusion import FiniteVolumeDiffusion  # noqa: E402
from multiscale_run.simulators.steps.settings import DEFAULT_SPECIES  # noqa: E402
from multiscale_run.simulators.steps.units import molecules_from_mM  # noqa: E402

SECTION = {"mesh_generation": {"margin_um": 20.0, "characteristic_length_um": 50.0, "refinement": 0}}
SIM_MS = 20.0
SPECIES = tuple(SpeciesSettings(name, **spec) for name, spec in DEFAULT_SPECIES.items())


def time_solver(geometry, solver: str) -> tuple[float, float]:
    """(µs per tet·ms of advance, µs per coupling get+set) for one StepsSim backend."""
    settings = StepsSettings(dt_ms=1.0, species=SPECIES, solver=solver, seed=1)
    sim = StepsSim.from_settings(settings, geometry, Parallel())
    sim.advance(1.0)  # warm-up (first STEPS run builds its schedule)
    t0 = time.perf_counter()
    steps = int(SIM_MS)
    for k in range(2, 2 + steps):
        sim.advance(float(k))
    advance_s = time.perf_counter() - t0
    delta = np.full(len(geometry.tets), 10.0)
    t0 = time.perf_counter()
    for _ in range(10):
        sim.set("K_count", sim.get("K_count") + delta)
        sim.get("K_conc")
    coupling_s = (time.perf_counter() - t0) / 10
    return advance_s / (len(geometry.tets) * steps) * 1e6, coupling_s * 1e6


def time_scipy_baseline(geometry) -> float:
    """Implicit Euler with scipy's CG on the same system, per species, in µs per tet·ms."""
    fv = FiniteVolumeDiffusion(geometry, SPECIES, substep_ms=1.0)
    counts = {
        s.name: molecules_from_mM(np.full(len(geometry.tets), s.conc_0_mM), geometry.volume_um3)
        for s in SPECIES
    }
    counts["K"][: len(counts["K"]) // 10] *= 2.0  # something to diffuse
    t0 = time.perf_counter()
    for _ in range(int(SIM_MS)):
        for s in SPECIES:
            system, inv_diagonal = fv._systems[s.diffusion_um2_per_ms]
            conc, _ = spla.cg(
                system,
                counts[s.name],
                x0=counts[s.name] / geometry.volume_um3,
                rtol=1e-12,
                atol=0.0,
                M=sp.diags(inv_diagonal),
            )
            counts[s.name] = conc * geometry.volume_um3
    return (time.perf_counter() - t0) / (len(geometry.tets) * SIM_MS) * 1e6


def default_circuit_bbox_um(tmp: Path) -> tuple[np.ndarray, np.ndarray]:
    from multiscale_run.circuit.default import build_default_circuit

    lo, hi = build_default_circuit(tmp / "circuit").bounding_box_um
    return np.asarray(lo), np.asarray(hi)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lo, hi = default_circuit_bbox_um(Path(tmp))
        t0 = time.perf_counter()
        path = mesh.generate_mesh(Path(tmp) / "column.msh", lo, hi, SECTION)
        generation_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        geometry = mesh.read_mesh(path)
        read_s = time.perf_counter() - t0
    n_tets = len(geometry.tets)
    print(f"mesh: {n_tets} tets, generated in {generation_s:.2f} s, read in {read_s:.2f} s")

    results: dict = {
        "mesh": {
            "bbox_um": [lo.tolist(), hi.tolist()],
            **SECTION["mesh_generation"],
            "n_tets": n_tets,
            "generation_s": generation_s,
            "read_s": read_s,
            "target_generation_s": 10.0,
        },
        "simulated_ms": SIM_MS,
        "species": [s.name for s in SPECIES],
        "solvers": {},
    }
    baseline = time_scipy_baseline(geometry)
    results["solvers"]["scipy_cg_baseline"] = {"advance_us_per_tet_ms": baseline}
    print(f"scipy CG baseline: {baseline:.3f} us per tet-ms")
    solvers = ["deterministic"]
    try:
        import steps

        solvers += ["TetOpSplit"]
        results["steps_version"] = steps.__version__
    except ImportError:
        results["steps_version"] = None
    for solver in solvers:
        advance, coupling = time_solver(geometry, solver)
        results["solvers"][solver] = {"advance_us_per_tet_ms": advance, "coupling_get_set_us": coupling}
        print(f"{solver}: {advance:.3f} us per tet-ms, coupling get+set {coupling:.0f} us")

    headline_solver = "TetOpSplit" if "TetOpSplit" in results["solvers"] else "deterministic"
    headline = results["solvers"][headline_solver]["advance_us_per_tet_ms"]
    results["headline"] = {"solver": headline_solver, "advance_us_per_tet_ms": headline}
    out = HERE / "results" / "steps.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"steps: {headline:.3f}us per tet-ms (target: measured baseline scipy CG {baseline:.3f}us per "
        f"tet-ms; {headline_solver}, {n_tets} tets, mesh generated in {generation_s:.1f} s < 10 s)"
    )


if __name__ == "__main__":
    main()
