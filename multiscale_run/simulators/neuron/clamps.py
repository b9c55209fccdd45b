"""The SONATA current clamps (``input_type`` ``current_clamp``): one registry entry per module,
its parameters (SONATA simulation config, "inputs"; names, defaults and required ones as
libsonata reads them) and its waveform (NEURON only for the random ones' draws and sample times).

A waveform is (times ms, amplitudes nA) on one cell, played into an IClamp at the soma centre with
linear interpolation (a repeated time is a jump); the current is 0 outside [delay, delay +
duration). Relative modules read the cell's ``threshold_current`` or ``holding_current`` (nA,
BBP's ``dynamics_params``). :mod:`~multiscale_run.simulators.neuron.noise_processes` has the
stochastic processes, made as neurodamus makes them.

``input_type`` ``conductance`` (SONATA): the same signal is a conductance (µS) through an
electrode of reversal potential ``reversal`` (mV, default 0), played into ``msr_gclamp``. libsonata
accepts that mode for the shot-noise and Ornstein-Uhlenbeck modules only (any other module with
it "mismatch"), and so does msr (:attr:`ClampModule.conductance`). Their relative forms then take
``mean_percent``/``sd_percent`` of the cell's input conductance 1/``input_resistance`` (MΩ, BBP's
``dynamics_params``) instead of its threshold current, as neurodamus's RelativeShotNoise and
RelativeOrnsteinUhlenbeck do; a conductance signal's mean must be positive (shot noise) or >= 0
(Ornstein-Uhlenbeck), since a negative conductance is none. Either mode draws from the same
stream (:mod:`~multiscale_run.simulators.neuron.random_streams`), as neurodamus's one class per
module does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from multiscale_run.errors import UserError
from multiscale_run.simulators.neuron import noise_processes
from multiscale_run.simulators.neuron.noise_sources import neurodamus_grid, neurodamus_source, noise

#: parameter rules: (test, what a value must be)
RULES = {
    "": (lambda v: True, "a number"),
    "positive": (lambda v: v > 0, "a number > 0"),
    "non-negative": (lambda v: v >= 0, "a number >= 0"),
    "non-zero": (lambda v: v != 0, "a non-zero number"),
    "skew": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "percent": (lambda v: v <= 100, "a percentage <= 100"),
}


#: a parameter that may be absent, without a default
OPTIONAL = "optional"


@dataclass(frozen=True)
class Window:
    """The clamp's time window: on from ``t0`` (delay) to ``t1`` (``end`` = delay + duration, at
    most ``tstop``)."""

    t0: float
    t1: float
    end: float
    tstop: float


@dataclass(frozen=True)
class ClampModule:
    """One SONATA current-clamp module: ``params`` {name: (default, None if required, or
    :data:`OPTIONAL`; rule)},
    ``waveform(p, window, cell, rng)`` → (times, amps) with ``p`` the parameters as floats,
    ``cell`` the node's attributes (nA, MΩ) and, for a module that ``needs`` some, ``reference``:
    the value of the first (what its percentages are of; in conductance mode the input
    conductance 1/input_resistance, µS), ``rng`` the input's random source on this cell."""

    params: dict
    waveform: Callable
    #: the node attributes a spec needs: ``needs(spec)`` → names
    needs: Callable[[dict], tuple] = lambda spec: ()
    #: exactly one of each of these parameter pairs is given
    one_of: tuple = ()
    #: draws from a random stream (:mod:`~multiscale_run.simulators.neuron.random_streams`)
    random: bool = False
    #: None: no conductance mode; else {parameter: (default, rule)} replacing ``params``' entries
    #: in conductance mode (a conductance is never negative)
    conductance: dict | None = None


def _step(a: float, w: Window) -> tuple[list, list]:
    return [0.0, w.t0, w.t0, w.t1, w.t1], [0.0, 0.0, a, a, 0.0]


def _ramp(a0: float, a1: float, w: Window) -> tuple[list, list]:
    return [0.0, w.t0, w.t0, w.t1, w.t1], [0.0, 0.0, a0, a1, 0.0]


