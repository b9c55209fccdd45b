"""SONATA spike files (``/spikes/<population>/{timestamps,node_ids}``): writing them as libsonata
reads them, reading them as SONATA inputs name them (bmtk's files too).

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


def read_spikes(path: Path, population: str, module: str = "sonata") -> tuple[np.ndarray, np.ndarray]:
    """(node ids, times ms) of ``population`` in a spike file, as the SONATA inputs name them:

    - ``sonata``/``h5``: ``/spikes/<population>/{node_ids,timestamps}`` (the ``sorting`` attribute
      is not read: bmtk writes it as a string where the specification says enum), or bmtk's
      older single-population ``/spikes/{gids,timestamps}``;
    - ``csv``: bmtk's space-separated table with columns ``timestamps``, ``population`` and
      ``node_ids`` (rows of other populations are skipped).
    """
    import csv

    from multiscale_run.errors import UserError

    path = Path(path)
    if module == "csv":
        ids, times = [], []
        with open(path, newline="") as f:
            rows = csv.DictReader(f, delimiter=" ", skipinitialspace=True)
            missing = {"timestamps", "node_ids"} - set(rows.fieldnames or [])
            if missing:
                raise UserError(f"spike CSV without columns {sorted(missing)}", str(path))
            for row in rows:
                if row.get("population", population) == population:
                    ids.append(int(row["node_ids"]))
                    times.append(float(row["timestamps"]))
        return np.asarray(ids, np.int64), np.asarray(times, float)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise UserError(f"cannot read spikes: {exc}", str(path)) from None
    with f:
        group = f.get(f"spikes/{population}")
        if group is not None:
            return group["node_ids"][()].astype(np.int64), group["timestamps"][()].astype(float)
        flat = f.get("spikes")
        if flat is not None and "gids" in flat:
            return flat["gids"][()].astype(np.int64), flat["timestamps"][()].astype(float)
        have = sorted(f["spikes"]) if "spikes" in f else []
        raise UserError(f"no spikes of population {population!r} (populations: {have})", str(path))
