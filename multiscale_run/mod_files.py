"""NEURON mechanisms (.mod files): compile once per content, load, and copy for editing.

``compile_mechanisms(mod_dir, cache_dir)`` runs ``nrnivmodl`` in
``cache_dir/mechanisms/<hash of the .mod files' names and contents>/`` unless that folder already
holds a finished build, so a run recompiles exactly when a .mod file changed (and switching back
to an earlier set of files reuses its build). A file lock makes concurrent processes (MPI ranks,
parallel tests) wait for one compilation instead of racing. NeuronSim loads the library (this
module does not import NEURON); ``copy_mod_files`` is ``msr edit-mod-files``.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from multiscale_run.errors import UserError
from multiscale_run.resources import data_path

log = logging.getLogger(__name__)

_LIBRARY_GLOBS = ("*/libnrnmech.so", "*/.libs/libnrnmech.so", "*/libnrnmech.dylib")
_NAME = re.compile(r"^\s*(?:SUFFIX|POINT_PROCESS|ARTIFICIAL_CELL)\s+(\w+)", re.MULTILINE)


def shipped_mod_dir() -> Path:
    """The mechanisms that ship with multiscale-run (templates/mod)."""
    return data_path("templates") / "mod"


def mod_files(mod_dir: Path) -> list[Path]:
    files = sorted(Path(mod_dir).glob("*.mod"))
    if not files:
        raise UserError(f"no .mod files in {mod_dir}")
    return files


def content_key(mod_dir: Path) -> str:
    """A hash of the .mod files' names and bytes (and the NEURON version that compiles them)."""
    digest = hashlib.sha256()
    try:
        neuron_version = importlib.metadata.version("neuron")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - NEURON is a dependency
        neuron_version = "?"
    digest.update(neuron_version.encode())
    for path in mod_files(mod_dir):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def mechanism_names(mod_dir: Path) -> list[str]:
    """The SUFFIX / POINT_PROCESS / ARTIFICIAL_CELL names the .mod files define."""
    return sorted({m for path in mod_files(mod_dir) for m in _NAME.findall(path.read_text(errors="replace"))})


def _library(build_dir: Path) -> Path | None:
    for pattern in _LIBRARY_GLOBS:
        found = sorted(build_dir.glob(pattern))
        if found:
            return found[0]
    return None


def _nrnivmodl() -> str:
    beside = Path(sys.executable).parent / "nrnivmodl"
    found = str(beside) if beside.exists() else shutil.which("nrnivmodl")
    if found is None:
        raise RuntimeError("nrnivmodl not found (is NEURON installed in this environment?)")
    return found


def compile_mechanisms(mod_dir: Path, cache_dir: Path) -> Path:
    """The compiled library of ``mod_dir``, building it under ``cache_dir`` if needed."""
    mod_dir = Path(mod_dir).resolve()
    build_dir = Path(cache_dir).resolve() / "mechanisms" / content_key(mod_dir)
    library = _library(build_dir)
    if library is not None:
        return library
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(build_dir.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            library = _library(build_dir)
            if library is not None:
                return library
            staging = build_dir.with_name(build_dir.name + f".tmp{os.getpid()}")
            shutil.rmtree(staging, ignore_errors=True)
            (staging / "mod").mkdir(parents=True)
            for path in mod_files(mod_dir):
                shutil.copy2(path, staging / "mod" / path.name)
            log.info("compiling NEURON mechanisms of %s", mod_dir)
            result = subprocess.run(
                [_nrnivmodl(), "mod"], cwd=staging, capture_output=True, text=True, check=False
            )
            if result.returncode != 0 or _library(staging) is None:
                shutil.rmtree(staging, ignore_errors=True)
                raise UserError(
                    f"nrnivmodl failed on {mod_dir}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
                )
            staging.rename(build_dir)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return _library(build_dir)  # type: ignore[return-value]


def copy_mod_files(directory: Path, overwrite: bool = False) -> Path:
    """Copy the shipped .mod files into ``directory/mod`` for editing (``msr edit-mod-files``).

    NeuronSim uses ``DIR/mod`` when the config's ``mod_dir`` is null and that folder exists;
    the next run recompiles because the cache is keyed by content.
    """
    target = Path(directory) / "mod"
    target.mkdir(parents=True, exist_ok=True)
    for path in mod_files(shipped_mod_dir()):
        dest = target / path.name
        if dest.exists() and not overwrite:
            log.info("keeping existing %s", dest)
            continue
        shutil.copy2(path, dest)
    return target
