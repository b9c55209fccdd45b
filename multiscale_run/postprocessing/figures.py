"""The figures of the post-processing report, as base64 PNGs: spike raster, report traces, timings."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from multiscale_run.postprocessing import ReportSummary

_MAX_RASTER_SPIKES = 200_000  # a raster with more dots than pixels only costs time


def _figure_png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def raster_png(population: str, node_ids: np.ndarray, times_ms: np.ndarray) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    if times_ms.size > _MAX_RASTER_SPIKES:
        pick = np.random.default_rng(0).choice(times_ms.size, _MAX_RASTER_SPIKES, replace=False)
        node_ids, times_ms = node_ids[pick], times_ms[pick]
        ax.set_title(f"{population}: random sample of {_MAX_RASTER_SPIKES} spikes")
    else:
        ax.set_title(f"{population}: {times_ms.size} spikes")
    # marks shrink as spikes crowd in, so that a dense raster stays readable
    size = float(np.clip(2e4 / max(times_ms.size, 1), 2.0, 60.0))
    ax.scatter(times_ms, node_ids, s=size, marker="|", color="k", linewidths=1.0)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("node id")
    return _figure_png(fig)


def report_png(rep: ReportSummary) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    label = rep.attributes.get("variable") or rep.file.removesuffix(".h5")
    ax.fill_between(rep.times_ms, rep.minimum, rep.maximum, color="tab:blue", alpha=0.12, label="min–max")
    ax.fill_between(rep.times_ms, rep.p05, rep.p95, color="tab:blue", alpha=0.3, label="5–95 %")
    ax.plot(rep.times_ms, rep.mean, color="tab:blue", lw=1.5, label="mean")
    ax.set_title(f"{label} ({rep.population}, {rep.n_nodes} nodes, {rep.n_elements} elements)")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(f"{label} ({rep.units})" if rep.units else label)
    ax.legend(loc="best", fontsize="small")
    return _figure_png(fig)


def coupling_png(reports: list[ReportSummary]) -> str:
    """One panel per report: its change from the first frame (%), mean and largest over elements."""
    plt = _pyplot()
    fig, axes = plt.subplots(
        len(reports), 1, figsize=(9, 2.2 * len(reports) + 0.6), sharex=True, squeeze=False
    )
    for ax, rep in zip(axes[:, 0], reports, strict=True):
        label = rep.attributes.get("variable") or rep.file.removesuffix(".h5")
        ax.plot(rep.times_ms, 100 * rep.max_rise, color="tab:red", lw=1.2, label="largest over elements")
        ax.plot(rep.times_ms, 100 * rep.mean_rise, color="tab:blue", lw=1.5, label="mean")
        ax.set_ylabel(f"{label}\nchange (%)")
        ax.set_title(f"{rep.file} ({rep.n_elements} elements)", fontsize="small")
        ax.legend(loc="best", fontsize="small")
    axes[-1, 0].set_xlabel("time (ms)")
    return _figure_png(fig)


def timing_rows(timings: dict) -> list[dict]:
    """One row per activity of timings.json, slowest first: min, mean and max seconds over the
    ranks, and the max's share of the run's wall time."""
    total = float(timings.get("total_seconds") or 0.0)
    rows = []
    for name, row in (timings.get("activities") or {}).items():
        peak = float(row.get("max", row.get("seconds", 0.0)))
        rows.append(
            {
                "activity": name,
                "min s": f"{float(row.get('min', peak)):.3f}",
                "mean s": f"{float(row.get('mean', peak)):.3f}",
                "max s": f"{peak:.3f}",
                "share": f"{100 * peak / total:.1f} %" if total else "",
                "calls": row.get("calls", ""),
            }
        )
    return sorted(rows, key=lambda r: -float(r["max s"]))


def timings_png(timings: dict) -> str | None:
    """Bars of each activity's max over ranks, with its min and mean marked: the gap between
    them is the load imbalance (the fast ranks wait for the slowest one)."""
    rows = [r for r in timing_rows(timings) if float(r["max s"]) > 0][:25][::-1]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 0.3 * len(rows) + 1.4))
    names = [r["activity"] for r in rows]
    ax.barh(names, [float(r["max s"]) for r in rows], color="tab:gray", label="max over ranks")
    ax.plot([float(r["mean s"]) for r in rows], names, "|", color="tab:blue", ms=12, mew=2, label="mean")
    ax.plot([float(r["min s"]) for r in rows], names, "|", color="tab:orange", ms=12, mew=2, label="min")
    ax.set_xlabel(f"seconds of wall time over {timings.get('ranks', 1)} rank(s)")
    ax.legend(loc="lower right", fontsize="small")
    return _figure_png(fig)
