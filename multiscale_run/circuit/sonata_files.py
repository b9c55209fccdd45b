"""Writers of SONATA node and edge population files (HDF5), as libsonata reads them.

Layout from the SONATA specification (BlueBrain/sonata, docs/SONATA_DEVELOPER_GUIDE.md): one
group ``0`` of attributes per population, ``node_type_id``/``edge_type_id`` set to -1 (no CSV
types), string attributes as variable-length UTF-8. Edge files get their source/target indices
from libsonata's own ``EdgePopulation.write_indices``.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import libsonata
import numpy as np


def _write_attributes(group: h5py.Group, attributes: dict[str, np.ndarray]) -> None:
    for name, values in attributes.items():
        values = np.asarray(values)
        if values.dtype.kind in "UO":
            group.create_dataset(name, data=values.astype(object), dtype=h5py.string_dtype())
        else:
            group.create_dataset(name, data=values)


def write_nodes(
    path: Path,
    population: str,
    attributes: dict[str, np.ndarray],
    n_nodes: int | None = None,
    model_type: str | None = None,
) -> Path:
    """One node population; ``attributes`` maps attribute names to arrays of length n_nodes."""
    if n_nodes is None:
        n_nodes = len(next(iter(attributes.values())))
    with h5py.File(path, "w") as f:
        pop = f.create_group(f"nodes/{population}")
        pop.create_dataset("node_type_id", data=np.full(n_nodes, -1, dtype=np.int64))
        pop.create_dataset("node_group_id", data=np.zeros(n_nodes, dtype=np.uint32))
        pop.create_dataset("node_group_index", data=np.arange(n_nodes, dtype=np.uint64))
        attrs = dict(attributes)
        if model_type is not None:
            attrs.setdefault("model_type", np.array([model_type] * n_nodes))
        _write_attributes(pop.create_group("0"), attrs)
    return Path(path)


def write_edges(
    path: Path,
    population: str,
    source: tuple[str, int],
    target: tuple[str, int],
    source_ids: np.ndarray,
    target_ids: np.ndarray,
    attributes: dict[str, np.ndarray],
) -> Path:
    """One edge population from ``source=(population, n_nodes)`` to ``target=(population, n_nodes)``.

    Edges are stored sorted by target node id (then source), as SONATA tools expect.
    """
    source_ids = np.asarray(source_ids, dtype=np.uint64)
    target_ids = np.asarray(target_ids, dtype=np.uint64)
    order = np.lexsort((source_ids, target_ids))
    n = len(order)
    with h5py.File(path, "w") as f:
        pop = f.create_group(f"edges/{population}")
        src = pop.create_dataset("source_node_id", data=source_ids[order])
        src.attrs["node_population"] = source[0]
        tgt = pop.create_dataset("target_node_id", data=target_ids[order])
        tgt.attrs["node_population"] = target[0]
        pop.create_dataset("edge_type_id", data=np.full(n, -1, dtype=np.int64))
        pop.create_dataset("edge_group_id", data=np.zeros(n, dtype=np.uint32))
        pop.create_dataset("edge_group_index", data=np.arange(n, dtype=np.uint64))
        _write_attributes(pop.create_group("0"), {k: np.asarray(v)[order] for k, v in attributes.items()})
    libsonata.EdgePopulation.write_indices(str(path), population, source[1], target[1])
    return Path(path)
