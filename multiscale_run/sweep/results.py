"""A sweep's results: ``SWEEP/results.csv`` (one row per point) and ``SWEEP/results.html``.

Rows are read back from the point folders and every metric is computed from each completed
point's reports at that time, so the table is always what the outputs on disk say. Columns:
``point``, ``status``, each parameter (its dotted path), each metric, ``wall_s``, ``attempts``,
``error``. The page shows the table, each metric against each parameter, a heat map of each
metric when the sweep is a grid over two parameters, and for a search the best trials and the
objective trial after trial. Figures use the post-processing page's helpers (matplotlib PNGs
embedded in the page).
"""

from __future__ import annotations

import csv
import html
import json
import logging
import math
from pathlib import Path

import numpy as np

from multiscale_run.postprocessing import _img, _table
from multiscale_run.postprocessing.figures import _figure_png, _pyplot
from multiscale_run.sweep.driver import STATE_FILE
from multiscale_run.sweep.metrics import MetricError
from multiscale_run.sweep.points import COMPLETED, read_state
from multiscale_run.sweep.spec import Sweep, load_sweep

log = logging.getLogger(__name__)

CSV_NAME = "results.csv"
HTML_NAME = "results.html"
N_BEST = 5


def is_sweep_folder(path: str | Path) -> bool:
    return (Path(path) / STATE_FILE).is_file()


def collect(sweep: Sweep) -> list[dict]:
    """One row per point folder, in name order, metrics computed from the outputs."""
    rows = []
    for directory in sorted((sweep.output / "points").glob("*/")):
        state = read_state(directory)
        if not state:
            continue
        row = {"point": state["name"], "status": state.get("status", "pending")}
        row |= {p.path: state["parameters"].get(p.path) for p in sweep.parameters}
        errors = [state["error"]] if state.get("error") else []
        for name, metric in sweep.metrics.items():
            row[name] = None
            if row["status"] == COMPLETED:
                try:
                    row[name] = metric.evaluate(directory)
                except (MetricError, OSError, KeyError, ValueError) as exc:
                    errors.append(f"metric {name}: {exc}")
        row |= {
            "wall_s": state.get("wall_s"),
            "attempts": state.get("attempts", 0),
            "error": "; ".join(errors),
        }
        rows.append(row)
    return rows


def write_csv(rows: list[dict], path: Path, header: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)


def _numbers(rows: list[dict], key: str) -> np.ndarray:
    return np.array([r[key] if isinstance(r[key], (int, float)) else np.nan for r in rows], dtype=float)


def _scatter(rows: list[dict], parameter: str, metric: str) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.plot(_numbers(rows, parameter), _numbers(rows, metric), "o")
    ax.set_xlabel(parameter, fontsize=7)
    ax.set_ylabel(metric)
    return _figure_png(fig)


def _heat_map(rows: list[dict], px: str, py: str, metric: str) -> str:
    xs, ys = sorted({r[px] for r in rows}), sorted({r[py] for r in rows})
    grid = np.full((len(ys), len(xs)), np.nan)
    for r in rows:
        if isinstance(r[metric], (int, float)):
            grid[ys.index(r[py]), xs.index(r[px])] = r[metric]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    image = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
    middle = np.nanmean([np.nanmin(grid), np.nanmax(grid)])
    for (i, j), value in np.ndenumerate(grid):
        if math.isfinite(value):  # dark text on viridis's light (high) end
            color = "k" if value > middle else "w"
            ax.text(j, i, f"{value:.4g}", ha="center", va="center", fontsize=7, color=color)
    ax.set_xticks(range(len(xs)), [f"{x:g}" for x in xs])
    ax.set_yticks(range(len(ys)), [f"{y:g}" for y in ys])
    ax.set_xlabel(px, fontsize=7)
    ax.set_ylabel(py, fontsize=7)
    fig.colorbar(image, ax=ax, label=metric)
    return _figure_png(fig)


def _history(rows: list[dict], metric: str, maximize: bool) -> str:
    values = _numbers(rows, metric)
    best = (np.fmax if maximize else np.fmin).accumulate(values)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(values, "o", label="trial")
    ax.plot(best, drawstyle="steps-post", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.legend()
    return _figure_png(fig)


def render_html(sweep: Sweep, rows: list[dict], header: list[str]) -> str:
    shown = [{k: "" if v is None else v for k, v in row.items()} for row in rows]  # as in the CSV
    done = [r for r in rows if r["status"] == COMPLETED]
    counts = {s: sum(r["status"] == s for r in rows) for s in sorted({r["status"] for r in rows})}
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>multiscale-run sweep</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:small}"
        "td,th{border:1px solid #ccc;padding:2px 6px}img{margin:4px}</style></head><body>",
        f"<h1>Sweep {html.escape(sweep.output.name)}</h1>",
        _table(
            [
                ("sweep file", str(sweep.file)),
                ("base simulation", str(sweep.base)),
                ("method", json.dumps(sweep.raw.get("method", {"name": "grid"}))),
                ("points", json.dumps(counts)),
            ]
        ),
    ]
    params, metrics = [p.path for p in sweep.parameters], list(sweep.metrics)
    if sweep.method.name == "optuna" and done:
        objective, maximize = sweep.method.objective, sweep.method.direction == "maximize"
        ranked = sorted(
            (r for r in done if r[objective] is not None), key=lambda r: r[objective], reverse=maximize
        )
        parts += [f"<h2>Best trials ({html.escape(sweep.method.direction)} {html.escape(objective)})</h2>"]
        parts += [f"<div id='best'>{_table(ranked[:N_BEST], header)}</div>"]
        parts += [_img(_history(rows, objective, maximize), f"{objective} by trial")]
    parts += ["<h2>Results</h2>", f"<div id='results'>{_table(shown, header)}</div>"]
    if done and metrics:
        parts.append("<h2>Metrics against parameters</h2>")
        for metric in metrics:
            parts += [_img(_scatter(done, p, metric), f"{metric} against {p}") for p in params]
        if sweep.method.name == "grid" and len(params) == 2:
            parts.append("<h2>Heat maps</h2>")
            parts += [
                _img(_heat_map(done, *params, m), f"heat map of {m} over {params[0]} and {params[1]}")
                for m in metrics
            ]
    parts.append("</body></html>")
    return "\n".join(parts)


def write_results(sweep_dir: str | Path) -> Path:
    """Write ``results.csv`` and ``results.html`` of a sweep folder; returns the page's path
    (``msr post-processing SWEEP``)."""
    sweep_dir = Path(sweep_dir).resolve()
    recorded = json.loads((sweep_dir / STATE_FILE).read_text(encoding="utf-8"))
    sweep = load_sweep(recorded["sweep_file"])
    rows = collect(sweep)
    header = [
        "point",
        "status",
        *(p.path for p in sweep.parameters),
        *sweep.metrics,
        "wall_s",
        "attempts",
        "error",
    ]
    write_csv(rows, sweep_dir / CSV_NAME, header)
    page = sweep_dir / HTML_NAME
    page.write_text(render_html(sweep, rows, header), encoding="utf-8")
    log.info("sweep results: %s and %s", sweep_dir / CSV_NAME, page)
    return page
