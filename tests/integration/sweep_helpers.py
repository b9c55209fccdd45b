"""Helpers of the sweep tests: run ``msr sweep`` as users do, read what it wrote, and re-read the
reports with libsonata (a reader this project did not write)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import libsonata
import numpy as np

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def env(extra: dict | None = None) -> dict[str, str]:
    """This checkout first on the path, and this folder (the tests' metric functions)."""
    path = os.pathsep.join([str(REPO), str(HERE), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, **(extra or {})}


def msr(*args: str, extra_env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "multiscale_run.cli", *args],
        env=env(extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def write_sweep(path: Path, spec: dict) -> Path:
    path.write_text(json.dumps(spec, indent=2))
    return path


def states(sweep_dir: Path) -> dict[str, dict]:
    return {
        p.parent.name: json.loads(p.read_text()) for p in sorted((sweep_dir / "points").glob("*/point.json"))
    }


def run_and_kill(args: list[str], sweep_dir: Path, completed: int, sig=signal.SIGTERM, timeout=600):
    """Start ``msr ARGS`` and send ``sig`` to it (and its whole process group) once ``completed``
    points have completed; returns (the states at that moment, the process's stderr)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "multiscale_run.cli", *args],
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    try:
        while sum(s.get("status") == "completed" for s in states(sweep_dir).values()) < completed:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the sweep ended before it could be killed:\n{proc.communicate()[1]}")
            time.sleep(0.2)
        os.killpg(proc.pid, sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return states(sweep_dir), err


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def report_values(sim: Path, report: str, t0: float, t1: float) -> np.ndarray:
    """Every value of ``report`` with t0 <= t < t1, read by libsonata (its tstop is inclusive:
    the windows the tests use fall between frames)."""
    reader = libsonata.ElementReportReader(str(sim / "output" / f"{report}.h5"))
    (population,) = reader.get_population_names()
    frames = reader[population].get(tstart=t0, tstop=t1)
    times = np.asarray(frames.times)
    assert len(times) and times[0] >= t0 and times[-1] < t1
    return np.asarray(frames.data, dtype=np.float64)  # stored as float32


def spike_count(sim: Path, t0: float, t1: float) -> int:
    reader = libsonata.SpikeReader(str(sim / "output" / "spikes.h5"))
    (population,) = reader.get_population_names()
    times = np.array([t for _node, t in reader[population].get()])
    return int(np.count_nonzero((times >= t0) & (times < t1)))


class Tables(HTMLParser):
    """The tables of an HTML page, by the id of the div holding them: rows of cell texts."""

    def __init__(self, text: str):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: list[str] = []
        self._div = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "div" and "id" in attrs:
            self._div = attrs["id"]
            self.tables[self._div] = []
        elif tag == "tr" and self._div:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "img":
            self.images.append(attrs.get("alt", ""))

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._div].append(self._row)
            self._row = None
        elif tag == "div":
            self._div = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