def _sampled(values: np.ndarray, step: float, w: Window) -> tuple[list, list]:
    """``values`` at t0, t0 + step, ... (the last at t1 or the first grid time past it), 0 outside."""
    times = w.t0 + step * np.arange(len(values))
    times[-1] = min(times[-1], w.t1)
    return [0.0, w.t0, *times.tolist(), w.t1], [0.0, 0.0, *values.tolist(), 0.0]


def _grid(step: float, w: Window) -> int:
    """Number of samples at t0 + k·step covering [t0, t1]."""
    return math.ceil((w.t1 - w.t0) / step - 1e-9) + 1


def _pulse(p: dict, w: Window, cell: dict, rng) -> tuple[list, list]:
    amp, width, period = p["amp_start"], p["width"], 1000.0 / p["frequency"]
    times, amps = [0.0], [0.0]
    for start in np.arange(w.t0, w.t1, period):
        end = min(start + width, w.t1)
        times += [start, start, end, end]
        amps += [0.0, amp, amp, 0.0]
    return times, amps


def _sinusoidal(p: dict, w: Window, cell: dict, rng) -> tuple[list, list]:
    """amp_start·sin(2π·frequency·(t − delay)), sampled every dt."""
    t = p["dt"] * np.arange(_grid(p["dt"], w))
    t[-1] = min(t[-1], w.t1 - w.t0)
    return _sampled(p["amp_start"] * np.sin(2 * np.pi * p["frequency"] * t / 1000.0), p["dt"], w)


def _ou(p: dict, w: Window, cell: dict, rng) -> tuple[list, list]:
    mean, sigma = _mean_sd(p, cell, ("mean", "sigma"))
    times, keep = neurodamus_grid(p, w)
    x = noise_processes.ornstein_uhlenbeck(p["tau"], sigma, p["dt"], len(times), rng, keep)
    return neurodamus_source(times, x + mean, w)


def _shot(p: dict, w: Window, cell: dict, rng) -> tuple[list, list]:
    if "amp_mean" in p:
        rate, amp_mean, amp_var = p["rate"], p["amp_mean"], p["amp_var"]
    else:
        mean, sd = _mean_sd(p, cell, ("mean", "sigma"))
        rate, amp_mean, amp_var = noise_processes.params_from_moments(
            mean, sd, p["relative_skew"], p["rise_time"], p["decay_time"]
        )
    times, keep = neurodamus_grid(p, w)
    values = noise_processes.signal(
        p["rise_time"], p["decay_time"], rate, amp_mean, amp_var, p["dt"], w.end - w.t0, len(times), rng, keep
    )
    return neurodamus_source(times, values, w)


def _mean_sd(p: dict, cell: dict, absolute: tuple[str, str]) -> tuple[float, float]:
    """(mean, standard deviation) nA or µS: given, or ``mean_percent``/``sd_percent`` of the
    cell's ``reference``."""
    if absolute[0] in p:
        return p[absolute[0]], p[absolute[1]]
    base = cell["reference"]
    return p["mean_percent"] / 100.0 * base, p["sd_percent"] / 100.0 * base


_THRESHOLD = ("threshold_current",)
_RANDOM = {"dt": (0.25, "positive"), "random_seed": (OPTIONAL, "non-negative")}
_SHOT = {"rise_time": (None, "positive"), "decay_time": (None, "positive"), **_RANDOM}
_SKEW = {"relative_skew": (0.5, "skew")}
#: the parameter conductance mode adds (mV)
REVERSAL = {"reversal": (0.0, "")}


def conductance_mode(spec: dict) -> bool:
    return spec.get("input_type") == "conductance"


def _relative(spec: dict) -> tuple:
    """What a relative shot-noise or Ornstein-Uhlenbeck module reads of the node."""
    return ("input_resistance",) if conductance_mode(spec) else _THRESHOLD


