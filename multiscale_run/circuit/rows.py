"""Reading chosen rows of an HDF5 dataset without reading the others: each rank reads the
attributes of its own cells and of the edges onto them, not the whole circuit.

Numbers are read in one HDF5 read of a point selection; variable-length strings run by run
(runs of consecutive rows).
"""

from __future__ import annotations

import h5py
import numpy as np


def runs(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, stops) of the maximal runs of consecutive values of sorted unique ``rows``."""
    rows = np.asarray(rows, dtype=np.int64)
    if not len(rows):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    return rows[np.r_[0, breaks]], rows[np.r_[breaks - 1, len(rows) - 1]] + 1


def _read_points(ds: h5py.Dataset, rows: np.ndarray) -> np.ndarray:
    """``ds[rows]`` for sorted unique ``rows``: a slice when they are one run, else one HDF5 read
    of a point selection (``H5Sselect_elements``; faster than a union of many hyperslabs)."""
    if not len(rows):
        return np.empty((0, *ds.shape[1:]), dtype=ds.dtype)
    if int(rows[-1] - rows[0]) + 1 == len(rows):
        return ds[int(rows[0]) : int(rows[-1]) + 1]
    width = int(np.prod(ds.shape[1:], dtype=np.int64))
    columns = np.unravel_index(np.arange(width), ds.shape[1:]) if ds.ndim > 1 else ()
    coords = np.column_stack([np.repeat(rows, width), *(np.tile(c, len(rows)) for c in columns)])
    space = ds.id.get_space()
    space.select_elements(coords)
    out = np.empty((len(rows), *ds.shape[1:]), dtype=ds.dtype)
    ds.id.read(h5py.h5s.create_simple(out.shape), space, out)
    return out


def read_rows(ds: h5py.Dataset, rows: np.ndarray, strings: bool = False) -> np.ndarray:
    """``ds[rows]`` along the first axis (``rows`` in any order, repeats allowed), reading only
    those rows; ``strings``: the values decoded as ``str`` (an object array)."""
    rows = np.asarray(rows, dtype=np.int64)
    unique, inverse = np.unique(rows, return_inverse=True)
    if strings:
        starts, stops = runs(unique)
        text = ds.asstr()
        parts = [text[a:b] for a, b in zip(starts.tolist(), stops.tolist(), strict=True)]
        values = (
            np.concatenate([np.asarray(p, dtype=object) for p in parts]) if parts else np.zeros(0, object)
        )
    else:
        values = _read_points(ds, unique)
    return values[inverse]


def expand(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """The integers of the ranges [starts[k], stops[k]), concatenated in order."""
    starts, stops = np.asarray(starts, dtype=np.int64), np.asarray(stops, dtype=np.int64)
    lengths = np.maximum(stops - starts, 0)
    before = np.cumsum(lengths) - lengths  # entries of the earlier ranges
    return np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(starts - before, lengths)


def indexed_edges(index: h5py.Group | None, targets: np.ndarray) -> np.ndarray | None:
    """Sorted ids of the edges onto node ids ``targets`` (sorted, unique) through a SONATA edge
    index group (``indices/target_to_source``), reading the targets' rows only; None without an
    index. Its ``node_id_to_ranges`` (bmtk writes ``node_id_to_range``) row n = [first, end)
    rows of ``range_to_edge_id``, whose rows are [start, stop) edge ids."""
    names = [n for n in ("node_id_to_ranges", "node_id_to_range") if index is not None and n in index]
    if not names or "range_to_edge_id" not in index:
        return None
    nodes = index[names[0]]
    targets = targets[(targets >= 0) & (targets < nodes.shape[0])]
    ranges = read_rows(nodes, targets).reshape(-1, 2).astype(np.int64)
    spans = read_rows(index["range_to_edge_id"], expand(ranges[:, 0], ranges[:, 1])).reshape(-1, 2)
    return np.sort(expand(spans[:, 0].astype(np.int64), spans[:, 1].astype(np.int64)))


def read_dataset(group: h5py.Group, name: str, rows: np.ndarray | None = None) -> np.ndarray:
    """SONATA dataset ``name`` of ``group`` (only ``rows`` when given): strings decoded, ``@library``
    enumerations (indices into ``@library/<name>``) resolved."""
    ds = group[name]
    library = group.get(f"@library/{name}")
    if library is not None:
        strings = np.asarray(library.asstr()[()], dtype=object)
        return strings[ds[()] if rows is None else read_rows(ds, rows)]
    text = h5py.check_string_dtype(ds.dtype) is not None
    if rows is not None:
        return read_rows(ds, rows, strings=text)
    return np.asarray(ds.asstr()[()], dtype=object) if text else ds[()]
