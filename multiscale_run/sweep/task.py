"""Run one point: its command (``msr compute POINT``, or the point's sbatch script inside a SLURM
task), with the attempt, wall time, exit status and error recorded in ``point.json``.

Every executor runs points through :func:`run_point`, in-process (``local``) or as
``python -m multiscale_run.sweep.task POINT -- COMMAND...`` (``slurm``), so a point's record
means the same whatever ran it.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from multiscale_run.run_status import COMPLETED as RUN_COMPLETED
from multiscale_run.run_status import recorded_status
from multiscale_run.sweep.points import COMPLETED, FAILED, OUTPUT_DIR, RUNNING, read_state, update_state

INTERRUPTED = "interrupted"
#: a run ended by these was stopped (Ctrl-C, kill, the sweep's own stop), not failed
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
LOG_NAME = "compute.log"


def compute_command(directory: Path, launcher: list[str] | None = None) -> list[str]:
    """``[launcher...] python -m multiscale_run.cli compute DIRECTORY --no-progress [the point's
    compute_args]`` with this Python."""
    return [
        *(launcher or []),
        sys.executable,
        "-m",
        "multiscale_run.cli",
        "compute",
        str(directory),
        "--no-progress",
        *read_state(directory).get("compute_args", []),
    ]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _slurm_job() -> str | None:
    """``ARRAYJOB_TASK`` of the SLURM array task running this point, else the job id, else None."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID")


def _error(log: Path, returncode: int) -> str:
    """The run's own error line (``msr: error: ...``), else its last line, with the exit status."""
    lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    msr_lines = [ln for ln in lines if ln.startswith("msr: ")]
    text = msr_lines[-1] if msr_lines else (lines[-1] if lines else "no output")
    cause = f"signal {-returncode}" if returncode < 0 else f"exit code {returncode}"
    return f"{cause}: {text[:500]}"


def _wait(proc: subprocess.Popen, cancelled: threading.Event | None) -> int:
    """The exit status of ``proc``, terminated (then killed after 30 s) once ``cancelled`` is set."""
    if cancelled is None:
        return proc.wait()
    while proc.poll() is None:
        if cancelled.wait(0.2):
            proc.terminate()
            try:
                return proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return proc.wait()


def run_point(directory: Path, command: list[str], cancelled: threading.Event | None = None) -> dict:
    """Run ``command`` for the point in ``directory`` (output in its ``compute.log``); returns the
    new state. A run stopped because ``cancelled`` was set, or by SIGINT or SIGTERM, is
    ``interrupted``, not failed."""
    directory = Path(directory).resolve()
    attempts = read_state(directory).get("attempts", 0) + 1
    update_state(
        directory,
        status=RUNNING,
        attempts=attempts,
        started_at=_now(),
        finished_at=None,
        wall_s=None,
        error=None,
        host=platform.node(),
        slurm_job=_slurm_job(),
    )
    shutil.rmtree(directory / OUTPUT_DIR, ignore_errors=True)  # a killed attempt's partial outputs
    start = time.monotonic()
    log = directory / LOG_NAME
    with open(log, "w") as out:
        # os.environ is this process's environment as Python started it: without the variables an
        # MPI library initialised here set behind Python's back, which make mpiexec refuse to start
        proc = subprocess.Popen(
            command, cwd=directory, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ)
        )
        returncode = _wait(proc, cancelled)
    wall = round(time.monotonic() - start, 3)
    recorded = recorded_status(directory / OUTPUT_DIR)
    if returncode == 0 and recorded == RUN_COMPLETED:
        status, error = COMPLETED, None
    elif returncode == 0:
        # seen on SLURM: srun exits 0 after "task 0 launch failed", the simulation never ran
        status = FAILED
        error = f"exited 0 but {OUTPUT_DIR}/run.json says {recorded or 'nothing'}: " + _error(log, 0)
    elif (cancelled is not None and cancelled.is_set()) or -returncode in _STOP_SIGNALS:
        status, error = INTERRUPTED, "interrupted: the sweep was stopped"
    else:
        status, error = FAILED, _error(log, returncode)
    return update_state(
        directory, status=status, wall_s=wall, error=error, returncode=returncode, finished_at=_now()
    )


def main(argv: list[str]) -> int:
    """``python -m multiscale_run.sweep.task POINT -- COMMAND...``"""
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m multiscale_run.sweep.task POINT -- COMMAND...", file=sys.stderr)
        return 2
    state = run_point(Path(argv[0]), argv[2:])
    return 0 if state["status"] == COMPLETED else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
