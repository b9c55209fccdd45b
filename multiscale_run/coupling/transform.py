"""Safe transform expressions for couplings, e.g. unit conversions: ``vals * 1e3 / (96485.3 * dt_ms)``.

An expression may use numbers, the names it is given (``vals``, ``dt_ms``, ...), arithmetic and
comparison operators, conditional expressions, and calls of a fixed list of numpy functions and
constants. Anything else — attribute access, subscripts, imports, lambdas, comprehensions,
keyword arguments, other names — is rejected when the expression is parsed, before any value
is computed. Evaluation is bounded (:mod:`multiscale_run.coupling.safe_eval`: exponent, result
size, nesting depth, time) and its results are checked for NaN and Inf.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

import numpy as np

from multiscale_run.coupling import safe_eval

FUNCTIONS = {
    name: getattr(np, name)
    for name in (
        "abs",
        "sqrt",
        "exp",
        "log",
        "log10",
        "log2",
        "sin",
        "cos",
        "tan",
        "tanh",
        "sign",
        "floor",
        "ceil",
        "round",
        "minimum",
        "maximum",
        "clip",
        "where",
        "square",
        "power",
        "mean",
        "sum",
        "min",
        "max",
        "isfinite",
    )
}
CONSTANTS = {
    "pi": np.pi,
    "e": np.e,
    "FARADAY": 96485.33212,  # C/mol (CODATA 2018, exact)
    "AVOGADRO": 6.02214076e23,  # 1/mol (SI, exact)
    "GAS_CONSTANT": 8.314462618,  # J/(mol K) (CODATA 2018)
}
_OPERATORS = (
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Pow,
    ast.USub,
    ast.UAdd,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.Eq,
    ast.NotEq,
    ast.And,
    ast.Or,
    ast.Not,
)
_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.Name,
    ast.Load,
    ast.Constant,
    *_OPERATORS,
)


class TransformError(ValueError):
    """The expression is not allowed, or its result is not finite."""


class Transform:
    """A parsed, checked expression; call it with the values of its names."""

    def __init__(self, text: str, names: Iterable[str] = ("vals", "dt_ms")):
        self.text = text.strip()
        self.names = frozenset(names)
        try:
            self._tree = safe_eval.parse(self.text)
        except safe_eval.EvaluationError as exc:
            raise TransformError(str(exc)) from None
        for node in ast.walk(self._tree):
            self._check(node)

    def _check(self, node: ast.AST) -> None:
        if not isinstance(node, _NODES):
            raise TransformError(f"{type(node).__name__} is not allowed in a transform ({self.text!r})")
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float)):
            raise TransformError(f"only numeric constants are allowed ({self.text!r})")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                raise TransformError(
                    f"only these functions may be called: {', '.join(sorted(FUNCTIONS))} ({self.text!r})"
                )
            if node.keywords:
                raise TransformError(f"keyword arguments are not allowed ({self.text!r})")
        if isinstance(node, ast.Name) and not (
            node.id in self.names or node.id in CONSTANTS or node.id in FUNCTIONS
        ):
            allowed = sorted(self.names | set(CONSTANTS))
            raise TransformError(f"unknown name {node.id!r} (allowed: {', '.join(allowed)})")

    def __call__(self, **values) -> np.ndarray:
        try:
            result = safe_eval.Evaluator({**CONSTANTS, **values}, FUNCTIONS)(self._tree)
        except safe_eval.EvaluationError as exc:
            raise TransformError(f"transform {self.text!r}: {exc}") from None
        if not np.all(np.isfinite(result)):
            bad = int(np.size(result) - np.count_nonzero(np.isfinite(result)))
            raise TransformError(f"transform {self.text!r} gave {bad} non-finite value(s) (NaN or Inf)")
        return result
