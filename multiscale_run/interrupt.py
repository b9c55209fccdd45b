"""SIGINT, SIGTERM and SIGUSR1 stop a run cleanly: every rank finishes the step it is in, takes a
snapshot (``checkpoints.on_signal``, :mod:`multiscale_run.checkpoints`), flushes every report,
the spikes and ``run.json`` (status ``interrupted``, ``t_reached_ms``), and exits with 128 + the
signal number (130 for SIGINT, 143 for SIGTERM), as shells report a signal's death. SIGUSR1 is
what SLURM sends before the time limit when asked (``sbatch --signal``): with a snapshot written
the run exits with :data:`~multiscale_run.checkpoints.EXIT_RESUMABLE` (75), on which the sbatch
template requeues the job, and the requeued job resumes.

A signal may reach one rank only (``kill`` of one process) or all (Ctrl-C in a terminal, SLURM's
``scancel``, which sends SIGTERM to every task). The handler only records it; the ranks agree
collectively every :data:`AGREE_EVERY` base steps (every step on one rank), so all stop at the
same step, none waits in a collective for a rank that left. A second signal while stopping
raises ``KeyboardInterrupt`` at once (an impatient user gets the default behaviour back).
"""

from __future__ import annotations

import signal
import threading

from multiscale_run.checkpoints import EXIT_RESUMABLE
from multiscale_run.parallel import Parallel

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)
#: Base steps between two collective agreements on a stop (a few µs each under MPI).
AGREE_EVERY = 20


class RunInterrupted(Exception):
    """Every rank stopped on a signal; results are flushed."""

    def __init__(self, signum: int, t_ms: float, snapshot=None):
        saved = f"; snapshot {snapshot}: continue with msr compute --resume" if snapshot is not None else ""
        super().__init__(f"interrupted by {signal.Signals(signum).name} at t = {t_ms:g} ms{saved}")
        self.signum = signum
        self.snapshot = snapshot
        resumable = signum == signal.SIGUSR1 and snapshot is not None
        self.exit_code = EXIT_RESUMABLE if resumable else 128 + signum


class StopRequest:
    """Records SIGINT and SIGTERM while installed (a context manager) instead of dying at once."""

    def __init__(self, parallel: Parallel):
        self.parallel = parallel
        self.signum = 0
        self._previous: dict = {}

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():  # Python's rule for handlers
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame) -> None:
        if self.signum:
            raise KeyboardInterrupt
        self.signum = signum

    def agreed(self, step: int | None = None) -> int:
        """The signal number if any rank received one (0: go on). Collective on several ranks, at
        every step not a multiple of :data:`AGREE_EVERY` it returns 0 without communicating."""
        if self.parallel.size == 1:
            return self.signum
        if step is not None and step % AGREE_EVERY:
            return 0
        return int(self.parallel.max(self.signum))
