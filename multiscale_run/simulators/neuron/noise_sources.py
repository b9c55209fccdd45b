"""SONATA's ``noise`` current clamp as neurodamus and as bluecellulab make it, and neurodamus's
sampled sources shared with the shot-noise and Ornstein-Uhlenbeck modules (:mod:`.clamps`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from multiscale_run.simulators.neuron import noise_processes

if TYPE_CHECKING:
    from multiscale_run.simulators.neuron.clamps import Window


@dataclass(frozen=True)
class NoiseDraws:
    """The ``noise`` input's draws on one cell, ``draw(t0, end, dt, mean, variance, n)`` → the
    first n values (:meth:`InputStimuli._noise_draws`), and whose waveform they make:
    ``neurodamus``'s or ``bluecellulab``'s (``neuron.noise_convention``)."""

    draw: Callable
    convention: str = "neurodamus"

    def __call__(self, *args):
        return self.draw(*args)


def noise(p: dict, w: Window, cell: dict, draw) -> tuple[list, list]:
    """neurodamus's Noise: a normal value every dt from the delay to delay + duration, linear
    between them, 0 outside; bluecellulab's (``draw.convention``): every dt from the delay up to
    the first step past tstop, 0 at the first one after a delay and at the end."""
    if "mean" in p:
        mean, variance = p["mean"], p["variance"]
    else:  # relative to the threshold current, the variance too (neurodamus, bluecellulab)
        mean = p["mean_percent"] / 100.0 * cell["reference"]
        variance = p["variance"] / 100.0 * cell["reference"]
    if getattr(draw, "convention", "neurodamus") == "bluecellulab":
        times = np.arange(w.t0, min(w.end, w.tstop + p["dt"]) + p["dt"] / 2, p["dt"])
        return _bluecellulab_noise(times, w, draw(w.t0, w.end, p["dt"], mean, variance, len(times)))
    times, keep = neurodamus_grid(p, w)
    values = np.asarray(draw(w.t0, w.end, p["dt"], mean, variance, keep), dtype=float)
    return neurodamus_source(times, values, w)


def _bluecellulab_noise(times: np.ndarray, w: Window, drawn) -> tuple[list, list]:
    """bluecellulab's source points of the values ``drawn`` at ``times``."""
    values = np.array(drawn, dtype=float)
    if w.t0 > 0:
        values[0] = 0.0  # 0 nA until the first step after a delay
    if w.end < w.tstop and times[-1] >= w.end:
        values[-1] = 0.0
    out_t, out_v = times.tolist(), values.tolist()
    if w.t0 > 0:
        out_t, out_v = [0.0, *out_t], [0.0, *out_v]
    if w.end < w.tstop:
        out_t, out_v = [*out_t, w.end], [*out_v, 0.0]
    return out_t, out_v


def neurodamus_grid(p: dict, w: Window) -> tuple[np.ndarray, int]:
    """(sample times, how many a run reaches) of a neurodamus noise source: every dt from the
    delay to delay + duration, the draws made for all of them."""
    times = noise_processes.grid(w.t0, w.end, p["dt"])
    return times, min(len(times), int(np.searchsorted(times, w.tstop, side="right")) + 1)


def neurodamus_source(times: np.ndarray, values: np.ndarray, w: Window) -> tuple[list, list]:
    """neurodamus's source points: 0 until the delay, the samples (linear between them), 0 from
    delay + duration."""
    kept = times[: len(values)].tolist()
    out_t, out_v = [0.0, w.t0, *kept], [0.0, 0.0, *values.tolist()]
    if len(values) == len(times):
        out_t, out_v = [*out_t, w.end], [*out_v, 0.0]
    return out_t, out_v