#: every supported current-clamp module
CLAMPS: dict[str, ClampModule] = {
    "linear": ClampModule(
        {"amp_start": (None, ""), "amp_end": (OPTIONAL, "")},
        lambda p, w, c, r: _ramp(p["amp_start"], p.get("amp_end", p["amp_start"]), w),
    ),
    "relative_linear": ClampModule(
        {"percent_start": (None, ""), "percent_end": (OPTIONAL, "")},
        lambda p, w, c, r: _ramp(
            p["percent_start"] / 100.0 * c["reference"],
            p.get("percent_end", p["percent_start"]) / 100.0 * c["reference"],
            w,
        ),
        needs=lambda spec: _THRESHOLD,
    ),
    "pulse": ClampModule(
        {"amp_start": (None, ""), "width": (None, "positive"), "frequency": (None, "positive")}, _pulse
    ),
    "sinusoidal": ClampModule(
        {"amp_start": (None, ""), "frequency": (None, "positive"), "dt": (0.025, "positive")}, _sinusoidal
    ),
    "hyperpolarizing": ClampModule(
        {}, lambda p, w, c, r: _step(c["reference"], w), needs=lambda spec: ("holding_current",)
    ),
    "subthreshold": ClampModule(
        {"percent_less": (None, "percent")},
        lambda p, w, c, r: _step((100.0 - p["percent_less"]) / 100.0 * c["reference"], w),
        needs=lambda spec: _THRESHOLD,
    ),
    "noise": ClampModule(
        {
            "mean": (OPTIONAL, ""),
            "mean_percent": (OPTIONAL, ""),
            "variance": (0.0, "non-negative"),
            "dt": (0.5, "positive"),
        },
        noise,
        needs=lambda spec: _THRESHOLD if "mean_percent" in spec else (),
        one_of=(("mean", "mean_percent"),),
    ),
    "shot_noise": ClampModule(
        {
            **_SHOT,
            "rate": (None, "positive"),
            "amp_mean": (None, "non-zero"),
            "amp_var": (None, "non-negative"),
        },
        _shot,
        random=True,
        conductance={"amp_mean": (None, "positive")},
    ),
    "absolute_shot_noise": ClampModule(
        {**_SHOT, **_SKEW, "mean": (None, "non-zero"), "sigma": (None, "positive")},
        _shot,
        random=True,
        conductance={"mean": (None, "positive")},
    ),
    "relative_shot_noise": ClampModule(
        {**_SHOT, **_SKEW, "mean_percent": (None, "non-zero"), "sd_percent": (None, "positive")},
        _shot,
        needs=_relative,
        random=True,
        conductance={"mean_percent": (None, "positive")},
    ),
    "ornstein_uhlenbeck": ClampModule(
        {"tau": (None, "positive"), "mean": (None, ""), "sigma": (None, "non-negative"), **_RANDOM},
        _ou,
        random=True,
        conductance={"mean": (None, "non-negative")},
    ),
    "relative_ornstein_uhlenbeck": ClampModule(
        {
            "tau": (None, "positive"),
            "mean_percent": (None, ""),
            "sd_percent": (None, "non-negative"),
            **_RANDOM,
        },
        _ou,
        needs=_relative,
        random=True,
        conductance={"mean_percent": (None, "non-negative")},
    ),
}

#: the modules with a conductance mode
CONDUCTANCE_MODULES = tuple(sorted(name for name, module in CLAMPS.items() if module.conductance is not None))


#: the window parameters of every module (ms; no duration: until tstop)
WINDOW = {"delay": (0.0, "non-negative"), "duration": (OPTIONAL, "positive")}


def _params(spec: dict) -> dict:
    """{name: (default, rule)} of the spec's module in the spec's mode, window included."""
    module = CLAMPS[spec["module"]]
    if conductance_mode(spec):
        return {**WINDOW, **module.params, **(module.conductance or {}), **REVERSAL}
    return {**WINDOW, **module.params}


