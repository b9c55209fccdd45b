"""Exact Jacobians of a vectorised right-hand side by grouped complex-step differentiation.

For a real-analytic f, Im f(y + iε e_j)/ε = ∂f/∂y_j + O(ε²) with no subtractive cancellation
(Squire & Trapp 1998, SIAM Rev. 40:110; Martins, Sturdza & Alonso 2003, ACM TOMS 29:245), so
with ε = 1e-20 the result is exact to rounding. Columns that share no nonzero row are perturbed
together (Curtis, Powell & Reid 1974, J. Inst. Math. Appl. 13:117): the J15 Jacobian needs far
fewer probes than its 33 columns. All probes of all cells go through the right-hand side in one
vectorised call, plus one probe in t for the non-autonomous term ∂f/∂t of Rosenbrock methods.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

#: Complex-step size: far below rounding of any state, exact to first order.
EPS = 1e-20

Rhs = Callable[[np.ndarray, np.ndarray, Mapping[str, np.ndarray]], np.ndarray]


def sparsity_pattern(
    fun: Rhs, y_samples: np.ndarray, t_samples: np.ndarray, params: Mapping[str, np.ndarray]
) -> np.ndarray:
    """Boolean ``[n, n]`` pattern of ∂f_i/∂y_j, the union over sample states ``[s, n]`` and times.

    Found numerically by a full (one column per probe) complex-step Jacobian, so it follows the
    model's options (frozen states have empty rows) without a hand-written table.
    """
    n = y_samples.shape[-1]
    pattern = np.zeros((n, n), dtype=bool)
    for t in np.atleast_1d(t_samples):
        probes = y_samples[None, :, :].astype(complex) + 1j * EPS * np.eye(n)[:, None, :]
        t_arr = np.full(y_samples.shape[0], float(t))
        d = fun(t_arr, probes, params).imag / EPS  # [col, sample, row]
        pattern |= np.any(d != 0.0, axis=1).T
    return pattern


def column_groups(pattern: np.ndarray, columns: np.ndarray) -> list[np.ndarray]:
    """Greedy grouping of ``columns`` so that no two columns of a group share a nonzero row."""
    groups: list[list[int]] = []
    rows_used: list[np.ndarray] = []
    # densest columns first: the usual greedy order that keeps the group count small
    order = sorted(columns, key=lambda j: -int(pattern[:, j].sum()))
    for j in order:
        rows = pattern[:, j]
        for g, used in enumerate(rows_used):
            if not np.any(used & rows):
                groups[g].append(int(j))
                used |= rows
                break
        else:
            groups.append([int(j)])
            rows_used.append(rows.copy())
    return [np.array(sorted(g)) for g in groups]


class GroupedComplexStepJacobian:
    """∂f/∂y restricted to ``columns`` (rows and columns), and ∂f/∂t, for a batch of cells.

    ``fun(t[cells], y[..., cells, n], params) -> dy`` must be complex-safe. ``pattern`` is the
    structural nonzero pattern (:func:`sparsity_pattern`).
    """

    def __init__(self, fun: Rhs, pattern: np.ndarray, columns: np.ndarray):
        self.fun = fun
        self.columns = np.asarray(columns)
        self.groups = column_groups(pattern, self.columns)
        n = pattern.shape[0]
        self.n = n
        seed = np.zeros((len(self.groups), n))
        group_of = np.full(n, -1)
        for g, cols in enumerate(self.groups):
            seed[g, cols] = EPS
            group_of[cols] = g
        self._seed = seed
        # nonzeros of the reduced (columns × columns) block and the probe that carries each
        pos = {int(c): k for k, c in enumerate(self.columns)}
        rows, cols = np.nonzero(pattern[np.ix_(self.columns, self.columns)])
        self._red_rows, self._red_cols = rows, cols
        self._full_rows = self.columns[rows]
        self._probe = group_of[self.columns[cols]]
        assert all(int(c) in pos for c in self.columns)

    @property
    def n_probes(self) -> int:
        return len(self.groups)

    def __call__(self, t: np.ndarray, y: np.ndarray, params, with_time: bool = True):
        """Return ``(J[cells, k, k], f_t[cells, k] or None)`` for the k = len(columns) states."""
        n_cells = y.shape[0]
        n_probe = self.n_probes + (1 if with_time else 0)
        probes = np.empty((n_probe, n_cells, self.n), dtype=complex)
        probes[...] = y
        probes[: self.n_probes] += 1j * self._seed[:, None, :]
        t_probe = np.empty((n_probe, n_cells), dtype=complex)
        t_probe[...] = t
        if with_time:
            t_probe[-1] += 1j * EPS
        d = self.fun(t_probe, probes, params).imag / EPS  # [probe, cell, row]
        k = len(self.columns)
        jac = np.zeros((n_cells, k, k))
        jac[:, self._red_rows, self._red_cols] = d[self._probe, :, self._full_rows].T
        f_t = d[-1][:, self.columns] if with_time else None
        return jac, f_t
