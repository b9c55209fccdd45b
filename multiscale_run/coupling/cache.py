"""On-disk cache of the coupling operators, keyed so that a stale operator can never load.

The key of an operator hashes (BLAKE2b) *every* input it depends on: the geometry arrays
themselves (segment end points, areas, volumes, owners and gids; mesh vertices and tets; vessel
end points and radii), the contents of any input files given (mesh, circuit, node sets, …), the
operator's name, the rank count and this rank's index, and the code that builds operators (the
package version and the source of the coupling modules). Changing any of them changes the file
name, so an old file is simply never found. Files are per rank
(``<cache_dir>/operators/n<ranks>/<name>.<key>.rank<r>.npz``, ``scipy.sparse.save_npz``) and
written atomically (temporary file + rename), so a crash never leaves a half-written operator.

Hashing and loading are decided collectively: if any rank lacks its file (or cannot read it),
every rank rebuilds, because some builders run collectives and a rank that loaded would leave
the others waiting forever.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

import multiscale_run
from multiscale_run.coupling import geometry as _geometry_module
from multiscale_run.coupling import operators as _operators_module
from multiscale_run.coupling.geometry import Geometry
from multiscale_run.coupling.operators import OPERATORS, OperatorBuilder
from multiscale_run.parallel import Parallel

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


def code_version() -> str:
    """The package version plus a hash of the modules that compute operators."""
    digest = hashlib.blake2b(digest_size=8)
    for module in (_geometry_module, _operators_module):
        digest.update(Path(module.__file__).read_bytes())
    return f"{multiscale_run.__version__}+{digest.hexdigest()}"


def _update(digest, value: Any) -> None:
    """Feed ``value`` into ``digest`` unambiguously (type tags and lengths before contents)."""

    def tag(text: str) -> None:
        data = text.encode()
        digest.update(len(data).to_bytes(8, "little") + data)

    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        tag(f"{type(value).__name__}:{value!r}")
    elif isinstance(value, enum.Enum):
        tag(f"enum:{type(value).__name__}.{value.value!r}")
    elif isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        tag(f"ndarray:{array.dtype.str}:{array.shape}")
        digest.update(memoryview(array).cast("B"))
    elif isinstance(value, np.generic):
        _update(digest, value.item())
    elif sp.issparse(value):
        csr = sp.csr_matrix(value)
        tag(f"csr:{csr.shape}")
        for part in (csr.indptr, csr.indices, csr.data):
            _update(digest, part)
    elif isinstance(value, Path):
        _update_path(digest, value, tag)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        tag(f"dataclass:{type(value).__qualname__}")
        for item in dataclasses.fields(value):
            tag(item.name)
            _update(digest, getattr(value, item.name))
    elif isinstance(value, Mapping):
        tag(f"mapping:{len(value)}")
        for key in sorted(value, key=str):
            tag(str(key))
            _update(digest, value[key])
    elif isinstance(value, (list, tuple)):
        tag(f"sequence:{len(value)}")
        for item in value:
            _update(digest, item)
    else:
        raise TypeError(f"cannot hash a cache key input of type {type(value).__name__}")


def _update_path(digest, path: Path, tag: Callable[[str], None]) -> None:
    """A file by its contents, a folder by its files' relative names and contents."""
    if path.is_file():
        tag("file")
        with path.open("rb") as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        tag(f"dir:{len(files)}")
        for file in files:
            tag(file.relative_to(path).as_posix())
            _update_path(digest, file, tag)
    else:
        tag(f"missing:{path}")


def hash_inputs(inputs: Any) -> str:
    """A hex digest of any nesting of arrays, scalars, strings, paths (by content), dataclasses,
    mappings and sequences."""
    digest = hashlib.blake2b(digest_size=20)
    _update(digest, inputs)
    return digest.hexdigest()


class OperatorCache:
    """Operators built once and kept under ``cache_dir/operators`` (see the module docstring).

    ``use_cache=False`` (``msr compute --no-cache``) ignores existing files and rebuilds; fresh
    results are still written so the next run can load them. :attr:`loaded` and :attr:`built`
    list the operator names loaded from disk and built in this process, :attr:`seconds` the
    time spent per name.
    """

    def __init__(self, cache_dir: Path, parallel: Parallel | None = None, use_cache: bool = True):
        self.cache_dir = Path(cache_dir)
        self.parallel = parallel
        self.use_cache = use_cache
        self.loaded: list[str] = []
        self.built: list[str] = []
        self.seconds: dict[str, float] = {}
        self._code_version = code_version()

    @property
    def _rank_size(self) -> tuple[int, int]:
        return (0, 1) if self.parallel is None else (self.parallel.rank, self.parallel.size)

    def key(self, name: str, key_inputs: Any) -> str:
        """The hash of everything the operator ``name`` of this rank depends on."""
        rank, size = self._rank_size
        return hash_inputs(
            {"operator": name, "code": self._code_version, "rank": rank, "ranks": size, "inputs": key_inputs}
        )

    def path(self, name: str, key: str) -> Path:
        rank, size = self._rank_size
        return self.cache_dir / "operators" / f"n{size}" / f"{name}.{key}.rank{rank}.npz"

    def _all(self, flag: bool) -> bool:
        return flag if self.parallel is None or self.parallel.size == 1 else not self.parallel.any(not flag)

    def get_or_build(self, name: str, key_inputs: Any, builder: Callable[[], sp.spmatrix]) -> sp.csr_matrix:
        """Load operator ``name`` if a file with this exact key exists on every rank, else build it.

        Collective when run on several ranks: every rank calls it for the same names in the
        same order.
        """
        start = time.perf_counter()
        target = self.path(name, self.key(name, key_inputs))
        matrix = None
        if self._all(self.use_cache and target.is_file()):
            try:
                matrix = sp.csr_matrix(sp.load_npz(target))
            except Exception as exc:  # whatever a damaged file raises (BadZipFile, EOFError, ...)
                log.warning(
                    "cannot read cached operator %s (%s: %s): rebuilding", target, type(exc).__name__, exc
                )
        if self._all(matrix is not None):
            self.loaded.append(name)
            log.debug("loaded operator %s from %s", name, target)
        else:
            matrix = sp.csr_matrix(builder(), dtype=np.float64)
            self._save(target, matrix)
            self.built.append(name)
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
        return matrix

    def _save(self, target: Path, matrix: sp.csr_matrix) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as stream:
                sp.save_npz(stream, matrix, compressed=False)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        # files of the same operator and rank under another key are stale for good
        name, _, rest = target.name.partition(".")
        rank_suffix = rest.rsplit(".", 2)[-2]
        for old in target.parent.glob(f"{name}.*.{rank_suffix}.npz"):
            if old != target:
                old.unlink(missing_ok=True)

    def operator(
        self,
        name: str,
        geometry: Geometry,
        builder: OperatorBuilder | None = None,
        extra_inputs: Mapping[str, Any] | None = None,
    ) -> sp.csr_matrix:
        """Operator ``name`` from ``geometry``, keyed by the geometry parts it uses.

        ``extra_inputs`` adds anything else it depends on (e.g. ``{"mesh": Path(...),
        "node_set": "Mosaic"}``). Pass one ``builder`` for several operators to share its
        intermediate results.
        """
        spec = OPERATORS[name]
        key_inputs = {part: getattr(geometry, part) for part in spec.requires}
        key_inputs["extra"] = dict(extra_inputs or {})
        builder = builder if builder is not None else OperatorBuilder(geometry, self.parallel)
        return self.get_or_build(name, key_inputs, lambda: builder.build(name))
