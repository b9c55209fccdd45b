"""SONATA element reports, written collectively by every MPI rank.

Layout (SONATA "Simulation output" spec, as read by libsonata's ``ElementReportReader`` and
``SpikeReader``; https://github.com/AllenInstitute/sonata/blob/master/docs/SONATA_DEVELOPER_GUIDE.md;
spikes: :mod:`.spikes`):

* ``/report/<population>/data``: float32 ``[frames, elements]``, attribute ``units``;
* ``/report/<population>/mapping/node_ids`` (uint64, one per node), ``index_pointers`` (uint64,
  nodes + 1: node ``i`` owns columns ``index_pointers[i]:index_pointers[i+1]``), ``element_ids``
  (uint32, one per column) and ``time = [start, stop, dt]`` in ms (attribute ``units = "ms"``),
  right-open: libsonata counts frames as ``t = start; t < stop - 1e-6; t += dt``.

Every report is created at start with its full shape, allocated and filled with zeros, so that
writing frames later never changes the file's metadata layout: a run killed with ``kill -9``
leaves a readable file. The attribute ``valid_frames`` on ``data`` counts the frames on disk; it is
raised only after the frames themselves are flushed, so it never claims more than is there.

A report over cells of several node populations holds one such group per population, each with
its own nodes, elements and data (libsonata opens each by its population name).

Within a population, columns are laid out rank-major: rank 0's nodes first, then rank 1's, and
so on; the ``node_ids`` mapping says which node each column block belongs to (libsonata sorts it
itself).
Each rank buffers a bounded number of frames (memory does not grow with the run's length) and
writes them as one block through HDF5's MPI-IO driver when h5py was built with MPI, or sends them
to rank 0, which writes for everyone, when it was not.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from multiscale_run.output.frames import VALID_FRAMES_ATTR, FrameClock
from multiscale_run.output.layout import (
    Driver,
    _elements_per_node,
    gather_block,
    gather_rank_major,
    pick_driver,
)
from multiscale_run.output.report_groups import create_group, population_parts
from multiscale_run.output.report_resume import continue_file, copy_frames, resume_mode

if TYPE_CHECKING:
    from multiscale_run.parallel import Parallel

log = logging.getLogger(__name__)

_DEFAULT_BUFFER_BYTES = 4 * 2**20  # per report and rank


class ReportWriter:
    """One SONATA element report file, written collectively by every rank of ``parallel``.

    ``node_ids_local`` are this rank's nodes (0-based SONATA node ids), ``elements_per_node_local``
    their element counts (an int for all, or one per node: 1 for per-neuron values);
    ``record(t_ms, values_local)`` takes this rank's values, node after node, elements of a node
    contiguous. ``population`` names their population, or lists several: then
    ``node_population_local[i]`` is the index in that list of node ``i``'s population (local
    nodes grouped by population, in list order) and the file holds one group per population
    that has nodes on some rank. Every rank calls every method at the same simulated times (``record`` and
    ``flush`` are collective).

    ``resume_frames``: continue the existing file of an earlier run whose first ``resume_frames``
    frames are kept (a resumed run, :mod:`multiscale_run.checkpoints`); if the window grew or
    shrank (``run.tstop`` changed), the file is rewritten at its new size with those frames.

    ``driver``: ``"auto"`` picks ``serial`` on one rank, ``mpio`` under MPI when h5py has parallel
    HDF5, else ``gather`` (rank 0 writes everybody's frames). ``buffer_bytes`` bounds each rank's
    frame buffer; ``flush_interval_s`` bounds how stale the file may get in wall time.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        population: str,
        node_ids_local: np.ndarray,
        elements_per_node_local: int | np.ndarray,
        start_ms: float,
        end_ms: float,
        dt_ms: float,
        units: str,
        parallel: Parallel | None = None,
        *,
        driver: Driver = "auto",
        buffer_bytes: int = _DEFAULT_BUFFER_BYTES,
        flush_interval_s: float = 30.0,
        attributes: Mapping[str, str | float | int] | None = None,
        element_ids_local: np.ndarray | None = None,
        resume_frames: int | None = None,
        node_population_local: np.ndarray | None = None,
    ):
        self.path = Path(path)
        self.units = units
        self.parallel = parallel
        self.clock = FrameClock.from_window(start_ms, end_ms, dt_ms)
        self.flush_interval_s = float(flush_interval_s)
        # one rank writes alone (serial HDF5) unless MPI-IO was asked for explicitly
        use_comm = parallel is not None and (parallel.size > 1 or driver == "mpio")
        self._mpi = parallel if use_comm else None
        self.rank = parallel.rank if self._mpi is not None else 0
        self.driver = pick_driver(driver, self._mpi is not None)
        self._global_slice: slice | None = None
        self._n_global_values: int | None = None

        node_ids_local = np.asarray(node_ids_local, dtype=np.uint64).ravel()
        counts = _elements_per_node(elements_per_node_local, node_ids_local.size)
        if element_ids_local is None:
            # element k of a node is its k-th value (segment index, 0 for a soma or a whole neuron)
            starts = np.repeat(np.cumsum(counts) - counts, counts)
            element_ids_local = np.arange(int(counts.sum()), dtype=np.int64) - starts
        element_ids_local = np.asarray(element_ids_local, dtype=np.uint32).ravel()
        if element_ids_local.size != counts.sum():
            raise ValueError("element_ids_local must have one id per element")
        self.n_columns_local = int(counts.sum())
        self.parts = population_parts(self._mpi, population, node_population_local, counts)

        # frames wait here until a block is written; its size bounds memory whatever tstop is
        by_rank = np.sum([part.layout.n_columns_by_rank for part in self.parts], axis=0)
        n_cols_max = int(max(by_rank, default=0))
        row_bytes = 4 * max(n_cols_max, 1)
        self.frames_per_block = max(1, min(self.clock.n_frames, int(buffer_bytes) // row_bytes))
        self._buffer = np.zeros((self.frames_per_block, self.n_columns_local), dtype=np.float32)
        self._buffered = 0  # frames in the buffer
        self._flushed = 0  # frames on disk (== valid_frames)
        self._last_flush_wall = time.monotonic()
        self._warned_hold = False
        self._file: h5py.File | None = None
        self.closed = False

        self._create(node_ids_local, counts, element_ids_local, dict(attributes or {}), resume_frames)

    @classmethod
    def for_global_space(
        cls,
        path: str | os.PathLike,
        population: str,
        n_elements: int,
        start_ms: float,
        end_ms: float,
        dt_ms: float,
        units: str,
        parallel: Parallel | None = None,
        **kwargs,
    ) -> ReportWriter:
        """A report over a global space (tets, vessels): node id = element index, one value each.

        Every rank holds the whole vector; each writes one contiguous share of it, so
        ``record`` accepts either the full vector or this rank's share.
        """
        size = parallel.size if parallel is not None else 1
        rank = parallel.rank if parallel is not None else 0
        bounds = np.linspace(0, n_elements, size + 1).round().astype(np.int64)
        share = slice(int(bounds[rank]), int(bounds[rank + 1]))
        writer = cls(
            path,
            population,
            np.arange(share.start, share.stop),
            1,
            start_ms,
            end_ms,
            dt_ms,
            units,
            parallel,
            **kwargs,
        )
        writer._global_slice = share
        writer._n_global_values = int(n_elements)
        return writer

    # -- setup -----------------------------------------------------------------------------------

    @property
    def population(self) -> str:
        """The report's population (the first one of a report over several)."""
        return self.parts[0].name

    def _create(self, node_ids_local, counts, element_ids_local, attributes, resume_frames=None) -> None:
        mappings = []
        problem = None
        for part in self.parts:
            cols = part.columns
            node_ids = gather_rank_major(self._mpi, node_ids_local[part.nodes])
            counts_all = gather_rank_major(self._mpi, counts[part.nodes])
            element_ids = gather_rank_major(self._mpi, element_ids_local[cols])
            mappings.append((node_ids, counts_all, element_ids))
            # the "sorted" flag spares libsonata from sorting its node index when it opens the file
            if self.rank == 0:
                ordered = np.sort(node_ids)
                if problem is None and np.any(ordered[1:] == ordered[:-1]):
                    problem = f"report {self.path.name}: a node id is reported twice (by one or more ranks)"
                part.ids_sorted = bool(np.all(np.diff(node_ids.astype(np.int64)) > 0))
        if self.rank == 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._mpi is not None:
            # every rank learns the verdict (no rank left waiting); the folder now exists for all
            flags, problem = self._mpi.bcast(([part.ids_sorted for part in self.parts], problem))
            for part, flag in zip(self.parts, flags, strict=True):
                part.ids_sorted = flag
        if problem:
            raise ValueError(problem)

        earlier = None
        if resume_frames is None:
            mode = "w"
        else:
            mode, earlier = resume_mode(
                self, [(node_ids, element_ids) for node_ids, _, element_ids in mappings]
            )
        f = self._open(mode)
        if mode == "r+":
            continue_file(self, f, int(resume_frames))
            return
        if f is not None:
            for part, mapping in zip(self.parts, mappings, strict=True):
                part.data = create_group(f, part, mapping, attributes, self)
            f.flush()
            self._file = f
        if earlier is not None:
            copy_frames(self, earlier, int(resume_frames))
        log.debug(
            "report %s: %d frames x %s columns, driver %s, %d frames per block",
            self.path,
            self.clock.n_frames,
            "+".join(str(part.layout.n_columns) for part in self.parts),
            self.driver,
            self.frames_per_block,
        )

    def _open(self, mode: str) -> h5py.File | None:
        if self.driver == "mpio":
            return h5py.File(self.path, mode, driver="mpio", comm=self._mpi.comm)
        return h5py.File(self.path, mode) if self.rank == 0 else None

    # -- recording -------------------------------------------------------------------------------

    @property
    def n_frames(self) -> int:
        return self.clock.n_frames

    @property
    def frames_recorded(self) -> int:
        """Frames recorded so far (written or still buffered)."""
        return self._flushed + self._buffered

    @property
    def frames_written(self) -> int:
        """Frames on disk (the file's ``valid_frames``)."""
        return self._flushed

    def due(self, t_ms: float) -> bool:
        """Whether ``t_ms`` reached the next frame to record (same answer on every rank)."""
        nxt = self.frames_recorded
        return nxt < self.clock.n_frames and self.clock.last_frame_at(t_ms) >= nxt

    def record(self, t_ms: float, values_local: np.ndarray) -> int:
        """Record this rank's values as the frame(s) due at ``t_ms``; returns how many frames.

        If the caller steps past several frames at once (report dt smaller than the simulator's),
        each skipped frame holds the latest values (sample and hold). Collective.
        """
        self._check_open()
        values = np.asarray(values_local)
        if self._global_slice is not None and values.shape == (self._n_global_values,):
            values = values[self._global_slice]
        if values.shape != (self.n_columns_local,):
            expected = (self.n_columns_local,)
            raise ValueError(f"report {self.path.name}: got {values.shape} values, expected {expected}")
        last = self.clock.last_frame_at(t_ms)
        n_new = last - self.frames_recorded + 1
        if n_new <= 0:
            return 0
        if n_new > 1 and not self._warned_hold:
            self._warned_hold = True
            log.warning(
                "report %s: t=%g ms skips %d frames; they hold the latest values (report dt %g ms is "
                "smaller than the recorded simulator's step)",
                self.path.name,
                t_ms,
                n_new - 1,
                self.clock.dt_ms,
            )
        self._append(np.broadcast_to(values, (n_new, values.size)))
        return n_new

    def record_frames(self, frames_local: np.ndarray) -> int:
        """Record several consecutive frames at once: row ``i`` of ``frames_local`` (frames x this
        rank's columns) is frame ``frames_recorded + i``. Collective; returns how many frames."""
        self._check_open()
        frames = np.asarray(frames_local)
        free = self.clock.n_frames - self.frames_recorded
        if frames.ndim != 2 or frames.shape[1] != self.n_columns_local or len(frames) > free:
            expected = f"(<= {free}, {self.n_columns_local})"
            raise ValueError(f"report {self.path.name}: frames of shape {frames.shape}, expected {expected}")
        if len(frames):
            self._append(frames)
        return len(frames)

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError(f"report {self.path} is closed")

    def _append(self, frames: np.ndarray) -> None:
        """Buffer whole frames, writing each block as it fills, the rest when the flush interval has
        passed or the report is complete."""
        done = 0
        while done < len(frames):
            take = min(len(frames) - done, self.frames_per_block - self._buffered)
            self._buffer[self._buffered : self._buffered + take] = frames[done : done + take]
            self._buffered += take
            done += take
            if self._buffered == self.frames_per_block:
                self._write_block()
        if self._buffered and self._interval_elapsed():
            self._write_block()
        if self.frames_recorded == self.clock.n_frames and self._buffered:
            self._write_block()

    def _interval_elapsed(self) -> bool:
        """Rank 0's wall clock decides, so that every rank flushes together."""
        elapsed = time.monotonic() - self._last_flush_wall >= self.flush_interval_s
        if self._mpi is not None:
            elapsed = self._mpi.bcast(elapsed)
        return elapsed

    def flush(self) -> None:
        """Write every buffered frame and update ``valid_frames``. Collective."""
        if self._buffered:
            self._write_block()

    def _write_block(self) -> None:
        f0, k = self._flushed, self._buffered
        for part in self.parts:
            block = self._buffer[:k, part.columns]
            if self.driver == "mpio":
                c0, n = part.layout.column_offset, part.layout.n_columns_local
                if n:
                    part.data[f0 : f0 + k, c0 : c0 + n] = block
                continue
            by_rank = part.layout.n_columns_by_rank
            rows = block if self._mpi is None else gather_block(self._mpi, block, by_rank)
            if rows is not None and rows.size:
                self._write_rows(part.data, f0, rows)
        self._flushed += k
        self._buffered = 0
        self._commit_valid_frames()
        self._last_flush_wall = time.monotonic()

    @staticmethod
    def _write_rows(data: h5py.Dataset, f0: int, rows: np.ndarray) -> None:
        """Write whole frames from one process; a block that is exactly one chunk skips HDF5's
        selection machinery (``H5Dwrite_chunk``), which brings it level with a plain write."""
        chunks = data.chunks
        if chunks is not None and rows.shape == chunks and f0 % chunks[0] == 0:
            data.id.write_direct_chunk((f0, 0), np.ascontiguousarray(rows))
        else:
            data[f0 : f0 + rows.shape[0], :] = rows

    def _commit_valid_frames(self) -> None:
        """Say the frames are there once they are: raw data bypass HDF5's caches (no chunk cache),
        so they reached the OS before the attribute does, in this flush (crash-safe order)."""
        if self._file is None:
            return
        for part in self.parts:
            part.data.attrs.modify(VALID_FRAMES_ATTR, np.int64(self._flushed))
        self._file.flush()

    def close(self) -> None:
        """Flush and close the file. Collective; calling it twice is harmless."""
        if self.closed:
            return
        self.flush()
        if self._file is not None:
            self._file.close()
        self._file = None
        for part in self.parts:
            part.data = None
        self.closed = True

    def __enter__(self) -> ReportWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
