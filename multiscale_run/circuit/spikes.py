"""SONATA spike files (``/spikes/<population>/{timestamps,node_ids}``), as libsonata reads them.

Layout from the SONATA specification (BlueBrain/sonata, docs/SONATA_DEVELOPER_GUIDE.md, "Spike
file"): timestamps in ms (float64, attribute ``units``), node_ids uint64, and the group attribute
``sorting`` (an HDF5 enum none/by_id/by_time).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

_SORTING = h5py.enum_dtype({"none": 0, "by_id": 1, "by_time": 2}, basetype="u1")


def write_spike_file(path: Path, spikes: dict[str, tuple[np.ndarray, np.ndarray]]) -> Path:
    """Write ``{population: (node_ids, times_ms)}``, each population sorted by time then id."""
    path = Path(path)
    with h5py.File(path, "w") as f:
        for population, (node_ids, times_ms) in spikes.items():
            node_ids = np.asarray(node_ids, dtype=np.uint64)
            times_ms = np.asarray(times_ms, dtype=np.float64)
            order = np.lexsort((node_ids, times_ms))
            group = f.create_group(f"spikes/{population}")
            group.attrs.create("sorting", 2, dtype=_SORTING)
            ts = group.create_dataset("timestamps", data=times_ms[order])
            ts.attrs["units"] = "ms"
            group.create_dataset("node_ids", data=node_ids[order])
    return path
