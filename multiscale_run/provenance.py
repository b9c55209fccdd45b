"""What a run was: its config (content hash and a copy), the software stack, the command, the machines.

``run.json`` carries this record so that a result can be traced to exactly what produced it; the
same stack report backs ``msr --version --verbose``. Versions come from the installed packages'
metadata where that suffices, and from the libraries themselves for the C libraries below them
(HDF5 through h5py, PETSc through petsc4py, the MPI library through mpi4py).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import socket
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from multiscale_run.parallel import mpi_library_version

#: Python distributions whose versions a run records, by the name shown in run.json.
PACKAGES = {
    "multiscale_run": "multiscale-run",
    "neuron": "neuron",
    "steps": "steps",
    "petsc4py": "petsc4py",
    "h5py": "h5py",
    "mpi4py": "mpi4py",
    "numpy": "numpy",
    "scipy": "scipy",
    "libsonata": "libsonata",
    "morphio": "morphio",
}


def _package_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _hdf5_version() -> str | None:
    try:
        import h5py
    except ImportError:
        return None
    return f"{h5py.version.hdf5_version} ({'parallel' if h5py.get_config().mpi else 'serial'})"


def _petsc_version() -> str | None:
    """The PETSc library petsc4py was built against, read from its ``petscversion.h``: importing
    ``petsc4py.PETSc`` would initialise PETSc, a collective that hangs when only rank 0 asks."""
    import re

    try:
        import petsc4py
    except ImportError:
        return None
    conf = petsc4py.get_config()
    root = Path(conf["PETSC_DIR"])
    for header in (
        root / "include" / "petscversion.h",
        root / conf["PETSC_ARCH"] / "include" / "petscversion.h",
    ):
        if header.is_file():
            parts = dict(
                re.findall(r"#define PETSC_VERSION_(MAJOR|MINOR|SUBMINOR)\s+(\d+)", header.read_text())
            )
            if len(parts) == 3:
                return f"{parts['MAJOR']}.{parts['MINOR']}.{parts['SUBMINOR']}"
    return None


def stack_versions() -> dict[str, str | None]:
    """Versions of Python, of every package in :data:`PACKAGES` (None: not installed) and of the
    HDF5, PETSc and MPI libraries underneath."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    versions.update({name: _package_version(dist) for name, dist in PACKAGES.items()})
    versions["hdf5"] = _hdf5_version()
    versions["petsc"] = _petsc_version() if versions["petsc4py"] else None
    versions["mpi"] = mpi_library_version()
    return versions


def source_revision() -> dict[str, object] | None:
    """The git commit of the multiscale_run sources and whether they differ from it (``dirty``);
    None when the package is not in a git work tree (an installed wheel)."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(here), *args], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", "."))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def seeds(config) -> dict[str, int]:
    """Every seed the run uses: SONATA's ``run.random_seed``, its ``stimulus_seed``,
    ``synapse_seed`` and ``minis_seed`` when NEURON is enabled, and STEPS's own when it is."""
    out = {"run.random_seed": config.run.random_seed}
    if config.enabled("neuron"):
        for key in ("stimulus_seed", "synapse_seed", "minis_seed"):
            out[f"run.{key}"] = int(config.get(f"run.{key}", 0))
    if config.enabled("steps"):
        seed = config.simulator("steps").get("seed")
        out["multiscale_run.steps.seed"] = config.run.random_seed if seed is None else int(seed)
    return out


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


class RunRecord:
    """Provenance of one run, started when the run starts and completed by :meth:`as_dict`."""

    def __init__(self, config, parallel) -> None:
        self.started_at = now()
        self.config = config
        self.parallel = parallel
        self.command = list(sys.argv)
        # collective: every rank names its host, rank 0 keeps the list
        self.hosts = parallel.gather(socket.gethostname())
        self.config_sha256 = file_sha256(config.path)
        # on every rank: asking PETSc its version initialises PETSc, which is collective
        self.versions = stack_versions()
        self.resumed_from: dict | None = None  # the snapshot a resumed run continued from

    def as_dict(self) -> dict:
        return {
            "config": {
                "path": str(self.config.path),
                "sha256": self.config_sha256,
                "copy": "config_as_run.json",
            },
            "command": self.command,
            "ranks": self.parallel.size,
            "hosts": sorted(set(self.hosts or [])),
            "seeds": seeds(self.config),
            "started_at": self.started_at,
            "finished_at": now(),
            "source": source_revision(),
            "versions": self.versions,
            "resumed_from": self.resumed_from,
        }
