"""The run's own files in the output folder: excluded_neurons.csv, timings.json and run.json."""

from __future__ import annotations

import csv
import json
import logging
import platform
from datetime import datetime, timezone
from pathlib import Path

from multiscale_run import __version__
from multiscale_run.timings import Timings

log = logging.getLogger(__name__)


def write_exclusions(path: Path, exclusions: list) -> None:
    """``node_id, time_ms, simulator, variable, value, reason`` of every excluded neuron, by time."""
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["node_id", "time_ms", "simulator", "variable", "value", "reason"])
        for e in sorted(exclusions, key=lambda e: (e.time_ms, e.node_id)):
            writer.writerow([e.node_id, e.time_ms, e.simulator, e.variable, e.value, e.reason])


def write_timings(path: Path, summary: dict) -> None:
    Timings.write(summary, path)
    log.info("timings (max over ranks):\n%s", Timings.table(summary))


def write_run_json(path: Path, **fields) -> None:
    """What ran and how it ended, plus the finishing time and versions."""
    record = {
        **fields,
        "finished_at": datetime.now(timezone.utc).isoformat(),
        "versions": {"multiscale_run": __version__, "python": platform.python_version()},
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
