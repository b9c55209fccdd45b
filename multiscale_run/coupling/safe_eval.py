"""Bounded evaluation of a checked transform tree: no expression can hang, exhaust memory or crash.

The tree (already restricted by :mod:`multiscale_run.coupling.transform` to numbers, names,
arithmetic, comparisons, conditionals and a fixed list of numpy calls) is walked node by node in
float64 numpy, never through Python's ``eval``:

* every number is a float64, so ``10**10**10`` overflows to Inf at once instead of building a
  Python integer for ever;
* an exponent larger than :data:`MAX_EXPONENT` in magnitude is refused;
* no intermediate result may hold more elements than the largest input (the transform of N
  values gives N values or one), so broadcasting cannot blow memory up;
* the source may hold at most :data:`MAX_LENGTH` characters and nest :data:`MAX_DEPTH` levels
  (Python's parser overflows its stack long before a real expression would);
* the walk stops after :data:`TIME_BUDGET_S` seconds;
* a conditional ``a if test else b`` needs a single truth value: an array test is ambiguous and
  refused (use ``where(test, a, b)``); ``and``, ``or`` and ``not`` act element-wise.
"""

from __future__ import annotations

import ast
import operator
import time
from collections.abc import Callable, Mapping

import numpy as np

MAX_EXPONENT = 1024.0
MAX_DEPTH = 40
MAX_LENGTH = 4000
TIME_BUDGET_S = 1.0

_BINARY: dict[type, Callable] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.true_divide,
    ast.FloorDiv: np.floor_divide,
    ast.Mod: np.mod,
}
_COMPARE: dict[type, Callable] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


class EvaluationError(ValueError):
    """The expression cannot be evaluated within the bounds above."""


def depth(tree: ast.AST) -> int:
    """The nesting depth of ``tree`` (iterative: a deep tree cannot overflow the stack here)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in ast.iter_child_nodes(node))
    return deepest


def parse(text: str) -> ast.Expression:
    """Parse ``text`` within the length and depth bounds; raise :class:`EvaluationError`."""
    if len(text) > MAX_LENGTH:
        raise EvaluationError(f"the expression is {len(text)} characters long (at most {MAX_LENGTH})")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise EvaluationError(f"invalid expression {text!r}: {exc.msg}") from None
    except (MemoryError, RecursionError):
        raise EvaluationError(f"the expression nests too deeply (at most {MAX_DEPTH} levels)") from None
    if depth(tree) > MAX_DEPTH:
        raise EvaluationError(f"the expression nests too deeply (at most {MAX_DEPTH} levels)")
    return tree


class Evaluator:
    """Evaluates one tree against ``names``; ``functions`` are the callable names."""

    def __init__(self, names: Mapping[str, object], functions: Mapping[str, Callable]):
        self.names = {k: np.asarray(v, dtype=np.float64) for k, v in names.items()}
        self.functions = functions
        self.max_size = max((v.size for v in self.names.values()), default=1)
        self.deadline = time.perf_counter() + TIME_BUDGET_S

    def __call__(self, tree: ast.Expression) -> np.ndarray:
        with np.errstate(all="ignore"):
            return self._eval(tree.body)

    def _bounded(self, value) -> np.ndarray:
        value = np.asarray(value, dtype=np.float64)
        if value.size > max(self.max_size, 1):
            raise EvaluationError(f"an intermediate result has {value.size} values (at most {self.max_size})")
        if time.perf_counter() > self.deadline:
            raise EvaluationError(f"evaluation took more than {TIME_BUDGET_S:g} s")
        return value

    def _eval(self, node: ast.AST) -> np.ndarray:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:  # the parser check makes this unreachable for checked trees
            raise EvaluationError(f"{type(node).__name__} is not allowed")
        return self._bounded(method(node))

    def _Constant(self, node: ast.Constant):
        return float(node.value)

    def _Name(self, node: ast.Name):
        return self.names[node.id]

    def _BinOp(self, node: ast.BinOp):
        left, right = self._eval(node.left), self._eval(node.right)
        if isinstance(node.op, ast.Pow):
            return self._power(left, right)
        return _BINARY[type(node.op)](left, right)

    @staticmethod
    def _power(base: np.ndarray, exponent: np.ndarray) -> np.ndarray:
        finite = exponent[np.isfinite(exponent)]
        if exponent.size and (finite.size < exponent.size or np.any(np.abs(finite) > MAX_EXPONENT)):
            raise EvaluationError(f"an exponent exceeds {MAX_EXPONENT:g} in magnitude")
        return np.power(base, exponent)

    def _UnaryOp(self, node: ast.UnaryOp):
        value = self._eval(node.operand)
        if isinstance(node.op, ast.USub):
            return -value
        if isinstance(node.op, ast.Not):
            return np.logical_not(value)
        return value

    def _BoolOp(self, node: ast.BoolOp):
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        result = self._eval(node.values[0])
        for value in node.values[1:]:
            result = combine(result, self._eval(value))
        return result

    def _Compare(self, node: ast.Compare):
        left, result = self._eval(node.left), np.asarray(True)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self._eval(right_node)
            result = np.logical_and(result, _COMPARE[type(op)](left, right))
            left = right
        return result

    def _IfExp(self, node: ast.IfExp):
        test = self._eval(node.test)
        if test.size != 1:
            raise EvaluationError(
                f"the condition of 'a if condition else b' has {test.size} values: its truth is "
                "ambiguous (use where(condition, a, b))"
            )
        return self._eval(node.body if bool(test.reshape(())) else node.orelse)

    def _Call(self, node: ast.Call):
        args = [self._eval(arg) for arg in node.args]
        if node.func.id == "power" and len(args) == 2:
            return self._power(*args)
        try:
            return self.functions[node.func.id](*args)
        except (TypeError, ValueError) as exc:
            raise EvaluationError(f"{node.func.id}(): {exc}") from None
