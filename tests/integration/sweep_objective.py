"""A user metric for the search test (``"function": "sweep_objective:atp0_error"``): the squared
distance of the neurons' mean ATP at t = 0 to :data:`TARGET_MM`. The first ATP_n frame is the
initial state, so with ``multiscale_run.metabolism.initial_state.ATP_n`` = x the metric is
exactly (x - TARGET_MM)², whose minimum is at x = TARGET_MM."""

from __future__ import annotations

from pathlib import Path

import libsonata
import numpy as np

TARGET_MM = 1.55  # mM, inside the J15 range (ATP_n < A_tot = 2.212 mM)


def atp0(simulation: Path) -> float:
    reader = libsonata.ElementReportReader(str(simulation / "output" / "ATP_n.h5"))
    (population,) = reader.get_population_names()
    frame = reader[population].get(tstart=0.0, tstop=0.0)
    assert np.asarray(frame.times).tolist() == [0.0]
    return float(np.asarray(frame.data, dtype=np.float64).mean())


def atp0_error(simulation: Path) -> float:
    return (atp0(simulation) - TARGET_MM) ** 2
