"""SONATA's newer current clamps against the specification and theory (the random ones drawn
from NEURON's Random123 streams, as msr draws them): the parameters libsonata requires and the
modules it lets run in conductance mode, sinusoidal and subthreshold computed by hand, the
Ornstein-Uhlenbeck process against its stationary statistics, shot noise against Campbell's
theorem (kernel integrals by numerical quadrature, not the module's closed forms), relative
conductances against the input resistance."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import libsonata
import numpy as np
import pytest
from scipy import integrate, optimize

from multiscale_run.errors import UserError
from multiscale_run.simulators.neuron import random_streams
from multiscale_run.simulators.neuron.clamps import (
    CLAMPS,
    CONDUCTANCE_MODULES,
    OPTIONAL,
    clamp_waveform,
    parameter_problems,
)
from multiscale_run.simulators.neuron.inputs import kind_problem

CELL = {"holding_current": -0.05, "threshold_current": 0.2}


def _settings(tstop: float) -> SimpleNamespace:
    return SimpleNamespace(tstop_ms=tstop)


def _stream(ids=(2997, 19216, 131)):
    """A NEURON Random123 stream (as msr seeds an input's)."""
    from neuron import h

    return random_streams.random123(h, ids)


def _samples(spec: dict, tstop: float, cell=CELL) -> tuple[np.ndarray, np.ndarray]:
    """The waveform's points inside the window (the leading 0 and trailing jump dropped)."""
    times, amps = clamp_waveform(spec, cell, _settings(tstop), _stream())
    return np.asarray(times[2:-1]), np.asarray(amps[2:-1])


def _minimal(name: str) -> dict:
    module = CLAMPS[name]
    spec = {"module": name, "input_type": "current_clamp", "delay": 0.0, "duration": 10.0, "node_set": "x"}
    for key, (default, _) in module.params.items():
        if default is None:
            spec[key] = 2.0 if key == "decay_time" else 1.0
    for pair in module.one_of:
        spec[pair[0]] = 1.0
    return spec


def _libsonata_refuses(spec: dict, tmp_path) -> bool:
    (tmp_path / "circuit.json").write_text('{"networks": {"nodes": [], "edges": []}}')
    config = {
        "network": "circuit.json",
        "run": {"tstop": 10, "dt": 0.025, "random_seed": 1},
        "inputs": {"a": spec},
    }
    try:
        libsonata.SimulationConfig(json.dumps(config), str(tmp_path)).input("a")
    except libsonata.SonataError:
        return True
    return False


@pytest.mark.parametrize("name", sorted(CLAMPS))
def test_required_parameters_are_the_ones_libsonata_requires(name, tmp_path):
    spec = _minimal(name)
    assert parameter_problems(spec) == [] and not _libsonata_refuses(spec, tmp_path)
    required = [k for k, (default, _) in CLAMPS[name].params.items() if default is None]
    for key in required + [pair[0] for pair in CLAMPS[name].one_of]:
        without = {k: v for k, v in spec.items() if k != key}
        assert _libsonata_refuses(without, tmp_path), key
        assert [k for k, _ in parameter_problems(without)] == [key]
    optional = [k for k, (d, _) in CLAMPS[name].params.items() if d not in (None, OPTIONAL)]
    config = {
        "network": "circuit.json",
        "run": {"tstop": 10, "dt": 0.025, "random_seed": 1},
        "inputs": {"a": spec},
    }
    parsed = libsonata.SimulationConfig(json.dumps(config), str(tmp_path)).input("a")
    for key in (k for k in optional if hasattr(parsed, k)):  # the defaults libsonata fills in
        assert getattr(parsed, key) == pytest.approx(CLAMPS[name].params[key][0]), key


def test_sinusoidal_by_hand():
    spec = {"module": "sinusoidal", "amp_start": 0.3, "frequency": 40.0, "delay": 10.0, "duration": 50.0}
    times, amps = _samples(spec, 100.0)
    np.testing.assert_allclose(np.diff(times), 0.025, atol=1e-9)
    assert times[0] == 10.0 and times[-1] == pytest.approx(60.0)
    np.testing.assert_allclose(amps, 0.3 * np.sin(2 * np.pi * 40.0 * (times - 10.0) / 1000.0), atol=1e-12)


def test_subthreshold_is_percent_less_than_threshold():
    spec = {"module": "subthreshold", "percent_less": 20.0, "delay": 5.0, "duration": 20.0}
    times, amps = clamp_waveform(spec, CELL, _settings(100.0))
    assert times == [0.0, 5.0, 5.0, 25.0, 25.0] and amps == pytest.approx([0.0, 0.0, 0.16, 0.16, 0.0])
    with pytest.raises(UserError, match="threshold_current"):
        clamp_waveform(spec, {"threshold_current": float("nan")}, _settings(100.0))


def test_ornstein_uhlenbeck_stationary_statistics():
    tau, sigma, mean, dt = 5.0, 0.04, 0.1, 0.25
    spec = {"module": "ornstein_uhlenbeck", "tau": tau, "sigma": sigma, "mean": mean, "duration": 40000.0}
    times, amps = _samples(spec, 40000.0)
    assert amps[0] == mean  # from the mean at the start (x = 0)
    np.testing.assert_allclose(np.diff(times), dt, atol=1e-9)
    x = amps[int(20 * tau / dt) :]
    assert x.mean() == pytest.approx(mean, abs=0.05 * sigma)
    assert x.std() == pytest.approx(sigma, rel=0.03)
    lag = int(tau / dt)
    corr = np.corrcoef(x[:-lag], x[lag:])[0, 1]
    assert corr == pytest.approx(math.exp(-1.0), abs=0.03)


def _kernel(rise: float, decay: float):
    """The peak-normalised bi-exponential and its integrals of powers 1-3, numerically."""
    raw = lambda t: math.exp(-t / decay) - math.exp(-t / rise)  # noqa: E731
    top = -optimize.minimize_scalar(lambda t: -raw(t), bounds=(0, 10 * decay), method="bounded").fun
    return [integrate.quad(lambda t, k=k: (raw(t) / top) ** k, 0, 50 * decay)[0] for k in (1, 2, 3)]


def _moments(x: np.ndarray) -> tuple[float, float, float]:
    centred = x - x.mean()
    return x.mean(), x.std(), float(np.mean(centred**3) / x.std() ** 3)


def test_shot_noise_obeys_campbell():
    rise, decay, rate, amp_mean, amp_var = 0.5, 4.0, 400.0, 0.02, 1e-4
    spec = {"module": "shot_noise", "rise_time": rise, "decay_time": decay, "rate": rate,
            "amp_mean": amp_mean, "amp_var": amp_var, "duration": 60000.0}  # fmt: skip
    _, amps = _samples(spec, 60000.0)
    i1, i2, _ = _kernel(rise, decay)
    lam = rate / 1000.0
    mean, sd, _ = _moments(amps[400:])
    assert mean == pytest.approx(lam * amp_mean * i1, rel=0.02)
    assert sd == pytest.approx(math.sqrt(lam * (amp_var + amp_mean**2) * i2), rel=0.03)


@pytest.mark.parametrize("skew", [0.2, 0.5, 0.8])
def test_relative_shot_noise_has_the_asked_mean_sd_and_skewness(skew):
    rise, decay = 0.4, 4.0
    spec = {"module": "relative_shot_noise", "rise_time": rise, "decay_time": decay, "mean_percent": 60.0,
            "sd_percent": 20.0, "relative_skew": skew, "duration": 60000.0}  # fmt: skip
    _, amps = _samples(spec, 60000.0)
    mean, sd, skewness = _moments(amps[400:])
    assert mean == pytest.approx(0.6 * 0.2, rel=0.02) and sd == pytest.approx(0.2 * 0.2, rel=0.03)
    i1, i2, i3 = _kernel(rise, decay)
    least = (0.2 * 0.2) * i1 * i3 / (0.6 * 0.2 * i2**2)  # equal amplitudes; gamma ones reach 2x
    assert skewness == pytest.approx(least * (1 + skew), rel=0.1)


def test_negative_mean_mirrors_the_noise():
    spec = {"module": "absolute_shot_noise", "rise_time": 0.4, "decay_time": 4.0, "mean": -0.1,
            "sigma": 0.03, "duration": 20000.0}  # fmt: skip
    _, amps = _samples(spec, 20000.0)
    assert amps.max() <= 0 and amps[400:].mean() == pytest.approx(-0.1, rel=0.03)


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        ({"decay_time": 0.3}, "decay_time", "must exceed rise_time"),
        ({"relative_skew": 1.0}, "relative_skew", "[0, 1)"),
        ({"sd_percent": -5}, "sd_percent", "> 0"),
        ({"dt": "fast"}, "dt", "got 'fast'"),
        ({"mean_percent": 0}, "mean_percent", "non-zero"),
        ({"reversal": 0.0}, "reversal", "belongs to input_type conductance"),
        ({"delay": -1}, "delay", ">= 0"),
    ],
)
def test_bad_parameters_are_named(change, key, words):
    spec = {"module": "relative_shot_noise", "rise_time": 0.4, "decay_time": 4.0, "mean_percent": 60.0,
            "sd_percent": 20.0, **change}  # fmt: skip
    found = dict(parameter_problems(spec))
    assert key in found and words in found[key]
    with pytest.raises(UserError) as info:
        clamp_waveform(spec, CELL, _settings(100.0), _stream(), "inputs.x")
    assert info.value.path == f"inputs.x.{key}"


