"""A batched Rosenbrock integrator (RODAS4) with one step size and one error control per cell.

Method: RODAS, the 6-stage, order-4 (embedded order 3), L-stable and stiffly accurate
Rosenbrock method of Hairer & Wanner, *Solving Ordinary Differential Equations II*, 2nd ed.
(Springer 1996), §IV.7, coefficients of their ``rodas.f`` (METH = 1). Each stage solves

    (I/(γh) − J) U_i = f(t + α_i h, y + Σ_j a_ij U_j) + Σ_j (c_ij/h) U_j + γ_i h ∂f/∂t,

and y_new = y + Σ a_6j U_j + U_6, with U_6 the error estimate (stiff accuracy). Why this method
(docs/metabolism.md): it is linearly implicit, so one Jacobian and one 33×33 factorisation per
step and no Newton iteration whose convergence differs between cells; that makes it easy to
batch, and L-stability handles the 7e7 stiffness ratio of J15 (spec §9).

Batching: every cell carries its own time and step size. Each sweep attempts one step for every
cell that has not reached the end time (the *active* set); accepted cells advance, rejected ones
retry with a smaller step, finished ones drop out. The linear algebra is numpy's batched
``inv`` on stacked [cells, k, k] matrices, reduced to the k non-frozen states.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from multiscale_run.metabolism.jacobian import GroupedComplexStepJacobian, Rhs
from multiscale_run.metabolism.parameters import take_cells

GAMMA = 0.25
ALPHA = (0.0, 0.386, 0.21, 0.63, 1.0, 1.0)
GAMMA_T = (0.25, -0.1043, 0.1035, -0.0362, 0.0, 0.0)  # γ_i: coefficients of h ∂f/∂t
A = (
    (),
    (1.544,),
    (0.9466785280815826, 0.2557011698983284),
    (3.314825187068521, 2.896124015972201, 0.9986419139977817),
    (1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950),
)
C = (
    (),
    (-5.6688,),
    (-2.430093356833875, -0.2063599157091915),
    (-0.1073529058151375, -9.594562251023355, -20.47028614809616),
    (7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160),
    (8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136, -6.058818238834054),
)
ORDER = 4
SAFETY = 0.9
FAC_MIN, FAC_MAX = 0.2, 6.0


@dataclass
class Stats:
    """Work counters, summed over cells (a cell step is one attempted step of one cell)."""

    sweeps: int = 0
    cell_steps: int = 0
    rejected: int = 0
    per_cell_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))


class StepSizeUnderflow(RuntimeError):
    """The step size of some cells fell below rounding: their state is invalid (NaN, negative)."""

    def __init__(self, cells: np.ndarray, t_s: np.ndarray):
        self.cells = cells
        super().__init__(
            f"step size underflow for {len(cells)} cell(s) (local indices {cells[:10]}) at t={t_s[:10]} s"
        )


class BatchRodas:
    """RODAS4 over a batch of independent ODE systems of equal size.

    ``fun(t[cells], y[..., cells, n], params) -> dy`` is the vectorised right-hand side;
    ``dynamic`` the indices of the states that may change (the others have identically zero
    derivative and are left out of the linear algebra); ``pattern`` the Jacobian's sparsity.
    Tolerances are per component: error_i = U_6/(atol + rtol·max(|y|, |y_new|)), RMS over the
    dynamic states of a cell, accepted when ≤ 1. ``max_step`` caps the step: a number, or a
    function of the cells' times returning one cap per cell (steps never cross a breakpoint, so a
    cap that changes only at breakpoints holds for the whole step).
    """

    def __init__(
        self,
        fun: Rhs,
        pattern: np.ndarray,
        dynamic: np.ndarray,
        rtol: float = 1e-6,
        atol: float = 1e-9,
        max_step: float | Callable[[np.ndarray], np.ndarray] = np.inf,
        autonomous: bool = False,
        breakpoints: Callable[[float, float], list[float]] | None = None,
    ):
        self.fun = fun
        self.dynamic = np.asarray(dynamic)
        self.jac = GroupedComplexStepJacobian(fun, pattern, self.dynamic)
        self.rtol, self.atol = float(rtol), float(atol)
        if callable(max_step):
            self.max_step = max_step
        else:
            cap = float(max_step)
            self.max_step = lambda t: np.full(t.shape, cap)
        self.autonomous = autonomous
        self.breakpoints = breakpoints

    def integrate(
        self,
        t: np.ndarray,
        y: np.ndarray,
        h: np.ndarray,
        t_end: float,
        params: Mapping[str, np.ndarray],
        stats: Stats | None = None,
    ) -> None:
        """Advance every cell from its time ``t[i]`` to ``t_end`` (s), in place on t, y, h.

        ``h`` holds each cell's next trial step (s) and is updated for the next call. Cells with
        ``t ≥ t_end`` do not move. Discontinuities of the drive (``breakpoints``) are stepped
        to exactly.
        """
        stops = [t_end]
        if self.breakpoints is not None:
            t_lo = float(np.min(t)) if t.size else t_end
            stops = sorted({*(b for b in self.breakpoints(t_lo, t_end) if t_lo < b < t_end), t_end})
        for stop in stops:
            self._integrate_to(t, y, h, stop, params, stats)

    def _integrate_to(self, t, y, h, t_end, params, stats):
        n_cells = y.shape[0]
        tiny = 1e-12 * max(1.0, abs(t_end))
        active = np.flatnonzero(t < t_end - tiny)
        rejected_before = np.zeros(n_cells, dtype=bool)
        if stats is not None and stats.per_cell_steps.size != n_cells:
            stats.per_cell_steps = np.zeros(n_cells, dtype=int)
        while active.size:
            full = active.size == n_cells
            ya = y if full else y[active]
            pa = params if full else take_cells(params, active)
            ta = t[active]
            remaining = t_end - ta
            cap = self.max_step(ta)
            h_try = np.minimum(np.minimum(h[active], cap), remaining)
            last = h_try >= remaining * (1.0 - 1e-12)
            y_new, err = self._attempt(ta, ya, h_try, pa)
            ok = err <= 1.0
            with np.errstate(divide="ignore", invalid="ignore"):
                fac = SAFETY * np.where(err > 0, err, 1e-10) ** (-1.0 / ORDER)
            fac = np.clip(np.nan_to_num(fac, nan=FAC_MIN), FAC_MIN, FAC_MAX)
            # after a rejection the step is not allowed to grow right away (Hairer–Wanner)
            fac = np.where(rejected_before[active] & ok, np.minimum(fac, 1.0), fac)
            h_next = h_try * fac
            # a step shortened to hit t_end says little about the natural step: keep the larger
            h_next = np.where(ok & last, np.maximum(h_next, np.minimum(h[active], cap)), h_next)
            done = active[ok]
            y[done] = y_new[ok]
            t[done] = np.where(last[ok], t_end, ta[ok] + h_try[ok])
            h[active] = h_next
            rejected_before[active] = ~ok
            if stats is not None:
                stats.sweeps += 1
                stats.cell_steps += active.size
                stats.rejected += int((~ok).sum())
                stats.per_cell_steps[active] += 1
            underflow = h_next < 1e-14 * np.maximum(1.0, np.abs(ta))
            if np.any(underflow):
                raise StepSizeUnderflow(active[underflow], ta[underflow])
            active = active[t[active] < t_end - tiny]

    def _attempt(self, t, y, h, p):
        """One RODAS4 step of size h[i] for each cell; returns (y_new, scaled error norm)."""
        d = self.dynamic
        f = self.fun
        jac, f_t = self.jac(t, y, p, with_time=not self.autonomous)
        k = len(d)
        w = -jac
        w[:, np.arange(k), np.arange(k)] += (1.0 / (GAMMA * h))[:, None]
        try:
            w_inv = np.linalg.inv(w)
        except np.linalg.LinAlgError:
            w_inv = np.linalg.pinv(w)
        hcol = h[:, None]

        def solve(rhs_red):
            return np.einsum("cij,cj->ci", w_inv, rhs_red)

        stages: list[np.ndarray] = []
        y_stage = y
        for i in range(6):
            if i == 0:
                y_stage = y
            elif i < 5:
                y_stage = y.copy()
                y_stage[:, d] += sum(a * u for a, u in zip(A[i], stages, strict=False))
            else:  # stage 6 is evaluated at stage 5's argument plus U_5 (stiffly accurate)
                y_stage = y_stage.copy()
                y_stage[:, d] += stages[4]
            rhs_red = f(t + ALPHA[i] * h, y_stage, p)[:, d]
            for c, u in zip(C[i], stages, strict=False):
                rhs_red = rhs_red + (c / hcol) * u
            if f_t is not None and GAMMA_T[i] != 0.0:
                rhs_red = rhs_red + GAMMA_T[i] * hcol * f_t
            stages.append(solve(rhs_red))
        y_new = y_stage.copy()
        y_new[:, d] += stages[5]
        scale = self.atol + self.rtol * np.maximum(np.abs(y[:, d]), np.abs(y_new[:, d]))
        with np.errstate(invalid="ignore", over="ignore"):
            err = np.sqrt(np.mean((stages[5] / scale) ** 2, axis=1))
        err = np.where(np.isfinite(err) & np.all(np.isfinite(y_new), axis=1), err, np.inf)
        return y_new, err
