"""SONATA spike files: every rank's spikes in one file, sorted by time (libsonata's ``SpikeReader``).

One group per population, ``/spikes/<population>/timestamps`` (float64, ms) and ``node_ids``
(uint64), with the enum attribute ``sorting = by_time`` (int8 enum ``none/by_id/by_time``, as
libsonata declares it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

if TYPE_CHECKING:
    from multiscale_run.parallel import Parallel

#: SONATA's spike sorting enum as libsonata declares it (int8 base type)
SPIKE_SORTING = h5py.enum_dtype({"none": 0, "by_id": 1, "by_time": 2}, basetype=np.int8)


def write_spikes(
    path: str | os.PathLike,
    spikes: Mapping[str, tuple[np.ndarray, np.ndarray]],
    parallel: Parallel | None = None,
) -> Path:
    """Write every rank's spikes to one SONATA spike file: one ``/spikes/<population>`` group per
    population of ``spikes``, each sorted by time (ties by node id).

    ``spikes[population] = (node_ids_local, times_local)``: node ``node_ids_local[i]`` of that
    population spiked at ``times_local[i]`` (ms). Every rank names the same populations, in the
    same order. Collective; rank 0 writes.
    """
    path = Path(path)
    mpi = parallel if parallel is not None and parallel.size > 1 else None
    gathered = {}
    for population, (node_ids_local, times_local) in spikes.items():
        node_ids_local = np.asarray(node_ids_local, dtype=np.uint64).ravel()
        times_local = np.asarray(times_local, dtype=np.float64).ravel()
        if node_ids_local.shape != times_local.shape:
            raise ValueError(
                f"spikes of {population}: {node_ids_local.size} node ids but {times_local.size} "
                "times; they must pair up"
            )
        if mpi is None:
            gathered[population] = node_ids_local, times_local
        else:
            gathered[population] = mpi.gatherv(node_ids_local), mpi.gatherv(times_local)
    if mpi is None or mpi.is_root:
        if not all(np.all(np.isfinite(times)) for _, times in gathered.values()):
            raise ValueError("spikes: a spike time is not finite")
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as f:
            for population, (node_ids, times) in gathered.items():
                order = np.lexsort((node_ids, times))
                pop = f.require_group("spikes").create_group(population)
                pop.attrs.create("sorting", 2, dtype=SPIKE_SORTING)
                ts = pop.create_dataset("timestamps", data=times[order], dtype=np.float64)
                ts.attrs["units"] = "ms"
                pop.create_dataset("node_ids", data=node_ids[order], dtype=np.uint64)
    if mpi is not None:
        mpi.barrier()  # the file is complete when any rank returns
    return path
