"""SONATA element reports and spike files, written collectively by every MPI rank.

Layout (SONATA "Simulation output" spec, as read by libsonata's ``ElementReportReader`` and
``SpikeReader``; https://github.com/AllenInstitute/sonata/blob/master/docs/SONATA_DEVELOPER_GUIDE.md):

* ``/report/<population>/data``: float32 ``[frames, elements]``, attribute ``units``;
* ``/report/<population>/mapping/node_ids`` (uint64, one per node), ``index_pointers`` (uint64,
  nodes + 1: node ``i`` owns columns ``index_pointers[i]:index_pointers[i+1]``), ``element_ids``
  (uint32, one per column) and ``time = [start, stop, dt]`` in ms (attribute ``units = "ms"``),
  right-open: libsonata counts frames as ``t = start; t < stop - 1e-6; t += dt``;
* ``/spikes/<population>/timestamps`` (float64, ms) and ``node_ids`` (uint64), sorted by time,
  with the enum attribute ``sorting = by_time`` (int8 enum ``none/by_id/by_time``, as libsonata's
  reader declares it).

Every report is created at start with its full shape, allocated and filled with zeros, so that
writing frames later never changes the file's metadata layout: a run killed with ``kill -9``
leaves a readable file. The attribute ``valid_frames`` on ``data`` counts the frames on disk; it is
raised only after the frames themselves are flushed, so it never claims more than is there.

Columns are laid out rank-major: rank 0's nodes first, then rank 1's, and so on; the
``node_ids`` mapping says which node each column block belongs to (libsonata sorts it itself).
Each rank buffers a bounded number of frames (memory does not grow with the run's length) and
writes them as one block through HDF5's MPI-IO driver when h5py was built with MPI, or sends them
to rank 0, which writes for everyone, when it was not.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import h5py
import numpy as np

if TYPE_CHECKING:
    from multiscale_run.parallel import Parallel

log = logging.getLogger(__name__)

#: attribute on ``/report/<population>/data`` counting the frames written so far
VALID_FRAMES_ATTR = "valid_frames"
#: SONATA's spike sorting enum as libsonata declares it (int8 base type)
SPIKE_SORTING = h5py.enum_dtype({"none": 0, "by_id": 1, "by_time": 2}, basetype=np.int8)
#: libsonata's time tolerance (ms) when it counts frames from ``mapping/time``
_SONATA_EPSILON_MS = 1e-6
_DEFAULT_BUFFER_BYTES = 4 * 2**20  # per report and rank
_CHUNK_VALUES = 2**20  # 4 MiB float32 chunks at most: one frame block of a rank is written whole

Driver = Literal["auto", "serial", "mpio", "gather"]


def h5py_has_mpi() -> bool:
    """Whether this h5py was built against parallel HDF5 (``driver="mpio"`` works)."""
    return bool(h5py.get_config().mpi)


@dataclass(frozen=True)
class FrameClock:
    """The report's time axis: frame ``i`` holds the state at ``start_ms + i * dt_ms``.

    Right-open like SONATA's ``mapping/time``: the frames are the times ``t`` with
    ``start_ms <= t < end_ms``.
    """

    start_ms: float
    dt_ms: float
    n_frames: int

    @classmethod
    def from_window(cls, start_ms: float, end_ms: float, dt_ms: float) -> FrameClock:
        if not (dt_ms > 10 * _SONATA_EPSILON_MS and math.isfinite(dt_ms)):
            raise ValueError(f"report dt_ms must be a finite number > 1e-5 ms, got {dt_ms}")
        if not (math.isfinite(start_ms) and math.isfinite(end_ms)) or start_ms < 0:
            raise ValueError(f"report window must be finite and start at t >= 0, got [{start_ms}, {end_ms})")
        if end_ms < start_ms:
            raise ValueError(f"report end_ms ({end_ms}) is before start_ms ({start_ms})")
        # frames t_i = start + i*dt with t_i < end; the tolerance absorbs float noise in end - start
        n = math.ceil((end_ms - start_ms) / dt_ms - 1e-9)
        return cls(float(start_ms), float(dt_ms), max(n, 0))

    @property
    def stop_ms(self) -> float:
        """The right-open end written to ``mapping/time`` (``start + n * dt``)."""
        return self.start_ms + self.n_frames * self.dt_ms

    def time_ms(self, frame: int) -> float:
        return self.start_ms + frame * self.dt_ms

    def last_frame_at(self, t_ms: float) -> int:
        """Index of the last frame whose time is ``<= t_ms`` (-1 before the first frame)."""
        k = math.floor((t_ms - self.start_ms) / self.dt_ms + 1e-6)
        return max(-1, min(k, self.n_frames - 1))


def report_window(entry: Mapping, simulator_dt_ms: float, tstop_ms: float) -> tuple[float, float, float]:
    """``(start_ms, end_ms, dt_ms)`` of a configured report (``multiscale_run.<sim>.reports[i]``).

    ``dt_ms`` absent or 0 means the simulator's dt; ``end_ms`` absent or negative means tstop;
    the window is clipped to the run, so that a finished run fills every frame.
    """
    dt_ms = float(entry.get("dt_ms") or simulator_dt_ms)
    start_ms = float(entry.get("start_ms") or 0.0)
    end_raw = entry.get("end_ms")
    end_ms = float(tstop_ms) if end_raw is None or end_raw < 0 else min(float(end_raw), float(tstop_ms))
    return start_ms, max(end_ms, start_ms), dt_ms


@dataclass(frozen=True)
class ColumnLayout:
    """Where one rank's nodes and elements sit in the rank-major file layout."""

    node_offset: int  # first node index of this rank
    column_offset: int  # first data column of this rank
    n_columns_local: int
    n_columns_by_rank: tuple[int, ...]
    n_nodes: int
    n_columns: int


