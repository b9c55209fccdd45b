"""The population groups of a SONATA element report (``/report/<population>``): which of a rank's
nodes and columns each holds, and their creation in the file (:mod:`.element_report`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import h5py
import numpy as np

from multiscale_run.output.frames import VALID_FRAMES_ATTR
from multiscale_run.output.layout import ColumnLayout, column_layout, storage_options

if TYPE_CHECKING:
    from multiscale_run.output.element_report import ReportWriter


@dataclass
class Part:
    """One population group of a report: this rank's nodes and columns in it, its layout."""

    name: str
    nodes: slice  # of this rank's nodes
    columns: slice  # of this rank's columns
    layout: ColumnLayout
    ids_sorted: bool = False
    data: h5py.Dataset | None = None  # its data set, where this process has the file open


def population_parts(mpi, population, node_population_local, counts: np.ndarray) -> list[Part]:
    """The population groups of the file and this rank's nodes and columns in each (collective
    over ``mpi``, None on one rank: each group's rank-major layout). ``population`` is one name,
    or a list of them with ``node_population_local`` each local node's index in it."""
    if isinstance(population, str):
        names, index = [population], np.zeros(len(counts), dtype=np.int64)
    else:
        names = list(population)
        index = np.asarray(node_population_local, dtype=np.int64).ravel()
        if index.shape != counts.shape or np.any(np.diff(index) < 0):
            raise ValueError("node_population_local: one population index per node, in list order")
    node_bounds = np.searchsorted(index, np.arange(len(names) + 1))
    column_bounds = np.concatenate([[0], np.cumsum(counts)])[node_bounds]
    parts = [
        Part(
            name,
            slice(int(node_bounds[k]), int(node_bounds[k + 1])),
            slice(int(column_bounds[k]), int(column_bounds[k + 1])),
            column_layout(
                mpi, int(node_bounds[k + 1] - node_bounds[k]), int(column_bounds[k + 1] - column_bounds[k])
            ),
        )
        for k, name in enumerate(names)
    ]
    # a population without nodes on any rank gets no group (unless it is the only one)
    return [part for part in parts if part.layout.n_nodes] or parts[:1]


def create_group(f: h5py.File, part: Part, mapping, attributes: dict, writer: ReportWriter) -> h5py.Dataset:
    """``/report/<population>`` of one part of ``writer``'s file; returns its data set. Creation is
    collective under mpio: every rank declares the same objects; only rank 0 holds (and writes)
    the mapping (node ids, element counts, element ids)."""
    node_ids, counts_all, element_ids = mapping
    n_nodes, n_cols, clock = part.layout.n_nodes, part.layout.n_columns, writer.clock
    pop = f.require_group("report").create_group(part.name)
    for key, value in attributes.items():
        pop.attrs[key] = value
    group = pop.create_group("mapping")
    ds_nodes = group.create_dataset("node_ids", (n_nodes,), dtype=np.uint64)
    ds_ptr = group.create_dataset("index_pointers", (n_nodes + 1,), dtype=np.uint64)
    ds_elem = group.create_dataset("element_ids", (n_cols,), dtype=np.uint32)
    ds_time = group.create_dataset("time", (3,), dtype=np.float64)
    ds_time.attrs["units"] = "ms"
    ds_nodes.attrs["sorted"] = np.uint8(part.ids_sorted)
    data = pop.create_dataset(
        "data",
        (clock.n_frames, n_cols),
        dtype=np.float32,
        **storage_options(n_cols, clock.n_frames, writer.frames_per_block),
    )
    data.attrs["units"] = writer.units
    data.attrs[VALID_FRAMES_ATTR] = np.int64(0)
    if writer.rank == 0:
        ds_nodes[...] = node_ids
        ds_ptr[...] = np.concatenate([[0], np.cumsum(counts_all)]).astype(np.uint64)
        ds_elem[...] = element_ids
        ds_time[...] = [clock.start_ms, clock.stop_ms, clock.dt_ms]
    return data
