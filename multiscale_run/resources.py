"""Where the package's data folders (templates/, mesh/, sbatch/, julia/) live.

In a wheel they are package data under ``multiscale_run/_data``; in a source checkout they are
the top-level folders of the repository. One function finds them in both layouts.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_FOLDERS = ("templates", "mesh", "sbatch", "julia")


def data_path(folder: str) -> Path:
    """The directory holding the shipped ``folder`` (one of templates, mesh, sbatch, julia)."""
    if folder not in _FOLDERS:
        raise ValueError(f"unknown data folder {folder!r} (expected one of {', '.join(_FOLDERS)})")
    for candidate in (_PACKAGE / "_data" / folder, _PACKAGE.parent / folder):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the package data folder {folder!r} is missing from this installation")
