"""A search with an objective: Optuna asks for parameter values, each trial is a point
``SWEEP/points/tNNNN`` (trial number NNNN), and the trial's value is the objective metric of the
point's outputs.

The study lives in ``SWEEP/optuna.db`` (SQLite through Optuna's RDB storage), so a killed search
resumes: trials a killed sweep left running are run again with their parameters (a point that
did complete is only measured), and new trials are asked until ``trials`` have finished
(completed or failed). A failed run or an unmeasurable metric is told to Optuna as a failed trial.
Trials are asked ``executor.concurrency`` at a time and each batch runs as one executor batch.

Samplers: ``tpe`` (Optuna's tree-structured Parzen estimator, with ``startup_trials`` random
trials first, by default a third of the trials up to 10; Bergstra et al. 2011, NeurIPS) or
``random``; both seeded by ``method.seed``. A batch of one (``workers: 1``) lets every trial
learn from all the previous ones; larger batches trade that for speed.
"""

from __future__ import annotations

import logging

from multiscale_run.config import Config
from multiscale_run.sweep import space
from multiscale_run.sweep.driver import run_batch
from multiscale_run.sweep.executors import Executor
from multiscale_run.sweep.metrics import MetricError
from multiscale_run.sweep.points import COMPLETED, Point, write_point
from multiscale_run.sweep.spec import Sweep

log = logging.getLogger(__name__)

STORAGE_FILE = "optuna.db"
STUDY_NAME = "msr-sweep"


def trial_name(number: int) -> str:
    return f"t{number:04d}"


def open_study(sweep: Sweep, create: bool = True):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    m = sweep.method
    if m.sampler == "tpe":
        # constant_liar: trials asked together (a batch) are steered apart (Optuna's advice for parallel)
        sampler = optuna.samplers.TPESampler(
            seed=m.seed, n_startup_trials=m.startup_trials, constant_liar=True
        )
    else:
        sampler = optuna.samplers.RandomSampler(seed=m.seed)
    storage = f"sqlite:///{sweep.output / STORAGE_FILE}"
    if not create:
        return optuna.load_study(study_name=STUDY_NAME, storage=storage)
    return optuna.create_study(
        study_name=STUDY_NAME, storage=storage, sampler=sampler, direction=m.direction, load_if_exists=True
    )


def _point(sweep: Sweep, number: int, parameters: dict) -> Point:
    return Point(trial_name(number), sweep.output / "points" / trial_name(number), parameters)


def run_search(sweep: Sweep, base: Config, executor: Executor, compute_args: tuple[str, ...] = ()) -> None:
    import optuna

    study = open_study(sweep)
    objective = sweep.metrics[sweep.method.objective]
    state = optuna.trial.TrialState
    while True:
        trials = study.get_trials(deepcopy=False)
        left = sweep.method.trials - sum(t.state.is_finished() for t in trials)
        if left <= 0:
            break
        # trials a killed sweep left running come first, with the values they were given (and
        # those it had not drawn yet when it was killed between ``ask`` and the draw: drawn now)
        stale = [optuna.trial.Trial(study, t._trial_id) for t in trials if t.state == state.RUNNING]
        asked = stale[:left]
        while len(asked) < min(left, executor.concurrency):
            asked.append(study.ask())
        batch = [
            (trial.number, {p.path: space.suggest(trial, p) for p in sweep.parameters}) for trial in asked
        ]
        points = [_point(sweep, number, parameters) for number, parameters in batch]
        for point in points:
            write_point(point, base, sweep.executor, compute_args)
        done = sum(t.state == state.COMPLETE for t in trials)
        run_batch(executor, points, retry_failed=True, first_alone=done == 0)
        for (number, _), point in zip(batch, points, strict=True):
            if point.status != COMPLETED:
                study.tell(number, state=state.FAIL)
                continue
            try:
                value = objective.evaluate(point.directory)
            except (MetricError, OSError, KeyError, ValueError) as exc:
                log.warning("trial %s: objective %s: %s", number, objective.name, exc)
                study.tell(number, state=state.FAIL)
                continue
            study.tell(number, value)
            log.info("trial %s: %s = %.6g (best %.6g)", number, objective.name, value, study.best_value)