@pytest.mark.parametrize("name", sorted(CLAMPS))
def test_conductance_mode_is_where_libsonata_has_it(name, tmp_path):
    spec = {**_minimal(name), "input_type": "conductance"}
    assert (kind_problem(spec) is None) == (name in CONDUCTANCE_MODULES)
    assert _libsonata_refuses(spec, tmp_path) == (name not in CONDUCTANCE_MODULES)
    if name in CONDUCTANCE_MODULES:
        assert parameter_problems(spec) == [] and parameter_problems({**spec, "reversal": -80.0}) == []


@pytest.mark.parametrize(
    ("module", "extra"),
    [
        ("relative_ornstein_uhlenbeck", {"tau": 5.0}),
        ("relative_shot_noise", {"rise_time": 0.4, "decay_time": 4.0}),
    ],
)
def test_relative_conductance_is_a_percentage_of_the_input_conductance(module, extra):
    """neurodamus: in conductance mode, mean_percent and sd_percent are of 1/input_resistance."""
    spec = {"module": module, "input_type": "conductance", "mean_percent": 40.0, "sd_percent": 10.0,
            "duration": 40000.0, **extra}  # fmt: skip
    _, g = _samples(spec, 40000.0, cell={**CELL, "input_resistance": 50.0})
    g = g[400:]
    assert g.mean() == pytest.approx(0.4 / 50.0, rel=0.03) and g.std() == pytest.approx(0.1 / 50.0, rel=0.04)
    _, current = _samples(
        {**spec, "input_type": "current_clamp"}, 40000.0, cell={**CELL, "input_resistance": 50.0}
    )
    assert current[400:].mean() == pytest.approx(0.4 * CELL["threshold_current"], rel=0.03)
    for bad in (0.0, -3.0, float("nan")):
        with pytest.raises(UserError, match="input_resistance"):
            clamp_waveform(spec, {**CELL, "input_resistance": bad}, _settings(100.0), _stream())


