"""MPI: the communicator, the partition of cells over ranks, collectives, and the abort guard.

This is the only module that imports ``mpi4py``: every collective of the runtime is a method of
:class:`Parallel` (libraries that need the raw communicator, h5py's ``mpio`` driver and PETSc,
get ``Parallel.comm``). Every rank runs the same orchestrator. Cells (and their segments and
metabolism ODEs) are distributed round-robin by node id; tets and vessels are global (identical
on every rank).
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Iterator

import numpy as np
from mpi4py import MPI

log = logging.getLogger(__name__)


class Parallel:
    """A thin wrapper over an mpi4py communicator with the collectives the runtime needs."""

    def __init__(self, comm: MPI.Comm | None = None):
        self.comm = comm if comm is not None else MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def local_cells(self, node_ids: np.ndarray) -> np.ndarray:
        """This rank's share of ``node_ids`` (round-robin over the sorted ids)."""
        ordered = np.sort(np.asarray(node_ids))
        return ordered[self.rank :: self.size]

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Element-wise sum of an array over all ranks (every rank gets the result)."""
        values = np.ascontiguousarray(values, dtype=np.float64)
        out = np.empty_like(values)
        self.comm.Allreduce(values, out, op=MPI.SUM)
        return out

    def total(self, value: float) -> float:
        return float(self.comm.allreduce(value, op=MPI.SUM))

    def any(self, flag: bool) -> bool:
        return bool(self.comm.allreduce(bool(flag), op=MPI.LOR))

    def all(self, flag: bool) -> bool:
        return bool(self.comm.allreduce(bool(flag), op=MPI.LAND))

    def max(self, value: float) -> float:
        return float(self.comm.allreduce(value, op=MPI.MAX))

    def min_max(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Element-wise minimum of ``lo`` and maximum of ``hi`` over ranks (float64 arrays)."""
        lo, hi = np.array(lo, dtype=np.float64), np.array(hi, dtype=np.float64)
        self.comm.Allreduce(MPI.IN_PLACE, lo, op=MPI.MIN)
        self.comm.Allreduce(MPI.IN_PLACE, hi, op=MPI.MAX)
        return lo, hi

    def allgather(self, obj) -> list:
        """Every rank's (picklable) ``obj``, in rank order, on every rank."""
        return self.comm.allgather(obj)

    def gather(self, obj) -> list | None:
        """Every rank's ``obj`` in rank order on rank 0; ``None`` elsewhere."""
        return self.comm.gather(obj, root=0)

    def bcast(self, obj):
        """Rank 0's ``obj`` on every rank."""
        return self.comm.bcast(obj, root=0)

    def barrier(self) -> None:
        self.comm.Barrier()

    def gatherv(self, local: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray | None:
        """Rank-order concatenation of every rank's flat array on rank 0 (buffer-based, no
        pickling); ``None`` elsewhere. ``counts`` (elements per rank) spares a gather when known."""
        local = np.ascontiguousarray(local).ravel()
        if counts is None:
            counts = np.asarray(self.comm.gather(local.size, root=0) or [], dtype=np.int64)
        if self.rank != 0:
            self.comm.Gatherv(local, None, root=0)
            return None
        counts = np.asarray(counts, dtype=np.int64)
        out = np.empty(int(counts.sum()), dtype=local.dtype)
        displs = np.concatenate([[0], np.cumsum(counts)[:-1]]) if counts.size else counts
        self.comm.Gatherv(local, [out, (counts, displs)], root=0)
        return out

    def allgatherv(self, local: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Rank-order concatenation of every rank's flat array (``counts[r]`` elements) on every rank."""
        local = np.ascontiguousarray(local).ravel()
        counts = np.asarray(counts, dtype=np.int64)
        out = np.empty(int(counts.sum()), dtype=local.dtype)
        displs = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.comm.Allgatherv(local, [out, (counts, displs)])
        return out

    def gather_concat(self, values: np.ndarray) -> np.ndarray:
        """Concatenate every rank's 1-D array in rank order; every rank gets the result."""
        parts = self.comm.allgather(np.asarray(values))
        return np.concatenate(parts) if parts else np.asarray(values)


def mpi_library_version() -> str:
    """The MPI library's name and version (e.g. ``Open MPI v4.1.4``)."""
    return MPI.Get_library_version().split(",")[0].strip()


@contextlib.contextmanager
def abort_on_error(parallel: Parallel, verbose: bool = False) -> Iterator[None]:
    """Turn an exception on any rank into one logged message and an abort of every rank.

    Without this, one failing rank leaves the others blocked in the next collective forever.
    User errors (bad input) are raised unchanged in a single-rank run so the CLI can print them;
    under MPI every failure ends the whole job through ``MPI_Abort`` with a non-zero code.
    """
    try:
        yield
    except BaseException as exc:
        from multiscale_run.errors import OutputError, SimulationAborted, UserError
        from multiscale_run.interrupt import RunInterrupted

        # A value-check abort or a signal's stop is agreed on by every rank (collective), so it
        # ends them normally.
        if parallel.size == 1 or isinstance(exc, (SimulationAborted, RunInterrupted)):
            raise

        code = 2 if isinstance(exc, UserError) else 4 if isinstance(exc, OutputError) else 1
        msg = f"rank {parallel.rank}: {type(exc).__name__}: {exc}"
        if verbose:
            msg += "\n" + "".join(traceback.format_exception(exc))
        log.critical("msr: error on %s (aborting all ranks)", msg)
        for handler in logging.getLogger().handlers:
            handler.flush()
        parallel.comm.Abort(code)
