"""A failure to write results (disk full, quota, read-only, vanished folder) as one clear line.

``with output_errors(output_dir):`` turns an ``OSError`` whose cause is the storage (``errno``
ENOSPC, EDQUOT, EROFS, EACCES, EPERM, ENOENT, EIO, EFBIG, also when h5py only quotes it in its
message) into :class:`~multiscale_run.errors.OutputError` ``"<path>: <cause>"``. Reports flush
whole frames and raise ``valid_frames`` only after them, so what was written stays readable.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Iterator
from pathlib import Path

from multiscale_run.errors import OutputError

STORAGE_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.ENOENT,
    errno.EIO,
    errno.EFBIG,
}
#: errors that concern the output only when they name a path in the output folder
_PATH_ERRNOS = {errno.ENOENT, errno.EACCES, errno.EPERM}
VANISHED = " (the output folder vanished during the run)"
_H5_ERRNO = re.compile(r"errno = (\d+)")
_H5_NAME = re.compile(r"(?:file)?name = '([^']*)'")


def describe(exc: OSError | RuntimeError, output_dir: Path) -> str | None:
    """``"<path>: <cause>"`` when ``exc`` is a storage failure, else None."""
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code is None and (found := _H5_ERRNO.search(text)):
        code = int(found.group(1))
    if code is None and not Path(output_dir).is_dir():
        code = errno.ENOENT  # HDF5 quoting no errno ("can't retrieve stat info") in a vanished folder
    if code not in STORAGE_ERRNOS:
        return None
    name = getattr(exc, "filename", None) or (m.group(1) if (m := _H5_NAME.search(text)) else output_dir)
    inside = Path(output_dir).resolve() in (Path(name).resolve(), *Path(name).resolve().parents)
    if code in _PATH_ERRNOS and not inside:
        return None  # a missing or forbidden input, not the output
    cause = os.strerror(code)
    if code == errno.ENOENT and not Path(output_dir).is_dir():
        cause += VANISHED
    return f"{name}: {cause}"


def folder_identity(path: Path) -> tuple[int, int]:
    """(device, inode) of the folder ``path``: a folder deleted and made again has another."""
    st = os.stat(path)
    return st.st_dev, st.st_ino


def vanished(path: Path, identity: tuple[int, int]) -> str | None:
    """``"<path>: <cause>"`` unless ``path`` is still the folder of ``identity``, else None:
    results written since it was deleted went with it, even if a writer has made it again."""
    try:
        if folder_identity(path) == identity:
            return None
    except FileNotFoundError:
        pass
    return f"{path}: {os.strerror(errno.ENOENT)}{VANISHED}"


@contextlib.contextmanager
def output_errors(output_dir: Path) -> Iterator[None]:
    """Raise storage failures inside the block as :class:`OutputError`."""
    try:
        yield
    except (OSError, RuntimeError) as exc:  # h5py raises either, quoting the errno
        message = describe(exc, output_dir)
        if message is None:
            raise
        _abandon_hdf5_files()
        raise OutputError(message) from exc


def _abandon_hdf5_files() -> None:
    """Close every open HDF5 file now, ignoring the errors of a full disk: left open, HDF5 would
    retry the failed flushes at exit and crash in its own clean-up."""
    import h5py

    for file_id in h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_FILE):
        with contextlib.suppress(Exception):
            file_id.close()
