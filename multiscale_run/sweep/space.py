"""Parameter spaces: the points of a grid or a random design, and the values an Optuna trial draws.

A grid is the Cartesian product of each parameter's values (``values``, or ``num`` points from
``low`` to ``high``, evenly spaced, or geometrically with ``log``). A random design draws
``samples`` points, one after another from a seeded generator, so asking for more samples later
keeps the first ones. Integer parameters are rounded to the nearest integer.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from multiscale_run.sweep.spec import Method, Parameter


def _plain(value: Any, integer: bool) -> Any:
    """A JSON-ready Python number (or the value from a values list as given)."""
    if isinstance(value, np.generic):
        value = value.item()
    if integer and isinstance(value, float):
        return round(value)
    return value


def grid_values(p: Parameter) -> list:
    if p.values is not None:
        return list(p.values)
    spaced = np.geomspace if p.log else np.linspace
    return [_plain(v, p.integer) for v in spaced(p.low, p.high, p.num)]


def _draw(p: Parameter, rng: np.random.Generator) -> Any:
    if p.values is not None:
        return p.values[int(rng.integers(len(p.values)))]
    if p.normal is not None:
        return _plain(rng.normal(*p.normal), p.integer)
    if p.log:
        return _plain(float(np.exp(rng.uniform(np.log(p.low), np.log(p.high)))), p.integer)
    if p.integer:
        return int(rng.integers(round(p.low), round(p.high) + 1))
    return float(rng.uniform(p.low, p.high))


def design(parameters: tuple[Parameter, ...], method: Method) -> list[dict]:
    """The points of a grid or random method, each a ``{path: value}`` dict, in a fixed order."""
    if method.name == "grid":
        axes = [grid_values(p) for p in parameters]
        return [
            dict(zip([p.path for p in parameters], combo, strict=True)) for combo in itertools.product(*axes)
        ]
    if method.name == "random":
        rng = np.random.default_rng(method.seed)
        return [{p.path: _draw(p, rng) for p in parameters} for _ in range(method.samples)]
    raise ValueError(f"method {method.name} has no fixed design")


def extremes(parameters: tuple[Parameter, ...]) -> list[dict]:
    """Points that put each parameter, in turn, at each of its listed values or interval ends (the
    others at their first value): the values a search may draw, checked before it starts."""
    first = {p.path: p.values[0] if p.values is not None else _plain(p.low, p.integer) for p in parameters}
    points = []
    for p in parameters:
        ends = p.values if p.values is not None else (p.low, p.high)
        points += [{**first, p.path: _plain(v, p.integer)} for v in ends]
    return points


def suggest(trial, p: Parameter) -> Any:
    """The value of ``p`` an Optuna trial asks for (the parameter is named by its dotted path)."""
    if p.values is not None:
        return trial.suggest_categorical(p.path, list(p.values))
    if p.integer:
        return trial.suggest_int(p.path, round(p.low), round(p.high), log=p.log)
    return trial.suggest_float(p.path, p.low, p.high, log=p.log)
