"""Snapshot folders: written atomically by every rank, described by a manifest, verified on load.

Layout, under ``<output_dir>/checkpoints/``::

    step-000000005000/           one snapshot (base step 5000 of the run)
        manifest.json            time, step, ranks, versions, config hash, file checksums
        config.json              the config as run (defaults filled in), for the resume check
        rank00000.npz ...        each rank's state (numpy arrays, no pickles)

A snapshot is written into ``.partial-step-...`` and renamed once every rank's file and the
manifest are on disk (fsync'ed), so a folder named ``step-*`` is complete by construction; a
crash while writing leaves a ``.partial-*`` folder that is never loaded (and is removed by the
next snapshot). Loading also verifies every file's SHA-256 against the manifest and falls back to
the previous snapshot when one does not match (a disk that lost data after the rename).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from multiscale_run.errors import OutputError
from multiscale_run.faults import inject_fault
from multiscale_run.output_errors import describe
from multiscale_run.parallel import Parallel

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
FORMAT = 1
_PREFIX = "step-"
_PARTIAL = ".partial-"


@dataclass(frozen=True)
class Snapshot:
    """A complete, verified snapshot folder and its manifest."""

    path: Path
    manifest: dict

    @property
    def t_ms(self) -> float:
        return float(self.manifest["t_ms"])

    @property
    def config(self) -> dict:
        return json.loads((self.path / "config.json").read_text())

    def rank_state(self, rank: int) -> dict[str, np.ndarray]:
        with np.load(self.path / _rank_file(rank), allow_pickle=False) as data:
            return {key: data[key] for key in data.files}


def _rank_file(rank: int) -> str:
    return f"rank{rank:05d}.npz"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())


def write_snapshot(
    root: Path,
    step: int,
    state: dict[str, np.ndarray],
    manifest: dict,
    config_data: dict,
    parallel: Parallel,
    keep: int,
) -> Path:
    """Write this rank's ``state`` into snapshot ``step`` under ``root`` (collective); rank 0
    adds ``manifest`` (completed with the files' checksums) and ``config_data``, then publishes
    the folder and removes all but the ``keep`` newest. Returns the snapshot folder."""
    name = f"{_PREFIX}{step:012d}"
    partial, final = root / f"{_PARTIAL}{name}", root / name
    error = None
    if parallel.is_root:
        try:
            root.mkdir(exist_ok=True)  # not its parents: a vanished output folder is an error
            for stale in root.glob(f"{_PARTIAL}*"):  # snapshots a crash interrupted
                shutil.rmtree(stale)
            partial.mkdir()
        except OSError as exc:
            error = _why(exc, partial)
    _agree(parallel, error)
    try:
        buffer = io.BytesIO()
        np.savez(buffer, **state)
        data = buffer.getvalue()
        _write_synced(partial / _rank_file(parallel.rank), data)
        entry, error = (_rank_file(parallel.rank), hashlib.sha256(data).hexdigest(), len(data)), None
    except OSError as exc:
        entry, error = None, _why(exc, partial / _rank_file(parallel.rank))
    _agree(parallel, error)
    inject_fault("snapshot", parallel.rank)  # testing: a crash after the data, before publishing
    entries = parallel.gather(entry)
    error = None
    if parallel.is_root:
        try:
            files = {f: {"sha256": digest, "bytes": size} for f, digest, size in entries}
            _write_synced(partial / "config.json", (json.dumps(config_data, indent=1) + "\n").encode())
            full = {"format": FORMAT, **manifest, "step": step, "ranks": parallel.size, "files": files}
            _write_synced(partial / "manifest.json", (json.dumps(full, indent=1) + "\n").encode())
            _fsync_dir(partial)
            if final.exists():  # the same step snapshotted again (a resumed run's first snapshot)
                shutil.rmtree(final)
            os.rename(partial, final)
            _fsync_dir(root)
            _prune(root, keep)
        except OSError as exc:
            error = _why(exc, partial)
    _agree(parallel, error)
    if parallel.is_root:
        log.info("snapshot at t=%g ms written to %s", manifest.get("t_ms", float("nan")), final)
    return final


def _why(exc: OSError, path: Path) -> str:
    return describe(exc, path) or f"{path}: {exc}"


def _agree(parallel: Parallel, error: str | None) -> None:
    """Every rank learns whether some rank failed, so that all raise together."""
    errors = [e for e in parallel.allgather(error) if e]
    if errors:
        raise OutputError(f"snapshot not written: {errors[0]}")


def _prune(root: Path, keep: int) -> None:
    for old in snapshot_folders(root)[max(keep, 1) :]:
        shutil.rmtree(old)


def snapshot_folders(root: Path) -> list[Path]:
    """Published snapshot folders, newest first."""
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.is_dir() and p.name.startswith(_PREFIX)), reverse=True)


def verify(folder: Path) -> tuple[dict | None, str]:
    """``(manifest, "")`` when the folder's files match its manifest, else ``(None, why)``."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        return None, f"unreadable manifest ({exc})"
    if manifest.get("format") != FORMAT:
        return None, f"snapshot format {manifest.get('format')!r}, this msr reads {FORMAT}"
    if not (folder / "config.json").is_file():
        return None, "config.json is missing"
    for name, info in manifest.get("files", {}).items():
        try:
            digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        except OSError as exc:
            return None, f"{name}: {exc.strerror or exc}"
        if digest != info["sha256"]:
            return None, f"{name}: checksum mismatch"
    if len(manifest.get("files", {})) != manifest.get("ranks"):
        return None, "a rank's file is missing from the manifest"
    return manifest, ""


def newest_complete(root: Path) -> Snapshot | None:
    """The newest snapshot under ``root`` whose files verify (the others are skipped, logged)."""
    for folder in snapshot_folders(root):
        manifest, why = verify(folder)
        if manifest is not None:
            return Snapshot(folder, manifest)
        log.warning("skipping snapshot %s: %s", folder, why)
    return None


def newest_valid(root: Path, parallel: Parallel) -> Snapshot | None:
    """:func:`newest_complete`, found by rank 0; every rank gets the answer."""
    return parallel.bcast(newest_complete(root) if parallel.is_root else None)
