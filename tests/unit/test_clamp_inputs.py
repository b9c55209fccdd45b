"""SONATA current clamps against currents computed by hand from the specification's definitions,
and NEURON's injected current (the IClamp's ``i``, recorded) against the same numbers."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from multiscale_run.errors import UserError
from multiscale_run.simulators.neuron.clamps import clamp_waveform

SETTINGS = SimpleNamespace(tstop_ms=100.0, random_seed=7)
CELL = {"holding_current": -0.05, "threshold_current": 0.2}


def _at(spec: dict, t: np.ndarray, currents=CELL) -> np.ndarray:
    """The clamp's current at times ``t`` (the waveform's right-continuous value)."""
    times, amps = clamp_waveform(spec, currents, SETTINGS, (3, 0))
    times, amps = np.asarray(times), np.asarray(amps)
    out = []
    for x in t:
        last = np.flatnonzero(times <= x)[-1]  # after a jump the later value holds
        nxt = min(last + 1, len(times) - 1)
        if times[nxt] > times[last]:
            out.append(amps[last] + (amps[nxt] - amps[last]) * (x - times[last]) / (times[nxt] - times[last]))
        else:
            out.append(amps[last])
    return np.asarray(out)


T = np.array([5.0, 10.0, 15.0, 30.0, 49.0, 60.0])


def test_linear_ramps_from_start_to_end():
    spec = {"module": "linear", "amp_start": 0.1, "amp_end": 0.3, "delay": 10.0, "duration": 40.0}
    np.testing.assert_allclose(_at(spec, T), [0.0, 0.1, 0.125, 0.2, 0.295, 0.0])


def test_relative_linear_is_percent_of_threshold():
    spec = {"module": "relative_linear", "percent_start": 50.0, "delay": 10.0, "duration": 40.0}
    np.testing.assert_allclose(_at(spec, T), [0.0, 0.1, 0.1, 0.1, 0.1, 0.0])
    with pytest.raises(UserError, match="threshold_current"):
        _at(spec, T, {})


def test_pulse_train():
    spec = {
        "module": "pulse",
        "amp_start": 0.5,
        "width": 2.0,
        "frequency": 100.0,
        "delay": 10.0,
        "duration": 40.0,
    }
    t = np.array([9.0, 10.5, 12.5, 20.0, 21.0, 22.5, 51.0])
    np.testing.assert_allclose(_at(spec, t), [0, 0.5, 0, 0.5, 0.5, 0, 0])


def test_hyperpolarizing_is_the_holding_current():
    spec = {"module": "hyperpolarizing", "delay": 0.0, "duration": 30000.0}
    np.testing.assert_allclose(_at(spec, np.array([0.0, 50.0, 99.0])), [-0.05] * 3)


def test_noise_values_every_dt_of_the_asked_mean_and_variance():
    """With mean_percent the variance is in % of the threshold current too (neurodamus)."""
    spec = {"module": "noise", "mean_percent": 100.0, "variance": 5.0, "delay": 0.0, "duration": 30000.0}
    settings = SimpleNamespace(tstop_ms=5000.0, random_seed=7)
    asked = []

    def draw(t0, end, step, mean, variance, n):
        asked.append((t0, end, step, mean, variance, n))
        return np.random.default_rng(1).normal(mean, np.sqrt(variance), n)

    times, amps = clamp_waveform(spec, CELL, settings, draw)
    assert asked == [(0.0, 30000.0, 0.5, pytest.approx(0.2), pytest.approx(0.01), 10002)]
    assert times[:3] == [0.0, 0.0, 0.0] and amps[:2] == [0.0, 0.0]  # 0 until the delay, then a jump
    np.testing.assert_allclose(np.diff(times[2:]), 0.5)  # a value every 0.5 ms from t = 0
    assert np.mean(amps) == pytest.approx(0.2, abs=0.005) and np.var(amps) == pytest.approx(0.01, rel=0.05)
    # a delayed noise is 0 until the delay, then jumps to its first value (neurodamus's Noise)
    spec.update(delay=100.0, duration=1000.0)
    times, amps = clamp_waveform(spec, CELL, settings, draw)
    assert times[:2] == [0.0, 100.0] and amps[:2] == [0.0, 0.0] and times[-1] == 1100.0 and amps[-1] == 0.0
