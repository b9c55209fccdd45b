"""The run's own files in the output folder: excluded_neurons.csv, timings.json, run.json and
config_as_run.json."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

from multiscale_run.timings import Timings

log = logging.getLogger(__name__)


def write_exclusions(path: Path, exclusions: list, cells) -> None:
    """``population, node_id, time_ms, simulator, variable, value, reason`` of every excluded
    neuron, by time (``cells``: the run's :class:`~multiscale_run.nodes.NeuronSelection`, whose
    gids the exclusions name)."""
    rows = sorted(exclusions, key=lambda e: (e.time_ms, e.node_id))
    populations, node_ids = cells.locate([e.node_id for e in rows])
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["population", "node_id", "time_ms", "simulator", "variable", "value", "reason"])
        for e, population, node_id in zip(rows, populations, node_ids.tolist(), strict=True):
            writer.writerow([population, node_id, e.time_ms, e.simulator, e.variable, e.value, e.reason])


def write_timings(path: Path, summary: dict) -> None:
    Timings.write(summary, path)
    log.info("timings (min/mean/max over ranks):\n%s", Timings.table(summary))


def write_json(path: Path, data: dict) -> None:
    """``run.json`` (what ran, how it ended: :class:`multiscale_run.provenance.RunRecord`) and
    ``config_as_run.json`` (the config with defaults filled in)."""
    path.write_text(json.dumps(data, indent=2) + "\n")
