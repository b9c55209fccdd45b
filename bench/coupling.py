"""Benchmark of the couplings: operator build time for 1e5 segments × 1e5 tets, cached reload,
and the share of wall time spent in couplings and reports in the default simulation (first run
and rerun).

Run: ``.venv/bin/python bench/coupling.py``. Writes ``bench/results/coupling.json`` (one entry
per measurement, merged into the existing file) and prints the headline last:
``coupling: <x>s operator build for 1e5 segments x 1e5 tets (target < 20 s)``.

Each measurement is a function in :data:`MEASUREMENTS` returning a dict; the one named by
the last line joins the two headlines. The baseline, measured in the same run, is brute-force
clipping of every (segment, tet) pair (what the spatial index avoids), timed on a sample of
segments and scaled to the full count.
"""

from __future__ import annotations

import json
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from multiscale_run.coupling.cache import OperatorCache  # noqa: E402
from multiscale_run.coupling.geometry import (  # noqa: E402
    Geometry,
    TetGridIndex,
    structured_box_mesh,
)
from multiscale_run.coupling.operators import OperatorBuilder  # noqa: E402
from multiscale_run.mesh import tet_geometry  # noqa: E402
from multiscale_run.spaces import SegmentGeometry  # noqa: E402

RESULTS = REPO / "bench" / "results" / "coupling.json"
TARGET_BUILD_S = 20.0
TARGET_RELOAD_S = 1.0
#: the operators a rank needs for its segments (neuron <-> steps <-> metabolism couplings)
SEGMENT_OPERATORS = (
    "segment_to_neuron_area_mean",
    "segment_to_neuron_volume_mean",
    "neuron_to_segment",
    "segment_to_tet",
    "tet_to_segment",
    "tet_to_neuron",
    "neuron_to_tet",
)


def bench_geometry(n_tets_target: int = 100_000, n_segments: int = 100_000, seed: int = 0) -> Geometry:
    """A box of ~1e5 Kuhn tets (20 µm cubes) and 1e5 neurite segments of 200 random-walk cells.

    Each cell is a random walk of 10 µm steps from a soma inside the box (a zero-length first
    segment); walks are reflected at the box walls, so every segment lies inside the mesh.
    """
    spacing = 20.0
    n_cubes = round((n_tets_target / 6) ** (1 / 3))
    shape = (n_cubes, n_cubes, max(1, round(n_tets_target / 6 / n_cubes**2)))
    vertices, tets = structured_box_mesh(shape, spacing)
    box = np.array(shape) * spacing
    rng = np.random.default_rng(seed)
    n_cells = 200
    per_cell = n_segments // n_cells
    steps = rng.normal(size=(n_cells, per_cell, 3))
    steps *= 10.0 / np.linalg.norm(steps, axis=2, keepdims=True)
    steps[:, 0] = 0.0  # the soma: a point
    soma = rng.uniform(0.1, 0.9, (n_cells, 1, 3)) * box
    path = soma + np.cumsum(steps, axis=1)
    path = np.abs(np.mod(path + box, 2 * box) - box)  # fold (reflect) into [0, box], continuous
    points = np.concatenate([soma, path], axis=1)  # (cells, per_cell + 1, 3)
    start = points[:, :-1].reshape(-1, 3)
    end = points[:, 1:].reshape(-1, 3)
    length = np.linalg.norm(end - start, axis=1)
    radius = 0.5
    segments = SegmentGeometry(
        start_um=start,
        end_um=end,
        area_um2=2 * np.pi * radius * np.maximum(length, 1.0),
        volume_um3=np.pi * radius**2 * np.maximum(length, 1.0),
        neuron_index=np.repeat(np.arange(n_cells), per_cell),
        gids=np.arange(n_cells),
    )
    return Geometry(segments, tet_geometry(vertices, tets))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure_operator_build() -> dict:
    """Cold build of every segment operator, cache write, cached reload, brute-force baseline."""
    geometry = bench_geometry()
    seg, tets = geometry.segments, geometry.tets
    n_seg, n_tet = len(seg.start_um), len(tets.tets)

    start = time.perf_counter()
    builder = OperatorBuilder(geometry)
    index_s = time.perf_counter()
    builder.tet_index  # noqa: B018 - build the spatial index now, to time it alone
    index_s = time.perf_counter() - index_s
    matrices = {name: builder.build(name) for name in SEGMENT_OPERATORS}
    build_s = time.perf_counter() - start
    overlap = builder.segment_overlap

    with tempfile.TemporaryDirectory() as cache_dir:
        cold = OperatorCache(Path(cache_dir))
        write_start = time.perf_counter()
        for name in SEGMENT_OPERATORS:
            cold.get_or_build(name, {"segments": seg, "tets": tets}, lambda name=name: matrices[name])
        write_s = time.perf_counter() - write_start
        warm = OperatorCache(Path(cache_dir))
        reload_start = time.perf_counter()
        for name in SEGMENT_OPERATORS:
            warm.get_or_build(name, {"segments": seg, "tets": tets}, lambda: None)
        reload_s = time.perf_counter() - reload_start
        assert warm.loaded == list(SEGMENT_OPERATORS), warm.built

    # baseline: clip every pair, on a sample of segments, scaled to all segments
    index: TetGridIndex = builder.tet_index
    sample = np.random.default_rng(1).choice(n_seg, 20, replace=False)
    all_tets = np.arange(n_tet)
    brute_start = time.perf_counter()
    for j in sample:
        index.clip(seg.start_um, seg.end_um, np.full(n_tet, j), all_tets)
    brute_s = (time.perf_counter() - brute_start) * n_seg / len(sample)

    row_sums = np.asarray(overlap.fractions.sum(axis=1)).ravel()
    return {
        "n_segments": n_seg,
        "n_tets": n_tet,
        "build_s": build_s,
        "index_s": index_s,
        "cache_write_s": write_s,
        "cached_reload_s": reload_s,
        "baseline_all_pairs_s": brute_s,
        "speedup_vs_all_pairs": brute_s / build_s,
        "operators": list(SEGMENT_OPERATORS),
        "segment_to_tet_nnz": int(matrices["segment_to_tet"].nnz),
        "segments_outside": overlap.n_outside,
        "max_row_sum_error": float(np.max(np.abs(row_sums - 1.0))),
        "peak_rss_mb": _peak_rss_mb(),
        "target_build_s": TARGET_BUILD_S,
        "target_reload_s": TARGET_RELOAD_S,
        "headline": (
            f"coupling: {build_s:.2f}s operator build for 1e5 segments x 1e5 tets "
            f"(target < {TARGET_BUILD_S:.0f} s)"
        ),
    }


