"""The bounded transform evaluator: numpy semantics where they are defined, a refusal (never a hang,
a crash or a huge allocation) where they are not."""

from __future__ import annotations

import time

import numpy as np
import pytest

from multiscale_run.coupling import safe_eval
from multiscale_run.coupling.transform import Transform, TransformError

VALS = np.array([0.5, 2.0, 4.0])


def run(text: str, **names) -> np.ndarray:
    return Transform(text)(vals=names.get("vals", VALS), dt_ms=names.get("dt_ms", 0.025))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("vals * 1e3 / (FARADAY * dt_ms)", VALS * 1e3 / (96485.33212 * 0.025)),
        ("vals ** 2 - 2 ** -1", VALS**2 - 0.5),
        ("where(vals > 1, vals, 0)", np.where(VALS > 1, VALS, 0.0)),
        ("1 < vals < 3", (VALS > 1) & (VALS < 3)),  # chained, per element
        ("(vals > 1) and (vals < 3)", (VALS > 1) & (VALS < 3)),  # `and` per element, not ambiguous
        ("not (vals > 1)", ~(VALS > 1)),
        ("vals if dt_ms > 0.01 else -vals", VALS),  # a single-valued condition is fine
        ("mean(vals) + vals", VALS.mean() + VALS),
        ("clip(vals, 1, 3) % 2", np.clip(VALS, 1, 3) % 2),
        ("power(vals, 3)", VALS**3),
    ],
)
def test_values_match_numpy(text, expected):
    np.testing.assert_allclose(run(text), np.asarray(expected, dtype=float), rtol=1e-15)


def test_integer_towers_overflow_at_once_instead_of_hanging():
    start = time.perf_counter()
    with pytest.raises(TransformError, match="exponent exceeds 1024"):
        run("10 ** 10 ** 10")
    with pytest.raises(TransformError, match="non-finite"):
        run("10.0 ** 1000")  # within the exponent bound, float64 overflow: Inf, caught
    assert time.perf_counter() - start < 1.0


def test_array_exponents_are_bounded_too():
    with pytest.raises(TransformError, match="exponent exceeds"):
        run("2 ** (vals * 1000)")  # 4000 for the last element


def test_the_time_budget_stops_the_walk(monkeypatch):
    monkeypatch.setattr(safe_eval, "TIME_BUDGET_S", -1.0)  # already over budget at the first node
    with pytest.raises(TransformError, match="took more than"):
        run("vals + 1")


def test_no_intermediate_outgrows_the_inputs():
    column = np.array([[1.0], [2.0], [3.0]])  # a (3, 1) name broadcast against (3,) gives 9 values
    with pytest.raises(TransformError, match="intermediate result has 9 values"):
        Transform("vals * dt_ms")(vals=VALS, dt_ms=column)


def test_deep_nesting_is_refused_before_the_parser_overflows():
    for text in ("-" * 100_000 + "1", "(" * 1000 + "1" + ")" * 1000, "abs(" * 300 + "1" + ")" * 300):
        with pytest.raises(TransformError):
            Transform(text)
    assert safe_eval.depth(safe_eval.parse("-" * 30 + "1")) <= safe_eval.MAX_DEPTH


def test_an_array_condition_is_ambiguous():
    with pytest.raises(TransformError, match="ambiguous"):
        run("vals if vals > 1 else 0")
