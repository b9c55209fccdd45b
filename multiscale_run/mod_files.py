"""NEURON mechanisms (.mod files): compile once per content, load, and copy for editing.

``compile_mechanisms(mod_dir)`` runs ``nrnivmodl`` in
``<mechanisms cache>/<hash of the .mod files' names and contents>/`` unless that folder already
holds a finished build, so a run recompiles exactly when a .mod file changed (and switching back
to an earlier set of files reuses its build). The cache is the user's, not the simulation's
(:func:`mechanisms_cache`): every simulation folder with the same mechanisms, and every point of
a sweep, reuses one build. A file lock makes concurrent processes (MPI ranks, parallel tests,
sweep points) wait for one compilation instead of racing. NeuronSim loads the library (this
module does not import NEURON); ``copy_mod_files`` is ``msr edit-mod-files``.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import platform
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


def _dirs(mod_dir: Path | list[Path]) -> list[Path]:
    return [Path(d) for d in mod_dir] if isinstance(mod_dir, (list, tuple)) else [Path(mod_dir)]


def mod_files(mod_dir: Path | list[Path]) -> list[Path]:
    """The .mod files of one folder or of several (compiled together; a file name twice is an
    error naming both)."""
    files: dict[str, Path] = {}
    for folder in _dirs(mod_dir):
        found = sorted(folder.glob("*.mod"))
        if not found:
            raise UserError(f"no .mod files in {folder}")
        for path in found:
            if path.name in files:
                raise UserError(f"{path.name} is both in {files[path.name].parent} and {folder}", str(path))
            files[path.name] = path
    return [files[name] for name in sorted(files)]


def circuit_mod_dir(mechanisms_dir: Path | None, given: Path | None = None) -> Path | None:
    """The circuit's .mod folder: ``given`` (the config's ``neuron.circuit_mod_dir``), else the
    circuit's ``components.mechanisms_dir`` itself or its ``modfiles`` subfolder (bmtk's layout:
    ``nrnivmodl modfiles`` inside mechanisms_dir)."""
    if given is not None:
        return Path(given)
    if mechanisms_dir is None:
        return None
    for folder in (Path(mechanisms_dir), Path(mechanisms_dir) / "modfiles"):
        if any(folder.glob("*.mod")):
            return folder
    raise UserError(f"no .mod files in {mechanisms_dir} nor in its modfiles/ (components.mechanisms_dir)")


def run_mod_dirs(mod_dir: Path, mechanisms_dir: Path | None, given: Path | None = None) -> list[Path]:
    """The .mod folders a run compiles together into one library: ``mod_dir`` (msr's), then the
    circuit's own (:func:`circuit_mod_dir`) when it has some."""
    extra = circuit_mod_dir(mechanisms_dir, given)
    return [Path(mod_dir), extra] if extra else [Path(mod_dir)]


def mechanisms_cache() -> Path:
    """The folder of compiled mechanisms: ``$MSR_MECHANISMS_CACHE``, else
    ``$XDG_CACHE_HOME/multiscale-run/mechanisms`` (``~/.cache/multiscale-run/mechanisms``)."""
    given = os.environ.get("MSR_MECHANISMS_CACHE")
    if given:
        return Path(given).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "multiscale-run" / "mechanisms"


def _neuron_build() -> str:
    """The NEURON that links the library: its version, where it is installed, the machine."""
    try:
        version = importlib.metadata.version("neuron")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - NEURON is a dependency
        version = "?"
    spec = importlib.util.find_spec("neuron")
    return f"{version}\0{spec.origin if spec else '?'}\0{platform.machine()}"


def content_key(mod_dir: Path | list[Path]) -> str:
    """A hash of the .mod files' names and bytes and of the NEURON that compiles them (version,
    installation, machine: a build is never loaded by another NEURON)."""
    digest = hashlib.sha256()
    digest.update(_neuron_build().encode())
    for path in mod_files(mod_dir):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def mechanism_names(mod_dir: Path | list[Path]) -> list[str]:
    """The SUFFIX / POINT_PROCESS / ARTIFICIAL_CELL names the .mod files define."""
    return sorted({m for path in mod_files(mod_dir) for m in _NAME.findall(path.read_text(errors="replace"))})


def _library(folder: Path) -> Path | None:
    for pattern in _LIBRARY_GLOBS:
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
    return None


def _nrnivmodl() -> str:
    beside = Path(sys.executable).parent / "nrnivmodl"
    found = str(beside) if beside.exists() else shutil.which("nrnivmodl")
    if found is None:
        raise RuntimeError("nrnivmodl not found (is NEURON installed in this environment?)")
    return found


def build_dir(mod_dir: Path | list[Path], cache: Path | None = None) -> Path:
    """Where the library of ``mod_dir`` is built, in ``cache`` (default :func:`mechanisms_cache`)."""
    return Path(cache or mechanisms_cache()).resolve() / content_key(mod_dir)


def compile_mechanisms(mod_dir: Path | list[Path], cache: Path | None = None) -> Path:
    """The compiled library of ``mod_dir`` (one folder or several, built together), building it
    in ``cache`` (default :func:`mechanisms_cache`) if needed."""
    mod_dir = [d.resolve() for d in _dirs(mod_dir)]
    names = [n for path in mod_files(mod_dir) for n in _NAME.findall(path.read_text(errors="replace"))]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UserError(f"mechanisms {twice} are defined twice in {[str(d) for d in mod_dir]}")
    build = build_dir(mod_dir, cache)
    library = _library(build)
    if library is not None:
        return library
    try:
        build.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot create the mechanisms cache {build.parent} ({exc.strerror}): "
            "set MSR_MECHANISMS_CACHE to a writable folder",
            str(build.parent),
        ) from exc
    with open(build.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            library = _library(build)
            if library is not None:
                return library
            staging = build.with_name(build.name + f".tmp{os.getpid()}")
            shutil.rmtree(staging, ignore_errors=True)
            (staging / "mod").mkdir(parents=True)
            for path in mod_files(mod_dir):
                shutil.copy2(path, staging / "mod" / path.name)
            log.info("compiling NEURON mechanisms of %s", ", ".join(map(str, mod_dir)))
            result = subprocess.run(
                [_nrnivmodl(), "mod"], cwd=staging, capture_output=True, text=True, check=False
            )
            if result.returncode != 0 or _library(staging) is None:
                shutil.rmtree(staging, ignore_errors=True)
                raise UserError(
                    f"nrnivmodl failed on {', '.join(map(str, mod_dir))}:\n"
                    f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
                )
            staging.rename(build)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return _library(build)  # type: ignore[return-value]


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
