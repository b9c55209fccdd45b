"""The rank-major column layout of a report file, and the gathers that build it on rank 0.

Columns are laid out rank-major: rank 0's nodes first, then rank 1's, and so on. ``parallel`` is
``None`` when one process writes alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import h5py
import numpy as np

if TYPE_CHECKING:
    from multiscale_run.parallel import Parallel

_CHUNK_VALUES = 2**20  # 4 MiB float32 chunks at most: one frame block of a rank is written whole


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


def column_layout(parallel: Parallel | None, n_nodes_local: int, n_cols_local: int) -> ColumnLayout:
    """This rank's place in the file (collective)."""
    if parallel is None:
        return ColumnLayout(0, 0, n_cols_local, (n_cols_local,), n_nodes_local, n_cols_local)
    pairs = parallel.allgather((n_nodes_local, n_cols_local))
    nodes = [p[0] for p in pairs]
    cols = [p[1] for p in pairs]
    return ColumnLayout(
        node_offset=sum(nodes[: parallel.rank]),
        column_offset=sum(cols[: parallel.rank]),
        n_columns_local=n_cols_local,
        n_columns_by_rank=tuple(cols),
        n_nodes=sum(nodes),
        n_columns=sum(cols),
    )


def gather_rank_major(parallel: Parallel | None, local: np.ndarray) -> np.ndarray | None:
    """Concatenate a 1-D array over ranks in rank order, on rank 0 only."""
    if parallel is None:
        return local
    parts = parallel.gather(local)
    return np.concatenate(parts) if parts is not None else None


def gather_block(
    parallel: Parallel, block: np.ndarray, n_columns_by_rank: tuple[int, ...]
) -> np.ndarray | None:
    """Rank 0 receives every rank's ``[k, n_local]`` block as one ``[k, n_columns]`` array."""
    k = block.shape[0]
    cols = np.asarray(n_columns_by_rank, dtype=np.int64)
    recv = parallel.gatherv(np.asarray(block, dtype=np.float32), counts=k * cols)
    if recv is None:
        return None
    # rank r's block arrives as [k, n_r] in row-major order: place it at its column offset
    out = np.empty((k, int(cols.sum())), dtype=np.float32)
    c = 0
    for n in cols:  # loop over ranks, not cells
        out[:, c : c + n] = recv[k * c : k * (c + n)].reshape(k, n)
        c += n
    return out


def storage_options(n_cols: int, n_frames: int, frames_per_block: int) -> dict:
    """Chunked, allocated now, so later writes never touch the file's metadata layout.

    Chunks span whole frames (full rows, up to 4 MiB): a block of buffered frames is then
    contiguous in the file and written straight from the buffer, as fast as a plain write.
    Unwritten bytes read as zeros: the space is allocated in a fresh file without being written
    (HDF5 ``FILL_TIME_NEVER``), and a new file's unwritten bytes are zeros (POSIX), so no
    second pass writes the zeros themselves. No chunk cache: a written frame goes straight to
    the OS, so ``valid_frames`` can follow it with a single flush.
    """
    if n_cols == 0 or n_frames == 0:
        return {}
    rows = max(1, min(frames_per_block, _CHUNK_VALUES // n_cols))
    cols = min(n_cols, _CHUNK_VALUES // rows)
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    return {"chunks": (rows, cols), "fillvalue": 0.0, "dcpl": dcpl, "rdcc_nbytes": 0}


Driver = Literal["auto", "serial", "mpio", "gather"]


def h5py_has_mpi() -> bool:
    """Whether this h5py was built against parallel HDF5 (``driver="mpio"`` works)."""
    return bool(h5py.get_config().mpi)


def pick_driver(driver: Driver, under_mpi: bool) -> str:
    """The driver a report uses: ``auto`` is ``serial`` on one rank, ``mpio`` under MPI when h5py
    has parallel HDF5, else ``gather`` (rank 0 writes everybody's frames)."""
    if driver not in ("auto", "serial", "mpio", "gather"):
        raise ValueError(f"unknown report driver {driver!r} (auto, serial, mpio or gather)")
    if driver == "auto":
        if not under_mpi:
            return "serial"
        return "mpio" if h5py_has_mpi() else "gather"
    if driver == "mpio" and not h5py_has_mpi():
        raise RuntimeError("driver='mpio' needs h5py built with parallel HDF5 (HDF5_MPI=ON)")
    if driver == "serial" and under_mpi:
        raise ValueError("driver='serial' is for single-rank runs; use 'gather' or 'mpio' under MPI")
    if not under_mpi:
        return "serial"  # one rank: mpio and gather degenerate to a plain write
    return driver
