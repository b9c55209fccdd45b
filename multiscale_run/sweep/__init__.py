"""Parameter sweeps and searches over a simulation: ``msr sweep SWEEP.json`` (see docs/sweep.md).

Modules: :mod:`~multiscale_run.sweep.spec` (the sweep file), :mod:`~multiscale_run.sweep.paths`
(dotted config paths), :mod:`~multiscale_run.sweep.space` (grid, random design, Optuna values),
:mod:`~multiscale_run.sweep.points` (point folders), :mod:`~multiscale_run.sweep.metrics`,
:mod:`~multiscale_run.sweep.task` (running one point), :mod:`~multiscale_run.sweep.executors`
(local, slurm), :mod:`~multiscale_run.sweep.search` (Optuna), :mod:`~multiscale_run.sweep.driver`
and :mod:`~multiscale_run.sweep.results` (results.csv and the HTML page).
"""
