"""One run per output folder, and never a mix of two runs' results in it.

Before a run starts, rank 0 claims ``output_dir``:

* **Lock.** It creates ``output_dir/.msr.lock`` and holds an exclusive ``flock`` on it for the
  whole run; the file names the holder (host, pid, start time). A second ``msr compute`` on the
  folder is refused with that name. The kernel drops the lock when its process dies (even
  ``kill -9``), so a lock file left by a dead run is stale: the next run detects it (the lock
  can be taken), says so and takes over.
* **Earlier results.** A folder holding results of an earlier run (``run.json``, or any SONATA
  report or spike file) is refused unless ``msr compute --overwrite``; then every result file of
  the earlier run is removed before the new run writes, so no report of the old run stays beside
  the new ones (a report dropped from the config included). Overwriting was chosen over numbered
  run folders because SONATA readers (bluepysnap, libsonata through the config) look for the
  results in the config's ``output_dir``; keep a run by copying its folder or by setting another
  ``output.output_dir``.

Every rank learns the verdict (one broadcast), so a refusal ends all ranks alike.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import socket
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from multiscale_run.checkpoints.store import CHECKPOINT_DIR
from multiscale_run.errors import OutputError, UserError
from multiscale_run.output_errors import describe
from multiscale_run.parallel import Parallel

log = logging.getLogger(__name__)

LOCK_NAME = ".msr.lock"
#: Files every run writes besides its reports and spikes.
RUN_FILES = ("run.json", "timings.json", "excluded_neurons.csv", "postproc.html")


def _is_result(path: Path) -> bool:
    """A SONATA report or spike file (HDF5 with a /report or /spikes group)."""
    import h5py

    if path.suffix != ".h5" or not path.is_file():
        return False
    try:
        with h5py.File(path, "r") as f:
            return "report" in f or "spikes" in f
    except OSError:
        return False  # not HDF5, or a truncated file of a killed run: not ours to judge


def earlier_results(output_dir: Path) -> list[Path]:
    """Result files of an earlier run in ``output_dir`` (its snapshot folder included)."""
    if not output_dir.is_dir():
        return []
    found = [output_dir / name for name in RUN_FILES if (output_dir / name).is_file()]
    snapshots = [output_dir / CHECKPOINT_DIR] if (output_dir / CHECKPOINT_DIR).is_dir() else []
    return found + sorted(p for p in output_dir.glob("*.h5") if _is_result(p)) + snapshots


class OutputLock:
    """The held lock of one output folder (rank 0 only); :meth:`release` ends it."""

    def __init__(self, output_dir: Path):
        self.path = output_dir / LOCK_NAME
        self._stream = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        stream = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 (held for the run)
        try:
            fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            stream.seek(0)
            holder = stream.read().strip() or "another process"
            stream.close()
            raise UserError(
                f"the output folder is in use by {holder}; wait for that run to end, or set another "
                "output.output_dir",
                str(self.path.parent),
            ) from None
        stream.seek(0)
        stale = stream.read().strip()
        if stale:
            log.warning("removing the stale lock of a run that ended without releasing it: %s", stale)
        stream.seek(0)
        stream.truncate()
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        stream.write(f"msr compute pid {os.getpid()} on host {socket.gethostname()} since {started}")
        stream.flush()
        self._stream = stream

    def release(self) -> None:
        if self._stream is not None:
            self.path.unlink(missing_ok=True)
            fcntl.flock(self._stream, fcntl.LOCK_UN)
            self._stream.close()
            self._stream = None


def _claim(output_dir: Path, overwrite: bool, resume: bool) -> tuple[OutputLock, str | None]:
    """Rank 0's part: the lock, then the earlier results (refused, removed, or continued)."""
    lock = OutputLock(output_dir)
    try:
        lock.acquire()
    except UserError as exc:
        return lock, str(exc)
    if resume:
        return lock, None  # the resumed run continues them
    earlier = earlier_results(output_dir)
    if earlier and not overwrite:
        lock.release()
        status = ""
        with contextlib.suppress(OSError, ValueError, AttributeError):
            status = f" (status {json.loads((output_dir / 'run.json').read_text())['status']!r})"
        return lock, (
            f"{output_dir}: holds the results of an earlier run{status}: {len(earlier)} file(s), e.g. "
            f"{earlier[0].name}; rerun with --overwrite to replace them, --resume to continue from its "
            "newest snapshot, or set another output.output_dir"
        )
    for path in earlier:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    if earlier:
        log.info("removed %d result file(s) of the earlier run in %s", len(earlier), output_dir)
    return lock, None


@contextlib.contextmanager
def claimed_output(
    output_dir: Path, parallel: Parallel, overwrite: bool = False, resume: bool = False
) -> Iterator[None]:
    """Hold ``output_dir`` for the run (see the module docstring); collective."""
    lock, refusal, failure = None, None, None
    if parallel.is_root:
        try:
            lock, refusal = _claim(output_dir, overwrite, resume)
        except OSError as exc:  # read-only, full or vanished: every rank must learn it
            failure = describe(exc, output_dir)
    refusal, failure = parallel.comm.bcast((refusal, failure), root=0)
    if failure is not None:
        raise OutputError(failure)
    if refusal is not None:
        raise UserError(refusal)
    try:
        yield
    finally:
        if lock is not None:
            lock.release()
