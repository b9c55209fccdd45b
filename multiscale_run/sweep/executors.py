"""Executors: how the points of a sweep run, on engines that already exist.

An :class:`Executor` gets a batch of point folders and returns once each has run, leaving its
status in ``point.json`` (through :func:`~multiscale_run.sweep.task.run_point`). Skipping finished
points, retries and searches are the driver's business, so a new engine is one class: a Dask one
would submit ``run_point`` for each point to a ``distributed.Client`` and wait on the futures; a
Ray one would do the same with ``ray.remote``. Neither schedules anything itself.

- ``local``: a pool of ``workers`` threads (:mod:`concurrent.futures`), each running one
  ``msr compute POINT`` at a time, under ``mpiexec -n ranks`` when ``ranks > 1``;
- ``slurm``: one job array per batch (``sbatch --wait --array=0-(n-1)%max_concurrent``), whose
  task ``i`` runs point ``i``'s own ``simulation.sbatch`` (the script ``msr init`` writes, so
  ``srun msr compute POINT`` inside the task's allocation of ``ranks`` tasks).
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import sys
import threading
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from multiscale_run.errors import UserError
from multiscale_run.sweep.points import FAILED, RUNNING, Point, read_state, update_state
from multiscale_run.sweep.spec import ExecutorSettings
from multiscale_run.sweep.task import compute_command, run_point

log = logging.getLogger(__name__)


class Executor(ABC):
    """Runs batches of points to completion."""

    def __init__(self, settings: ExecutorSettings, sweep_dir: Path):
        self.settings = settings
        self.sweep_dir = Path(sweep_dir)

    @property
    @abstractmethod
    def concurrency(self) -> int:
        """How many points run at once (a search asks this many trials per batch)."""

    @abstractmethod
    def execute(self, points: list[Point]) -> None:
        """Run every point of ``points``; return when all have ended, each with its status recorded."""

    def _report(self, point: Point) -> None:
        state = point.state
        log.info(
            "point %s: %s in %s s%s",
            point.name,
            state.get("status"),
            state.get("wall_s"),
            f" ({state['error']})" if state.get("error") else "",
        )


class LocalExecutor(Executor):
    @property
    def concurrency(self) -> int:
        return self.settings.workers

    def _launcher(self) -> list[str]:
        if self.settings.ranks == 1:
            return []
        return [*shlex.split(self.settings.mpiexec), "-n", str(self.settings.ranks)]

    def execute(self, points: list[Point]) -> None:
        cancelled = threading.Event()

        def run(point: Point) -> None:
            run_point(point.directory, compute_command(point.directory, self._launcher()), cancelled)
            self._report(point)

        pool = ThreadPoolExecutor(max_workers=self.settings.workers, thread_name_prefix="msr-sweep")
        try:
            for future in [pool.submit(run, p) for p in points]:
                future.result()
        except BaseException:
            cancelled.set()  # stop the runs in flight; they are recorded as interrupted
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


class SlurmExecutor(Executor):
    @property
    def concurrency(self) -> int:
        return self.settings.max_concurrent or sys.maxsize

    def _script(self, points: list[Point]) -> Path:
        folder = self.sweep_dir / "slurm"
        folder.mkdir(exist_ok=True)
        script = folder / f"array-{points[0].name}-{len(points)}.sh"
        listed = " ".join(shlex.quote(str(p.directory)) for p in points)
        task = [sys.executable, "-m", "multiscale_run.sweep.task"]
        script.write_text(
            "#!/bin/bash\n"
            "# multiscale-run sweep: task i of this job array runs the i-th point's simulation.sbatch\n"
            "set -euo pipefail\n"
            f"points=({listed})\n"
            'point="${points[$SLURM_ARRAY_TASK_ID]}"\n'
            f'exec {shlex.join(task)} "$point" -- bash "$point/simulation.sbatch"\n',
            encoding="utf-8",
        )
        return script

    def _sbatch(self, points: list[Point], script: Path) -> list[str]:
        s = self.settings
        limit = f"%{s.max_concurrent}" if s.max_concurrent else ""
        return [
            "sbatch",
            "--wait",
            "--parsable",
            f"--array=0-{len(points) - 1}{limit}",
            f"--job-name=msr-sweep-{self.sweep_dir.name}",
            f"--nodes={s.nodes}",
            f"--ntasks={s.ranks}",
            f"--time={s.time}",
            *([f"--account={s.account}"] if s.account else []),
            *([f"--partition={s.partition}"] if s.partition else []),
            f"--output={script.parent / '%x-%A_%a.log'}",
            str(script),
        ]

    def execute(self, points: list[Point]) -> None:
        script = self._script(points)
        command = self._sbatch(points, script)
        log.info("submitting %s point(s): %s", len(points), shlex.join(command))
        try:
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        except FileNotFoundError:
            raise UserError("sbatch not found: the slurm executor needs a SLURM cluster") from None
        job = proc.stdout.readline().strip().split(";")[0]  # --parsable: "jobid[;cluster]"
        try:
            _out, err = proc.communicate()
        except BaseException:
            if job:
                subprocess.run(["scancel", job], check=False)
            raise
        if not job:
            raise UserError(f"sbatch refused the job array: {err.strip()}")
        log.info("job array %s ended (sbatch exit %s)", job, proc.returncode)
        for point in points:
            if read_state(point.directory).get("status") in (None, "pending", RUNNING):
                update_state(
                    point.directory,
                    status=FAILED,
                    error=f"SLURM task of job {job} ended without recording a status "
                    f"(time limit or node failure?): see {script.parent}",
                )
            self._report(point)


EXECUTORS: dict[str, type[Executor]] = {"local": LocalExecutor, "slurm": SlurmExecutor}


def make_executor(settings: ExecutorSettings, sweep_dir: Path) -> Executor:
    return EXECUTORS[settings.name](settings, sweep_dir)