@pytest.mark.parametrize(
    ("module", "key", "value", "words"),
    [
        ("shot_noise", "amp_mean", -0.01, "> 0"),
        ("absolute_shot_noise", "mean", -0.01, "> 0"),
        ("relative_shot_noise", "mean_percent", -10.0, "> 0"),
        ("ornstein_uhlenbeck", "mean", -0.01, ">= 0"),
        ("relative_ornstein_uhlenbeck", "mean_percent", -10.0, ">= 0"),
    ],
)
def test_a_conductance_is_never_negative(module, key, value, words):
    spec = {**_minimal(module), key: value}
    assert parameter_problems(spec) == []  # a negative current is fine
    found = dict(parameter_problems({**spec, "input_type": "conductance"}))
    assert list(found) == [key] and words in found[key]


def test_a_shot_noise_whose_first_intervals_end_early_draws_more():
    """neurodamus draws ⌊k + 3√k⌋ intervals and stops with an error when they end before the
    duration (about once in 740 streams); msr draws more from the same stream. A stream found by
    search whose first draws end early still gives a full, finite signal."""
    from neuron import h

    from multiscale_run.simulators.neuron import noise_processes

    rate, duration, dt = 200.0, 100.0, 0.25  # k = 21 events expected: ⌊21 + 3√21⌋ = 34 drawn
    short = None
    for gid in range(20000):
        rng = _stream((2997, 19216, gid))
        rng.negexp(1 / rate)
        if noise_processes._arrivals(h, rng, 34)[-1] < duration:
            short = gid
            break
    assert short is not None
    n = int(duration / dt) + 1
    out = noise_processes.signal(1.0, 5.0, rate, 1.0, 0.0, dt, duration, n, _stream((2997, 19216, short)), n)
    assert out.shape == (n,) and np.all(np.isfinite(out)) and out.max() > 0
