"""``msr sweep SWEEP.json``: check every point, then run the unfinished ones and write the results.

1. The sweep file, the base config (``msr check``'s checks) and every dotted path are checked,
   then the config of every point (of a grid or random design; for a search, each parameter at
   each of its values or interval ends) goes through the same checks as ``msr check``. Any
   problem stops the sweep before a single run, one line per problem naming its key.
2. The sweep folder records what fixes its points (``sweep.json``); resuming it with a sweep file
   that changed those is an error. A lock keeps a second ``msr sweep`` off the folder.
3. Finished points are skipped; failed ones run again with ``retry_failed``. When nothing has run
   yet, the first point runs alone, so that the NEURON mechanisms, a generated mesh and the
   coupling operators are built once into the base's cache before the others read them.
4. ``results.csv`` and ``results.html`` are written (:mod:`multiscale_run.sweep.results`).
"""

from __future__ import annotations

import fcntl
import json
import logging
import signal
import threading
from contextlib import contextmanager
from pathlib import Path

from multiscale_run.config import Config, ConfigError, Problem, load
from multiscale_run.errors import UserError
from multiscale_run.sweep import paths, space, warm_start
from multiscale_run.sweep.executors import Executor, make_executor
from multiscale_run.sweep.points import COMPLETED, FAILED, Point, config_problems, write_point
from multiscale_run.sweep.spec import Sweep, parse_sweep
from multiscale_run.validation import semantic_problems

log = logging.getLogger(__name__)

STATE_FILE = "sweep.json"


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        if str(p) not in seen:
            seen.add(str(p))
            out.append(p)
    return out


def validate(path: str | Path, executor_overrides: dict | None = None) -> tuple[Sweep, Config]:
    """The sweep of a sweep file and its base config; every problem found is raised at once as a
    ConfigError (the points are checked once the parameters, method and executor sections are right)."""
    sweep, problems = parse_sweep(path, executor_overrides)
    if not (sweep.base / "simulation_config.json").is_file():
        raise ConfigError(problems)
    ranks = sweep.executor.ranks
    base = load(sweep.base)
    base_problems = semantic_problems(base, ranks=ranks)
    if base_problems:
        raise ConfigError(base_problems)
    file = str(sweep.file)
    if any(p.path.startswith(("parameters", "method", "executor")) for p in problems):
        raise ConfigError(problems)  # the points cannot be made: the rest is reported once fixed
    unknown = set()
    for p in sweep.parameters:
        try:
            paths.check(base.data, p.path)
        except paths.PathError as exc:
            problems.append(Problem(file, f"parameters.{p.path}", str(exc)))
            unknown.add(p.path)
    for metric in sweep.metrics.values():
        problems += [Problem(file, *entry) for entry in metric.problems(base)]
    from multiscale_run.sbatch import render_sbatch

    s = sweep.executor
    try:  # every point gets the sbatch script msr init writes
        render_sbatch(sweep.output / "points", s.nodes, s.ranks, s.time, s.account, s.partition)
    except ValueError as exc:
        problems.append(Problem(file, "output" if "path" in str(exc) else "executor", str(exc)))
    if sweep.method.name == "optuna":
        candidates = space.extremes(sweep.parameters)
        names = [f"(search, {i})" for i in range(len(candidates))]
    else:
        candidates = space.design(sweep.parameters, sweep.method)
        names = [point_name(i) for i in range(len(candidates))]
    candidates = [{k: v for k, v in c.items() if k not in unknown} for c in candidates]
    for name, parameters in zip(names, candidates, strict=True):
        problems += config_problems(base, parameters, sweep.file, name, ranks)
    problems += warm_start.problems(sweep, base, candidates)
    if problems:
        raise ConfigError(_dedupe(problems))
    return sweep, base


def point_name(index: int) -> str:
    return f"p{index:04d}"


@contextmanager
def _interruptible():
    """SIGTERM (``kill``, ``scancel``) stops the sweep like Ctrl-C: the runs in flight are
    terminated and recorded as interrupted, so the next ``msr sweep`` runs them again."""

    def stop(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _locked(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError("another msr sweep is running on this folder", str(folder)) from None
        yield


def _claim(sweep: Sweep) -> None:
    """Record the sweep's identity in its folder, or check that the folder holds this same sweep."""
    state_file = sweep.output / STATE_FILE
    identity = json.loads(json.dumps(sweep.identity()))
    if state_file.is_file():
        recorded = json.loads(state_file.read_text(encoding="utf-8"))
        changed = [k for k in identity if recorded["identity"].get(k) != identity[k]]
        if changed:
            raise UserError(
                f"the sweep folder {sweep.output} holds another sweep: {', '.join(changed)} changed "
                "(use another output folder, or delete this one)",
                str(sweep.file),
                changed[0],
            )
    state_file.write_text(
        json.dumps({"sweep_file": str(sweep.file), "identity": identity}, indent=2) + "\n", encoding="utf-8"
    )


def run_batch(executor: Executor, points: list[Point], retry_failed: bool, first_alone: bool) -> None:
    """Run the unfinished points of ``points`` (failed ones only with ``retry_failed``)."""
    todo = [p for p in points if p.status != COMPLETED and (retry_failed or p.status != FAILED)]
    skipped = len(points) - len(todo)
    failed = sum(p.status == FAILED for p in points) if not retry_failed else 0
    if skipped:
        log.info(
            "skipping %s finished point(s) of %s%s",
            skipped,
            len(points),
            f" ({failed} failed: --retry-failed runs them again)" if failed else "",
        )
    if first_alone and len(todo) > 1 and executor.concurrency > 1:
        log.info("running point %s alone first: it fills the shared caches", todo[0].name)
        executor.execute(todo[:1])
        todo = todo[1:]
    if todo:
        log.info("running %s point(s), %s at a time", len(todo), min(len(todo), executor.concurrency))
        executor.execute(todo)


def start_args(sweep, base, executor) -> tuple[str, ...]:
    """The points' extra ``msr compute`` options: a warm start runs its warm-up first."""
    if not sweep.warm_start_ms:
        return ()
    return tuple(warm_start.compute_args(sweep, warm_start.prepare(sweep, base, executor)))


def run_sweep(path: str | Path, retry_failed: bool = False, executor_overrides: dict | None = None) -> Path:
    """Run (or resume) the sweep of a sweep file; returns the results page's path."""
    from multiscale_run.sweep.results import write_results

    sweep, base = validate(path, executor_overrides)
    with _locked(sweep.output), _interruptible():
        _claim(sweep)
        executor = make_executor(sweep.executor, sweep.output)
        args = start_args(sweep, base, executor)
        if sweep.method.name == "optuna":
            from multiscale_run.sweep.search import run_search

            run_search(sweep, base, executor, args)
        else:
            points = [
                Point(point_name(i), sweep.output / "points" / point_name(i), parameters)
                for i, parameters in enumerate(space.design(sweep.parameters, sweep.method))
            ]
            for point in points:
                write_point(point, base, sweep.executor, args)
            first_alone = not any(p.status == COMPLETED for p in points)
            run_batch(executor, points, retry_failed, first_alone)
    return write_results(sweep.output)
