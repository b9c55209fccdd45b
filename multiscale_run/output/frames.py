"""When report frames fall: the SONATA right-open time window, and how many frames a file holds."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

import h5py

#: attribute on ``/report/<population>/data`` counting the frames written so far
VALID_FRAMES_ATTR = "valid_frames"
#: libsonata's time tolerance (ms) when it counts frames from ``mapping/time``
_SONATA_EPSILON_MS = 1e-6


@dataclass(frozen=True)
class FrameClock:
    """The report's time axis: frame ``i`` holds the state at ``start_ms + i * dt_ms``.

    Right-open like SONATA's ``mapping/time``: the frames are the times ``t`` with
    ``start_ms <= t < end_ms``.
    """

    start_ms: float
    dt_ms: float
    n_frames: int

    @classmethod
    def from_window(cls, start_ms: float, end_ms: float, dt_ms: float) -> FrameClock:
        if not (dt_ms > 10 * _SONATA_EPSILON_MS and math.isfinite(dt_ms)):
            raise ValueError(f"report dt_ms must be a finite number > 1e-5 ms, got {dt_ms}")
        if not (math.isfinite(start_ms) and math.isfinite(end_ms)) or start_ms < 0:
            raise ValueError(f"report window must be finite and start at t >= 0, got [{start_ms}, {end_ms})")
        if end_ms < start_ms:
            raise ValueError(f"report end_ms ({end_ms}) is before start_ms ({start_ms})")
        # frames t_i = start + i*dt with t_i < end; the tolerance absorbs float noise in end - start
        n = math.ceil((end_ms - start_ms) / dt_ms - 1e-9)
        return cls(float(start_ms), float(dt_ms), max(n, 0))

    @property
    def stop_ms(self) -> float:
        """The right-open end written to ``mapping/time`` (``start + n * dt``)."""
        return self.start_ms + self.n_frames * self.dt_ms

    def time_ms(self, frame: int) -> float:
        return self.start_ms + frame * self.dt_ms

    def last_frame_at(self, t_ms: float) -> int:
        """Index of the last frame whose time is ``<= t_ms`` (-1 before the first frame)."""
        k = math.floor((t_ms - self.start_ms) / self.dt_ms + 1e-6)
        return max(-1, min(k, self.n_frames - 1))


def report_window(entry: Mapping, simulator_dt_ms: float, tstop_ms: float) -> tuple[float, float, float]:
    """``(start_ms, end_ms, dt_ms)`` of a configured report (``multiscale_run.<sim>.reports[i]``).

    ``dt_ms`` absent or 0 means the simulator's dt; ``end_ms`` absent or negative means tstop;
    the window is clipped to the run, so that a finished run fills every frame.
    """
    dt_ms = float(entry.get("dt_ms") or simulator_dt_ms)
    start_ms = float(entry.get("start_ms") or 0.0)
    end_raw = entry.get("end_ms")
    end_ms = float(tstop_ms) if end_raw is None or end_raw < 0 else min(float(end_raw), float(tstop_ms))
    return start_ms, max(end_ms, start_ms), dt_ms


def read_valid_frames(path: str | os.PathLike, population: str | None = None) -> int:
    """The ``valid_frames`` attribute of a report: how far a (possibly crashed) run's data go."""
    with h5py.File(path, "r") as f:
        pops = list(f["report"])
        pop = population if population is not None else pops[0]
        return int(f["report"][pop]["data"].attrs[VALID_FRAMES_ATTR])
