"""Continuing a report file of an earlier run (a resumed run, :mod:`multiscale_run.checkpoints`).

The file is continued in place when its window is unchanged; when ``run.tstop`` grew (an
extended run) or shrank, it is rewritten at the new size with the frames the snapshot kept, so
that SONATA readers see one report over the whole run. While rewriting, the earlier file waits
beside it as ``<name>.h5.resizing``: a crash then leaves it there, and the next resume starts
from it again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

if TYPE_CHECKING:
    from multiscale_run.output.element_report import ReportWriter


def resume_mode(writer: ReportWriter, mappings: list[tuple]) -> tuple[str, Path | None]:
    """``("r+", None)`` to continue the file as it is, or ``("w", old)`` to rewrite it at the
    new window's size from ``old`` (the earlier file, moved aside: a crash while rewriting
    finds it there again). ``mappings``: (node ids, element ids) of each of the writer's
    population groups (on rank 0). Rank 0 decides; every rank gets the answer."""
    aside = writer.path.with_name(writer.path.name + ".resizing")
    verdict: tuple[str, Path | None] | str = ("r+", None)
    if writer.rank == 0:
        source = aside if aside.exists() else writer.path
        try:
            with h5py.File(source, "r") as f:
                same_nodes, shapes = True, set()
                for part, (node_ids, element_ids) in zip(writer.parts, mappings, strict=True):
                    pop = f["report"][part.name]
                    same_nodes &= np.array_equal(pop["mapping/node_ids"][()], node_ids)
                    same_nodes &= np.array_equal(pop["mapping/element_ids"][()], element_ids)
                    shapes.add(pop["data"].shape[0])
                same_nodes &= set(f["report"]) == {part.name for part in writer.parts}
        except (OSError, KeyError) as exc:
            verdict = f"report {writer.path}: cannot continue it ({exc})"
        else:
            if not same_nodes:
                verdict = f"report {writer.path}: its nodes or elements differ from this run's"
            elif source == aside or shapes != {writer.clock.n_frames}:
                if source != aside:
                    os.replace(writer.path, aside)
                verdict = ("w", aside)
    if writer._mpi is not None:
        verdict = writer._mpi.bcast(verdict)
    if isinstance(verdict, str):
        raise ValueError(verdict)
    return verdict


def copy_frames(writer: ReportWriter, earlier: Path, frames: int) -> None:
    """Frames ``0..frames-1`` of the earlier file into this one (rank 0), then drop it."""
    frames = min(frames, writer.clock.n_frames)
    if writer.rank == 0 and frames:
        with h5py.File(earlier, "r") as f:
            step = max(1, writer.frames_per_block)
            for part in writer.parts:
                old = f["report"][part.name]["data"]
                for f0 in range(0, frames, step):
                    part.data[f0 : min(frames, f0 + step)] = old[f0 : min(frames, f0 + step)]
    writer._flushed = frames
    writer._commit_valid_frames()
    if writer.rank == 0:
        earlier.unlink()


def continue_file(writer: ReportWriter, f: h5py.File | None, frames: int) -> None:
    """Take the opened earlier file as it is, its first ``frames`` frames kept."""
    writer._file = f
    for part in writer.parts:
        part.data = f["report"][part.name]["data"] if f is not None else None
    writer._flushed = frames
    writer._commit_valid_frames()