def parameter_problems(spec: dict) -> list[tuple[str, str]]:
    """(parameter, what is wrong) of a current clamp's parameters (module known; in conductance
    mode, one of :data:`CONDUCTANCE_MODULES`)."""
    module = CLAMPS[spec["module"]]
    out = []
    given = {k for k in module.params if k in spec}
    params = _params(spec)
    for pair in module.one_of:
        found = [k for k in pair if k in spec]
        if len(found) != 1:
            out.append((pair[0], f"{spec['module']} needs exactly one of {' or '.join(pair)}, given {found}"))
    for name, (default, rule) in params.items():
        if name not in spec:
            if default is None:
                out.append((name, f"{spec['module']} needs {name}"))
            continue
        test, what = RULES[rule]
        value = spec[name]
        number = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
        if not number or not test(float(value)):
            out.append((name, f"{name} must be {what}, got {value!r}"))
    if "reversal" in spec and not conductance_mode(spec):
        out.append(
            (
                "reversal",
                f"reversal (mV) belongs to input_type conductance, this input is {spec.get('input_type')!r}",
            )
        )
    if "rise_time" in given and "decay_time" in given and not _ordered(spec):
        out.append(("decay_time", f"decay_time must exceed rise_time ({spec['rise_time']!r})"))
    return out


def _ordered(spec: dict) -> bool:
    try:
        return float(spec["decay_time"]) > float(spec["rise_time"])
    except (TypeError, ValueError):
        return True  # the type problem is named already


def parameters(spec: dict, where: str) -> dict:
    """The module's parameters of ``spec`` as floats, defaults filled in; the first problem
    raises a UserError at ``where``.<parameter>."""
    problems = parameter_problems(spec)
    if problems:
        key, message = problems[0]
        raise UserError(message, path=f"{where}.{key}")
    params = _params(spec)
    out = {k: float(spec[k]) for k in params if k in spec}
    for k, (default, _) in params.items():
        if k not in out and default not in (None, OPTIONAL):
            out[k] = float(default)
    return out


def attribute_problem(spec: dict, need: str, value) -> str | None:
    """What makes node attribute ``need`` = ``value`` unusable by ``spec`` (None: usable): absent
    or not finite; an input_resistance <= 0 (conductance = 1/input_resistance); a threshold
    current of 0 for relative_shot_noise (its mean would be 0, which no shot noise has)."""
    if value is None or not math.isfinite(value):
        return "has none"
    if need == "input_resistance" and value <= 0:
        return f"has input_resistance {value} (must be > 0 MOhm)"
    if spec["module"] == "relative_shot_noise" and value == 0:
        return f"has {need} 0 (a shot noise needs a non-zero mean)"
    return None


def clamp_waveform(spec: dict, cell: dict, settings, rng=None, where: str = "inputs") -> tuple:
    """(times ms, amplitudes nA, or µS in conductance mode) of current clamp ``spec`` on a cell
    whose attributes are ``cell`` (``holding_current``, ``threshold_current`` nA,
    ``input_resistance`` MΩ; an unusable one the module needs is an error,
    :func:`attribute_problem`); ``rng``: the input's random source on this cell (``noise``: a
    draw function, :meth:`InputStimuli._noise_draws`; the other random modules: a NEURON
    ``Random`` on the input's stream,
    :func:`~multiscale_run.simulators.neuron.random_streams.stimulus_ids`)."""
    name = spec["module"]
    if name not in CLAMPS:
        raise UserError(f"current_clamp module {name!r} unsupported ({sorted(CLAMPS)})", path=where)
    module, p = CLAMPS[name], parameters(spec, where)
    for need in module.needs(spec):
        if problem := attribute_problem(spec, need, cell.get(need)):
            raise UserError(f"{name} reads the node's dynamics_params/{need}: it {problem}", path=where)
    if module.needs(spec):
        base = cell[module.needs(spec)[0]]
        cell = {**cell, "reference": 1.0 / base if conductance_mode(spec) else base}
    t0 = p["delay"]
    end = t0 + p.get("duration", settings.tstop_ms)
    window = Window(t0, min(end, max(settings.tstop_ms, t0)), end, settings.tstop_ms)
    return module.waveform(p, window, cell, rng)