def _elements_per_node(elements_per_node_local: int | np.ndarray, n_nodes: int) -> np.ndarray:
    counts = np.asarray(elements_per_node_local, dtype=np.int64)
    if counts.ndim == 0:
        counts = np.full(n_nodes, int(counts), dtype=np.int64)
    if counts.shape != (n_nodes,):
        raise ValueError(
            f"elements_per_node_local has shape {counts.shape}, expected an int or one count per node "
            f"({n_nodes})"
        )
    if np.any(counts < 1):
        raise ValueError("every reported node needs at least one element")
    return counts


class ReportWriter:
    """One SONATA element report file, written collectively by every rank of ``parallel``.

    ``node_ids_local`` are this rank's nodes (0-based SONATA node ids), ``elements_per_node_local``
    their element counts (an int for all, or one per node: 1 for per-neuron values);
    ``record(t_ms, values_local)`` takes this rank's values, node after node, elements of a node
    contiguous. Every rank calls every method at the same simulated times (``record`` and
    ``flush`` are collective).

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
    ):
        self.path = Path(path)
        self.population = population
        self.units = units
        self.parallel = parallel
        self.clock = FrameClock.from_window(start_ms, end_ms, dt_ms)
        self.flush_interval_s = float(flush_interval_s)
        # one rank writes alone (serial HDF5) unless MPI-IO was asked for explicitly
        use_comm = parallel is not None and (parallel.size > 1 or driver == "mpio")
        self._mpi = parallel if use_comm else None
        self._rank = parallel.rank if self._mpi is not None else 0
        self.driver = self._pick_driver(driver)
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
        self.layout = self._layout(node_ids_local.size, int(counts.sum()))

        # frames wait here until a block is written; its size bounds memory whatever tstop is
        n_cols_max = max(self.layout.n_columns_by_rank, default=0)
        row_bytes = 4 * max(n_cols_max, 1)
        self._frames_per_block = max(1, min(self.clock.n_frames, int(buffer_bytes) // row_bytes))
        self._buffer = np.zeros((self._frames_per_block, self.layout.n_columns_local), dtype=np.float32)
        self._buffered = 0  # frames in the buffer
        self._flushed = 0  # frames on disk (== valid_frames)
        self._last_flush_wall = time.monotonic()
        self._warned_hold = False
        self._file: h5py.File | None = None
        self._data: h5py.Dataset | None = None
        self.closed = False

        self._create(node_ids_local, counts, element_ids_local, dict(attributes or {}))

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

    def _pick_driver(self, driver: Driver) -> str:
        if driver not in ("auto", "serial", "mpio", "gather"):
            raise ValueError(f"unknown report driver {driver!r} (auto, serial, mpio or gather)")
        if driver == "auto":
            if self._mpi is None:
                return "serial"
            return "mpio" if h5py_has_mpi() else "gather"
        if driver == "mpio" and not h5py_has_mpi():
            raise RuntimeError("driver='mpio' needs h5py built with parallel HDF5 (HDF5_MPI=ON)")
        if driver == "serial" and self._mpi is not None:
            raise ValueError("driver='serial' is for single-rank runs; use 'gather' or 'mpio' under MPI")
        if self._mpi is None:
            return "serial"  # one rank: mpio and gather degenerate to a plain write
        return driver

    def _layout(self, n_nodes_local: int, n_cols_local: int) -> ColumnLayout:
        if self._mpi is None:
            return ColumnLayout(0, 0, n_cols_local, (n_cols_local,), n_nodes_local, n_cols_local)
        pairs = self._mpi.allgather((n_nodes_local, n_cols_local))
        nodes = [p[0] for p in pairs]
        cols = [p[1] for p in pairs]
        return ColumnLayout(
            node_offset=sum(nodes[: self._rank]),
            column_offset=sum(cols[: self._rank]),
            n_columns_local=n_cols_local,
            n_columns_by_rank=tuple(cols),
            n_nodes=sum(nodes),
            n_columns=sum(cols),
        )

    def _gather_rank_major(self, local: np.ndarray) -> np.ndarray | None:
        """Concatenate a 1-D array over ranks in rank order, on rank 0 only."""
        if self._mpi is None:
            return local
        parts = self._mpi.gather(local)
        return np.concatenate(parts) if parts is not None else None

    def _create(self, node_ids_local, counts, element_ids_local, attributes) -> None:
        node_ids = self._gather_rank_major(node_ids_local)
        counts_all = self._gather_rank_major(counts)
        element_ids = self._gather_rank_major(element_ids_local)
        # the "sorted" flag spares libsonata from sorting its node index when it opens the file
        ids_sorted, problem = False, None
        if self._rank == 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            ordered = np.sort(node_ids)
            if np.any(ordered[1:] == ordered[:-1]):
                problem = f"report {self.path.name}: a node id is reported twice (by one or more ranks)"
            ids_sorted = bool(np.all(np.diff(node_ids.astype(np.int64)) > 0))
        if self._mpi is not None:
            # every rank learns the verdict (no rank left waiting); the folder now exists for all
            ids_sorted, problem = self._mpi.bcast((ids_sorted, problem))
        if problem:
            raise ValueError(problem)

        if self.driver == "mpio":
            f = h5py.File(self.path, "w", driver="mpio", comm=self._mpi.comm)
        elif self._rank == 0:
            f = h5py.File(self.path, "w")
        else:
            f = None
        if f is not None:
            # Creation is collective under mpio: every rank declares the same objects; only rank 0
            # holds (and writes) the mapping arrays.
            n_nodes, n_cols = self.layout.n_nodes, self.layout.n_columns
            pop = f.require_group("report").create_group(self.population)
            for key, value in attributes.items():
                pop.attrs[key] = value
            mapping = pop.create_group("mapping")
            ds_nodes = mapping.create_dataset("node_ids", (n_nodes,), dtype=np.uint64)
            ds_ptr = mapping.create_dataset("index_pointers", (n_nodes + 1,), dtype=np.uint64)
            ds_elem = mapping.create_dataset("element_ids", (n_cols,), dtype=np.uint32)
            ds_time = mapping.create_dataset("time", (3,), dtype=np.float64)
            ds_time.attrs["units"] = "ms"
            ds_nodes.attrs["sorted"] = np.uint8(ids_sorted)
            data = pop.create_dataset(
                "data",
                (self.clock.n_frames, n_cols),
                dtype=np.float32,
                **self._storage_options(n_cols),
            )
            data.attrs["units"] = self.units
            data.attrs[VALID_FRAMES_ATTR] = np.int64(0)
            if self._rank == 0:
                ds_nodes[...] = node_ids
                ds_ptr[...] = np.concatenate([[0], np.cumsum(counts_all)]).astype(np.uint64)
                ds_elem[...] = element_ids
                ds_time[...] = [self.clock.start_ms, self.clock.stop_ms, self.clock.dt_ms]
            f.flush()
            self._file, self._data = f, data
        log.debug(
            "report %s: %d frames x %d columns, driver %s, %d frames per block",
            self.path,
            self.clock.n_frames,
            self.layout.n_columns,
            self.driver,
            self._frames_per_block,
        )

    def _storage_options(self, n_cols: int) -> dict:
        """Chunked, allocated now, so later writes never touch the file's metadata layout.

        Chunks span whole frames (full rows, up to 4 MiB): a block of buffered frames is then
        contiguous in the file and written straight from the buffer, as fast as a plain write.
        Unwritten bytes read as zeros: the space is allocated in a fresh file without being written
        (HDF5 ``FILL_TIME_NEVER``), and a new file's unwritten bytes are zeros (POSIX), so no
        second pass writes the zeros themselves. No chunk cache: a written frame goes straight to
        the OS, so ``valid_frames`` can follow it with a single flush.
        """
        if n_cols == 0 or self.clock.n_frames == 0:
            return {}
        rows = max(1, min(self._frames_per_block, _CHUNK_VALUES // n_cols))
        cols = min(n_cols, _CHUNK_VALUES // rows)
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
        dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
        return {"chunks": (rows, cols), "fillvalue": 0.0, "dcpl": dcpl, "rdcc_nbytes": 0}

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
        if values.shape != (self.layout.n_columns_local,):
            expected = (self.layout.n_columns_local,)
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
        if frames.ndim != 2 or frames.shape[1] != self.layout.n_columns_local or len(frames) > free:
            expected = f"(<= {free}, {self.layout.n_columns_local})"
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
            take = min(len(frames) - done, self._frames_per_block - self._buffered)
            self._buffer[self._buffered : self._buffered + take] = frames[done : done + take]
            self._buffered += take
            done += take
            if self._buffered == self._frames_per_block:
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
        block = self._buffer[:k]
        if self.driver == "mpio":
            c0, n = self.layout.column_offset, self.layout.n_columns_local
            if n:
                self._data[f0 : f0 + k, c0 : c0 + n] = block
        else:
            rows = block if self._mpi is None else self._gather_block(block)
            if rows is not None and rows.size:
                self._write_rows(f0, rows)
        self._flushed += k
        self._buffered = 0
        self._commit_valid_frames()
        self._last_flush_wall = time.monotonic()

    def _write_rows(self, f0: int, rows: np.ndarray) -> None:
        """Write whole frames from one process; a block that is exactly one chunk skips HDF5's
        selection machinery (``H5Dwrite_chunk``), which brings it level with a plain write."""
        chunks = self._data.chunks
        if chunks is not None and rows.shape == chunks and f0 % chunks[0] == 0:
            self._data.id.write_direct_chunk((f0, 0), np.ascontiguousarray(rows))
        else:
            self._data[f0 : f0 + rows.shape[0], :] = rows

    def _gather_block(self, block: np.ndarray) -> np.ndarray | None:
        """Rank 0 receives every rank's ``[k, n_local]`` block as one ``[k, n_columns]`` array."""
        k = block.shape[0]
        cols = np.asarray(self.layout.n_columns_by_rank, dtype=np.int64)
        recv = self._mpi.gatherv(np.asarray(block, dtype=np.float32), counts=k * cols)
        if recv is None:
            return None
        # rank r's block arrives as [k, n_r] in row-major order: place it at its column offset
        out = np.empty((k, int(cols.sum())), dtype=np.float32)
        c = 0
        for n in cols:  # loop over ranks, not cells
            out[:, c : c + n] = recv[k * c : k * (c + n)].reshape(k, n)
            c += n
        return out

    def _commit_valid_frames(self) -> None:
        """Say the frames are there once they are: raw data bypass HDF5's caches (no chunk cache),
        so they reached the OS before the attribute does, in this flush (crash-safe order)."""
        if self._file is None:
            return
        self._data.attrs.modify(VALID_FRAMES_ATTR, np.int64(self._flushed))
        self._file.flush()

    def close(self) -> None:
        """Flush and close the file. Collective; calling it twice is harmless."""
        if self.closed:
            return
        self.flush()
        if self._file is not None:
            self._file.close()
        self._file = self._data = None
        self.closed = True

    def __enter__(self) -> ReportWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_spikes(
    path: str | os.PathLike,
    population: str,
    node_ids_local: np.ndarray,
    times_local: np.ndarray,
    parallel: Parallel | None = None,
) -> Path:
    """Write every rank's spikes to one SONATA spike file, sorted by time (ties by node id).

    ``node_ids_local[i]`` spiked at ``times_local[i]`` (ms). Collective; rank 0 writes.
    """
    path = Path(path)
    node_ids_local = np.asarray(node_ids_local, dtype=np.uint64).ravel()
    times_local = np.asarray(times_local, dtype=np.float64).ravel()
    if node_ids_local.shape != times_local.shape:
        raise ValueError(
            f"spikes: {node_ids_local.size} node ids but {times_local.size} times; they must pair up"
        )
    mpi = parallel if parallel is not None and parallel.size > 1 else None
    if mpi is None:
        node_ids, times = node_ids_local, times_local
    else:
        node_ids = mpi.gatherv(node_ids_local)
        times = mpi.gatherv(times_local)
    if mpi is None or mpi.is_root:
        if not np.all(np.isfinite(times)):
            raise ValueError("spikes: a spike time is not finite")
        order = np.lexsort((node_ids, times))
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as f:
            pop = f.require_group("spikes").create_group(population)
            pop.attrs.create("sorting", 2, dtype=SPIKE_SORTING)
            ts = pop.create_dataset("timestamps", data=times[order], dtype=np.float64)
            ts.attrs["units"] = "ms"
            pop.create_dataset("node_ids", data=node_ids[order], dtype=np.uint64)
    if mpi is not None:
        mpi.barrier()  # the file is complete when any rank returns
    return path


def read_valid_frames(path: str | os.PathLike, population: str | None = None) -> int:
    """The ``valid_frames`` attribute of a report: how far a (possibly crashed) run's data go."""
    with h5py.File(path, "r") as f:
        pops = list(f["report"])
        pop = population if population is not None else pops[0]
        return int(f["report"][pop]["data"].attrs[VALID_FRAMES_ATTR])
