"""The post-processing report: one self-contained HTML page summarising a finished (or crashed) run.

It reads only the output folder (layout in docs/developer.md): ``run.json`` and ``timings.json``
for the run summary, the SONATA spike file for a raster, every SONATA element report for the mean
and spread of its variable over time (only the frames its ``valid_frames`` attribute vouches for),
and ``excluded_neurons.csv``. Figures are matplotlib (Agg) PNGs embedded as base64, so the page
can be mailed or archived alone.
"""

from __future__ import annotations

import csv
import html
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from multiscale_run.output import VALID_FRAMES_ATTR
from multiscale_run.postprocessing.figures import (
    coupling_png,
    raster_png,
    report_png,
    timing_rows,
    timings_png,
)

log = logging.getLogger(__name__)

REPORT_FILE = "postproc.html"
_VALUES_PER_READ = 2**24  # 128 MiB of float64 per block of frames read for the statistics


@dataclass
class ReportSummary:
    """Statistics over the elements of one report population, frame by frame (valid frames only)."""

    file: str
    population: str
    units: str
    attributes: dict
    times_ms: np.ndarray
    mean: np.ndarray
    p05: np.ndarray
    p95: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray
    n_elements: int
    n_nodes: int
    valid_frames: int
    n_frames: int
    #: change relative to the first frame, (x − x₀) / |x₀| per element (0 where |x₀| is below 1e-9
    #: of the largest): mean and largest over elements
    mean_rise: np.ndarray = field(default_factory=lambda: np.zeros(0))
    max_rise: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass
class RunResults:
    """Everything the page shows, read from an output folder."""

    output_dir: Path
    config_path: Path | None = None
    config: dict | None = None
    run: dict | None = None
    timings: dict | None = None
    spikes: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # pop: (ids, t_ms)
    reports: list[ReportSummary] = field(default_factory=list)
    excluded: list[dict] = field(default_factory=list)


def resolve_output_dir(path: str | os.PathLike) -> tuple[Path, Path | None]:
    """``(output_dir, simulation_config)`` for a simulation folder, a config file or an output folder."""
    path = Path(path).resolve()
    config = None
    if path.is_file() and path.suffix == ".json":
        config = path
    elif (path / "simulation_config.json").is_file():
        config = path / "simulation_config.json"
    if config is None:
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: neither a simulation folder nor an output folder")
        return path, None
    from multiscale_run.config.loader import load_raw

    data = load_raw(config)  # substitutions and paths only: a results folder needs no valid config
    output = data.get("output", {})
    out_dir = Path(output.get("output_dir", config.parent / "output"))
    return out_dir, config


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("cannot read %s: %s", path, exc)
        return None