TARGET_SHARE_PERCENT = 3.0


def _share_of_run(timings: dict) -> dict:
    """Seconds in couplings, reports and advances of one run (timings.json), and their shares."""
    rows = timings["activities"]
    coupling = sum(r["seconds"] for k, r in rows.items() if k.startswith(("coupling:", "couplings:")))
    reports = sum(r["seconds"] for k, r in rows.items() if k.startswith("reports:"))
    advances = sum(r["seconds"] for k, r in rows.items() if k.startswith("advance:"))
    return {
        "total_seconds": timings["total_seconds"],
        "setup_seconds": sum(r["seconds"] for k, r in rows.items() if k.startswith("setup:")),
        "advance_seconds": advances,
        "coupling_seconds": coupling,
        "report_seconds": reports,
        "share_percent_of_wall": 100 * (coupling + reports) / timings["total_seconds"],
        "share_percent_of_stepping": 100 * (coupling + reports) / (advances + coupling + reports),
    }


def measure_coupling_share(neurons: int = 50) -> dict:
    """Share of wall time spent in couplings and reports in the default simulation (msr init +
    compute), on the first run (which compiles the NEURON mechanisms) and on a second run of the
    same folder (mechanisms and operators cached: a shorter set-up, so a larger share).

    The baseline is the same run's total wall time (set-up included) and its stepping time alone;
    the headline takes the larger share of the two runs.
    """
    import subprocess

    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        sim = Path(tmp) / "sim"
        msr = [sys.executable, "-m", "multiscale_run.cli"]
        subprocess.run([*msr, "init", str(sim), "--neurons", str(neurons)], check=True, capture_output=True)
        for run in ("first_run", "rerun"):
            start = time.perf_counter()
            subprocess.run(
                [*msr, "compute", str(sim), "--no-progress", "--overwrite"], check=True, capture_output=True
            )
            runs[run] = {"wall_seconds_compute_command": time.perf_counter() - start}
            runs[run].update(_share_of_run(json.loads((sim / "output" / "timings.json").read_text())))
    share = max(r["share_percent_of_wall"] for r in runs.values())
    return {
        "neurons": neurons,
        **runs,
        "share_percent_of_wall": share,
        "target_percent": TARGET_SHARE_PERCENT,
        "headline": f"couplings+reports {share:.1f}% of wall time in the default simulation "
        f"(target < {TARGET_SHARE_PERCENT:.0f} %)",
    }


#: measurement name -> function
MEASUREMENTS: dict[str, Callable[[], dict]] = {
    "operator_build": measure_operator_build,
    "coupling_share": measure_coupling_share,
}


def main() -> None:
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results["machine"] = {"python": platform.python_version(), "cpus": __import__("os").cpu_count()}
    for name, measure in MEASUREMENTS.items():
        results[name] = measure()
        summary = {k: v for k, v in results[name].items() if isinstance(v, (int, float))}
        print(f"{name}: {json.dumps(summary)}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    build, share = results["operator_build"], results["coupling_share"]
    print(f"{build['headline']}; {share['headline'].removeprefix('coupling: ')}")


if __name__ == "__main__":
    main()
