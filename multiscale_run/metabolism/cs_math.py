"""Elementary functions for real arrays and for complex-step probes, fast in both cases.

A complex argument is taken to be a complex-step probe a + ib with an infinitesimal b (see
:mod:`.jacobian`): f(a + ib) = f(a) + i·b·f′(a) exactly to first order, which is all the
complex step uses. This avoids numpy's general complex log/pow/exp (5–30× slower than the real
ones) while giving the same derivative.
"""

from __future__ import annotations

import numpy as np


def _probe(x) -> bool:
    return (getattr(x, "dtype", None) is not None and x.dtype.kind == "c") or isinstance(x, complex)


def exp(x):
    if _probe(x):
        e = np.exp(x.real)
        return e + 1j * (x.imag * e)
    return np.exp(x)


def log(x):
    if _probe(x):
        return np.log(x.real) + 1j * (x.imag / x.real)
    return np.log(x)


def sqrt(x):
    if _probe(x):
        r = np.sqrt(x.real)
        return r + 1j * (x.imag / (2.0 * r))
    return np.sqrt(x)


def power(x, e):
    """x**e for a real exponent ``e`` (number or 0-d/per-cell array); integer e by products."""
    e_arr = np.asarray(e)
    if e_arr.ndim == 0 and float(e_arr).is_integer() and 0 < float(e_arr) <= 8:
        k = int(e_arr)
        out = x
        for _ in range(k - 1):
            out = out * x
        return out
    if _probe(x):
        a = x.real
        pa = a**e_arr
        return pa + 1j * (x.imag * e_arr * pa / a)
    return x**e_arr