def summarise_report(path: Path, population: str, group: h5py.Group) -> ReportSummary:
    """Mean, 5–95 % band and range over elements of each valid frame, read a block of frames at a time."""
    data = group["data"]
    start, _stop, dt = (float(x) for x in group["mapping/time"][...])
    n_frames = data.shape[0]
    valid = int(data.attrs.get(VALID_FRAMES_ATTR, n_frames))
    valid = min(valid, n_frames)
    stats = np.full((7, valid), np.nan)
    frames_per_read = max(1, _VALUES_PER_READ // max(1, data.shape[1]))
    first = data[0].astype(np.float64) if valid else None
    floor = 1e-9 * np.abs(first).max(initial=0.0) if valid else 0.0
    for f0 in range(0, valid, frames_per_read):
        block = data[f0 : min(valid, f0 + frames_per_read)].astype(np.float64)
        if block.shape[1] == 0:
            continue
        frames = slice(f0, f0 + len(block))
        stats[0, frames] = block.mean(axis=1)
        stats[1:3, frames] = np.percentile(block, [5, 95], axis=1)
        stats[3, frames] = block.min(axis=1)
        stats[4, frames] = block.max(axis=1)
        # elements at ~0 in the first frame (vessels without flow) have no relative change
        with np.errstate(divide="ignore", invalid="ignore"):
            rise = np.where(np.abs(first) > floor, (block - first) / np.abs(first), 0.0)
        stats[5, frames] = rise.mean(axis=1)
        stats[6, frames] = rise.max(axis=1)
    units = data.attrs.get("units", "")
    attrs = {k: _plain(v) for k, v in group.attrs.items()}
    return ReportSummary(
        file=path.name,
        population=population,
        units=units.decode() if isinstance(units, bytes) else str(units),
        attributes=attrs,
        times_ms=start + dt * np.arange(valid),
        mean=stats[0],
        p05=stats[1],
        p95=stats[2],
        minimum=stats[3],
        maximum=stats[4],
        n_elements=int(data.shape[1]),
        n_nodes=int(group["mapping/node_ids"].shape[0]),
        valid_frames=valid,
        n_frames=n_frames,
        mean_rise=stats[5],
        max_rise=stats[6],
    )


def _plain(value):
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_results(path: str | os.PathLike) -> RunResults:
    """Read the run's outputs from a simulation folder, its config file or its output folder."""
    out_dir, config_path = resolve_output_dir(path)
    if not out_dir.is_dir():
        raise FileNotFoundError(f"output folder {out_dir} does not exist (has the simulation run?)")
    res = RunResults(output_dir=out_dir, config_path=config_path)
    if config_path is not None:
        res.config = _read_json(config_path)
    res.run = _read_json(out_dir / "run.json")
    res.timings = _read_json(out_dir / "timings.json")
    for h5 in sorted(out_dir.glob("*.h5")):
        try:
            with h5py.File(h5, "r") as f:
                if "spikes" in f:
                    for pop, grp in f["spikes"].items():
                        res.spikes[pop] = (grp["node_ids"][...], grp["timestamps"][...])
                if "report" in f:
                    for pop, grp in f["report"].items():
                        res.reports.append(summarise_report(h5, pop, grp))
        except (OSError, KeyError) as exc:
            log.warning("skipping %s: %s", h5, exc)
    excluded = out_dir / "excluded_neurons.csv"
    if excluded.is_file():
        with excluded.open(newline="", encoding="utf-8") as fh:
            res.excluded = list(csv.DictReader(fh))
    return res


# -- figures -------------------------------------------------------------------------------------


def _flatten(d, prefix=""):
    out = {}
    for k, v in (d or {}).items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


#: the reports of the neuro-glia-vascular loop the page draws together: (simulator, variable)
LOOP_VARIABLES = (
    ("bloodflow", "radius"),
    ("bloodflow", "abs_flow"),
    ("bloodflow", "flow_ratio"),
    ("metabolism", "F_in"),
)


def loop_reports(reports: list[ReportSummary]) -> list[ReportSummary]:
    """The reports of vessel radius, flow and F_in that hold frames, in that order; none without a
    blood-flow report (F_in alone is the metabolism's input, shown with the other reports)."""
    key = {pair: i for i, pair in enumerate(LOOP_VARIABLES)}
    found = [
        r
        for r in reports
        if (r.attributes.get("simulator"), r.attributes.get("variable")) in key and r.valid_frames
    ]
    if not any(r.attributes["simulator"] == "bloodflow" for r in found):
        return []
    return sorted(found, key=lambda r: key[(r.attributes["simulator"], r.attributes["variable"])])


# -- page ----------------------------------------------------------------------------------------

_CSS = """
body{font-family:sans-serif;margin:2em auto;max-width:1000px;color:#222}
h1{font-size:1.6em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ccc;padding:.2em .6em;
text-align:left;font-size:.9em} th{background:#f3f3f3} img{max-width:100%}
pre{background:#f7f7f7;padding:.6em;overflow:auto;font-size:.8em}
.warn{color:#a40}
"""


def _table(rows: list[tuple[str, object]] | list[dict], header: list[str] | None = None) -> str:
    if not rows:
        return "<p>none</p>"
    if isinstance(rows[0], dict):
        header = header or list(rows[0])
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(r.get(h, '')))}</td>" for h in header) + "</tr>"
            for r in rows
        )
    else:
        body = "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>" for k, v in rows
        )
    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>" if header else ""
    return f"<table>{head}{body}</table>"


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return str(v)


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def render_html(res: RunResults) -> str:
    """The page as one HTML string (no external resources, no scripts)."""
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>multiscale-run results</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>multiscale-run: post-processing report</h1>",
        _table([("output folder", str(res.output_dir)), ("config", str(res.config_path or "—"))]),
        "<h2>Run</h2>",
    ]
    if res.run:
        parts.append(_table(list(_flatten(res.run).items())))
    else:
        parts.append("<p class='warn'>no run.json: the run did not start or wrote no summary</p>")
    parts.append("<h2>Timings</h2>")
    if res.timings:
        png = timings_png(res.timings)
        if png:
            parts.append(_img(png, "timings"))
        parts.append(f"<p>total wall time {float(res.timings.get('total_seconds', 0)):.2f} s</p>")
        parts.append(_table(timing_rows(res.timings)))
    else:
        parts.append("<p>no timings.json</p>")

    parts.append("<h2>Spikes</h2>")
    if not res.spikes:
        parts.append("<p>no spike file</p>")
    for pop, (ids, times) in res.spikes.items():
        parts.append(_img(raster_png(pop, ids, times), f"spike raster {pop}"))
        if times.size:
            n_nodes = np.unique(ids).size
            parts.append(
                _table(
                    [
                        ("spikes", int(times.size)),
                        ("spiking nodes", int(n_nodes)),
                        ("first / last spike (ms)", f"{times.min():.6g} / {times.max():.6g}"),
                    ]
                )
            )

    parts.append("<h2>Reports</h2>")
    if not res.reports:
        parts.append("<p>no reports</p>")
    for rep in res.reports:
        title = rep.attributes.get("variable") or rep.file
        parts.append(f"<h3>{html.escape(str(title))} <small>({html.escape(rep.file)})</small></h3>")
        if rep.valid_frames < rep.n_frames:
            parts.append(
                f"<p class='warn'>only {rep.valid_frames} of {rep.n_frames} frames were written "
                "(the run stopped early)</p>"
            )
        if rep.valid_frames:
            parts.append(_img(report_png(rep), f"report {rep.file}"))
            last = rep.valid_frames - 1
            parts.append(
                _table(
                    [
                        ("units", rep.units),
                        ("frames", f"{rep.valid_frames} valid of {rep.n_frames}"),
                        ("time span (ms)", f"{rep.times_ms[0]:.6g} – {rep.times_ms[last]:.6g}"),
                        ("mean at first / last frame", f"{rep.mean[0]:.6g} / {rep.mean[last]:.6g}"),
                        ("overall min / max", f"{np.nanmin(rep.minimum):.6g} / {np.nanmax(rep.maximum):.6g}"),
                        *((k, v) for k, v in rep.attributes.items()),
                    ]
                )
            )
        else:
            parts.append("<p class='warn'>no frame was written</p>")

    parts.append("<h2>Neurovascular coupling</h2>")
    loop = loop_reports(res.reports)
    if loop:
        parts.append(
            "<p>Vessel radius, blood flow and the metabolism's inflow F_in against time, as the change "
            "from the first frame (mean over elements, and the element that changed most).</p>"
        )
        parts.append(_img(coupling_png(loop), "radius, flow and F_in against time"))
        parts.append(
            _table(
                [
                    {
                        "report": rep.file,
                        "variable": rep.attributes.get("variable", ""),
                        "largest rise": f"{100 * np.nanmax(rep.max_rise):.3g} %",
                        "at (ms)": f"{rep.times_ms[int(np.nanargmax(rep.max_rise))]:.6g}",
                        "mean rise at the end": f"{100 * rep.mean_rise[-1]:.3g} %",
                    }
                    for rep in loop
                ]
            )
        )
    else:
        parts.append("<p>no report of vessel radius, flow or F_in</p>")

    parts.append("<h2>Excluded neurons</h2>")
    if res.excluded:
        parts.append(f"<p>{len(res.excluded)} exclusion(s)</p>")
        parts.append(_table(res.excluded[:500]))
    else:
        parts.append("<p>none</p>")

    if res.config is not None:
        parts.append("<h2>Configuration</h2>")
        parts.append(f"<pre>{html.escape(json.dumps(res.config, indent=2))}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html_report(
    sim_dir_or_output_dir: str | os.PathLike, output: str | os.PathLike | None = None
) -> Path:
    """Write ``postproc.html`` into the run's output folder (or ``output``) and return its path."""
    res = read_results(sim_dir_or_output_dir)
    target = Path(output) if output is not None else res.output_dir / REPORT_FILE
    target.write_text(render_html(res), encoding="utf-8")
    log.info("post-processing report written to %s", target)
    return target
