"""One SONATA circuit reader (h5py, no NEURON) for what the specification and its two big producers
write: circuit configs with ``manifest`` variables, ``components`` and per-population overrides;
node and edge types CSV merged with the HDF5 groups; several groups per population (or none:
one implicit group ``0``); ``@library`` enumerated strings; ``dynamics_params`` subgroups; node
sets (basic, with the $regex and comparison operators, compound, inline) over several populations.

Facts from the SONATA specification (AllenInstitute/sonata, docs/SONATA_DEVELOPER_GUIDE.md):
a node's attribute is its group's dataset when the group has one, else the column of its
``node_type_id`` in the types CSV (``NULL`` = no value); node ids are positions in the
population; ``node_group_id``/``node_group_index`` may be absent when there is one group. The CSV
files bmtk writes are space-separated with double-quoted fields (bmtk's SONATA writer).
libsonata reads single-group populations without types CSV only: this module reads them all.
"""

from __future__ import annotations

import ast
import csv
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import h5py
import numpy as np

from multiscale_run.circuit.rows import indexed_edges, read_dataset, read_rows
from multiscale_run.errors import UserError

_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
_PATH_KEYS = ("_file", "_dir", "_path")


def _is_path_key(key: str) -> bool:
    return key.endswith(_PATH_KEYS) or key == "alternate_morphologies"


def _expand(value, names: dict[str, str], base: Path, file: str, where: str, is_path: bool):
    if isinstance(value, dict):
        return {
            k: _expand(v, names, base, file, f"{where}.{k}", is_path or _is_path_key(k))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_expand(v, names, base, file, f"{where}[{i}]", is_path) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def repl(match: re.Match) -> str:
        if match.group(1) not in names:
            raise UserError(f"unknown manifest variable ${match.group(1)}", file, where.lstrip("."))
        return names[match.group(1)]

    text = _VAR.sub(repl, value)
    if is_path and text:
        path = Path(text)
        text = str((path if path.is_absolute() else base / path).resolve())
    return text


def read_config(path: Path) -> dict:
    """A SONATA circuit config with manifest variables replaced and paths made absolute (relative
    to the config file's folder, as the specification says)."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read the circuit config: {exc}", str(path)) from None
    base = path.parent.resolve()
    names: dict[str, str] = {}
    for key, value in raw.get("manifest", {}).items():
        names[key.lstrip("$")] = _expand(value, names, base, str(path), f"manifest.{key}", True)
    return {
        k: _expand(v, names, base, str(path), k, _is_path_key(k)) for k, v in raw.items() if k != "manifest"
    }


def _parse_cell(text: str):
    if text in ("NULL", ""):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


@dataclass
class TypesTable:
    """A node or edge types CSV: one row per type id, ``NULL`` as None."""

    rows: dict[int, dict] = field(default_factory=dict)

    @classmethod
    def read(cls, path: str | None, id_column: str) -> TypesTable:
        if not path:
            return cls()
        with open(path, newline="") as f:
            reader = csv.reader(f, delimiter=" ", quotechar='"', skipinitialspace=True)
            header = next(reader)
            if id_column not in header:
                raise UserError(f"no {id_column} column", path)
            rows = {}
            for line in reader:
                if not line:
                    continue
                if len(line) != len(header):
                    raise UserError(f"{len(line)} fields where the header has {len(header)}: {line}", path)
                row = {k: _parse_cell(v) for k, v in zip(header, line, strict=True)}
                rows[int(row.pop(id_column))] = row
        return cls(rows)

    @property
    def columns(self) -> set[str]:
        return {k for row in self.rows.values() for k in row}

    def column(self, name: str, type_ids: np.ndarray, file: str) -> np.ndarray:
        out = np.empty(len(type_ids), dtype=object)
        for i, t in enumerate(type_ids):
            if int(t) not in self.rows:
                raise UserError(f"type id {int(t)} is not in the types file", file)
            out[i] = self.rows[int(t)].get(name)
        return out


def _tidy(values: np.ndarray) -> np.ndarray:
    """An object array as float when every value is a number (ints stay ints)."""
    if values.dtype != object or not len(values):
        return values
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return values.astype(np.int64)
    if all(isinstance(v, (int, float, np.integer, np.floating)) for v in values):
        return values.astype(float)
    return values


def _attribute_names(group: h5py.Group) -> set[str]:
    """The attributes of a population's group: its datasets and ``@dynamics:<name>``."""
    names = {k for k in group if isinstance(group[k], h5py.Dataset)}
    if "dynamics_params" in group:
        names |= {f"@dynamics:{k}" for k in group["dynamics_params"]}
    return names


class _Groups:
    """The groups of one node or edge population, merged with its types CSV.

    ``whole``: a column is read whole once and kept (nodes); else ``get`` of given ids reads
    only their rows (edges: a rank reads the edges onto its own cells).
    """

    def __init__(
        self, h5: h5py.Group, kind: str, types: TypesTable, file: str, types_file: str | None, whole: bool
    ):
        self.file, self.types_file, self.types, self.whole = file, types_file, types, whole
        self._h5, self._kind = h5, kind
        self.size = int(h5[f"{kind}_type_id"].shape[0])
        self.groups = {int(k): h5[k] for k in h5 if k.isdigit() and isinstance(h5[k], h5py.Group)}
        self._cache: dict[tuple[int, str], np.ndarray] = {}
        self._names = {g: _attribute_names(group) for g, group in self.groups.items()}  # listed once

    def _index(self, name: str, ids: np.ndarray, rows: bool) -> np.ndarray:
        """Column ``<kind>_<name>`` (type_id, group_id, group_index) at ``ids``: only those rows
        read (``rows``), else the whole column once (kept)."""
        if not rows:
            if (-1, name) not in self._cache:
                self._cache[-1, name] = self._index(name, np.arange(self.size), True)
            return self._cache[-1, name][ids]
        key = f"{self._kind}_{name}"
        if key not in self._h5:  # no group columns: one implicit group "0"
            return ids if name == "group_index" else np.zeros(len(ids), np.int64)
        values = read_rows(self._h5[key], ids).astype(np.int64)
        missing = set(np.unique(values).tolist()) - set(self.groups) if name == "group_id" else None
        if missing:
            raise UserError(
                f"{self._h5.name}: {key} names groups {sorted(missing)} that do not exist", self.file
            )
        return values

    @cached_property
    def names(self) -> set[str]:
        return set().union(*(self._names.values()), self.types.columns)

    def _values(self, g: int, name: str, rows: np.ndarray | None = None) -> np.ndarray:
        """Attribute ``name`` of group ``g``: at ``rows`` only, else the whole column (kept)."""
        group, dataset = self.groups[g], name
        if name.startswith("@dynamics:"):
            group, dataset = group["dynamics_params"], name.split(":", 1)[1]
        if rows is not None:
            return read_dataset(group, dataset, rows)
        if (g, name) not in self._cache:
            self._cache[g, name] = read_dataset(group, dataset)
        return self._cache[g, name]

    def get(self, name: str, ids: np.ndarray | None = None, default=None) -> np.ndarray:
        """Attribute ``name`` of ``ids``: the group's value, else the types CSV's; None where neither
        has one (``default`` fills those when given)."""
        rows = not self.whole and ids is not None
        ids = np.arange(self.size) if ids is None else np.asarray(ids, dtype=np.int64)
        out = np.full(len(ids), None, dtype=object)
        have = np.zeros(len(ids), bool)
        gid, gidx = self._index("group_id", ids, rows), self._index("group_index", ids, rows)
        for g in np.unique(gid):
            if name in self._names[int(g)]:
                m = gid == g
                values = self._values(int(g), name, gidx[m]) if rows else self._values(int(g), name)[gidx[m]]
                if m.all() and len(ids) and values.dtype.kind in "iuf":  # what _tidy makes of it
                    return values.astype(np.int64 if values.dtype.kind in "iu" else float)
                out[m] = values
                have[m] = True
        if not have.all() and name in self.types.columns:
            rest = ~have
            type_id = self._index("type_id", ids[rest], rows)
            out[rest] = self.types.column(name, type_id, self.types_file or self.file)
        if default is not None:
            out[np.array([v is None for v in out], dtype=bool)] = default
        return _tidy(out)


class NodePopulation:
    """One node population: its attributes (groups + CSV) and its properties from the config."""

    def __init__(self, name: str, h5: h5py.Group, types: TypesTable, properties: dict, file: str):
        self.name, self.properties, self.file = name, properties, file
        self._groups = _Groups(h5, "node", types, file, properties.get("node_types_file"), whole=True)
        self.size = self._groups.size
        if "node_id" in h5 and not np.array_equal(h5["node_id"][()], np.arange(self.size)):
            raise UserError(f"population {name}: node_id is not 0..n-1 (SONATA ids are positions)", file)

    @property
    def attribute_names(self) -> set[str]:
        return self._groups.names

    def get(self, name: str, ids: np.ndarray | None = None, default=None) -> np.ndarray:
        return self._groups.get(name, ids, default)

    @property
    def type(self) -> str:
        """The population's ``type`` (config), else the one ``model_type`` of all its nodes, else
        ``biophysical`` when any node is (mixed with point neurons, as bmtk writes them)."""
        if self.properties.get("type"):
            return self.properties["type"]
        kinds = set(self.model_types().tolist())
        if len(kinds) == 1:
            return kinds.pop()
        return "biophysical" if "biophysical" in kinds else "mixed"

    def model_types(self, ids: np.ndarray | None = None) -> np.ndarray:
        """Each node's ``model_type`` (node attribute, else the population's configured type)."""
        return self.get("model_type", ids, default=self.properties.get("type") or "unknown").astype(object)


class EdgePopulation:
    """One edge population: source/target ids and attributes (groups + CSV)."""

    def __init__(self, name: str, h5: h5py.Group, types: TypesTable, properties: dict, file: str):
        self.name, self.properties, self.file = name, properties, file
        self.source = str(h5["source_node_id"].attrs["node_population"])
        self.target = str(h5["target_node_id"].attrs["node_population"])
        self._h5 = h5
        self._groups = _Groups(h5, "edge", types, file, properties.get("edge_types_file"), whole=False)
        self.size = self._groups.size

    @property
    def type(self) -> str:
        return self.properties.get("type") or "chemical"

    @cached_property
    def source_ids(self) -> np.ndarray:
        return self._h5["source_node_id"][()].astype(np.int64)

    @cached_property
    def target_ids(self) -> np.ndarray:
        return self._h5["target_node_id"][()].astype(np.int64)

    @property
    def attribute_names(self) -> set[str]:
        return self._groups.names

    def afferent(self, targets: np.ndarray) -> dict[str, np.ndarray]:
        """``edge_id``, ``source``, ``target`` and every attribute of the edges onto ``targets``
        (ascending edge ids), reading only those edges' rows."""
        ids = self._afferent_ids(np.unique(np.asarray(targets, dtype=np.int64)))
        out = {
            "edge_id": ids,
            "source": read_rows(self._h5["source_node_id"], ids).astype(np.int64),
            "target": read_rows(self._h5["target_node_id"], ids).astype(np.int64),
        }
        for name in sorted(self.attribute_names):
            out[name] = self._groups.get(name, ids)
        return out

    def _afferent_ids(self, targets: np.ndarray) -> np.ndarray:
        """Sorted ids of the edges onto sorted ``targets``: through the file's SONATA index
        when it has one, else from every edge's target."""
        ids = indexed_edges(self._h5.get("indices/target_to_source"), targets)
        return np.flatnonzero(np.isin(self.target_ids, targets)) if ids is None else ids


class Circuit:
    """A SONATA circuit config and every node and edge population it lists."""

    def __init__(self, config_path: Path):
        self.path = Path(config_path)
        self.config = read_config(self.path)
        self.components = self.config.get("components", {})
        self.nodes: dict[str, NodePopulation] = {}
        self.edges: dict[str, EdgePopulation] = {}
        self._files: list[h5py.File] = []
        networks = self.config.get("networks", {})
        for i, entry in enumerate(networks.get("nodes", [])):
            self._read(entry, "nodes", f"networks.nodes[{i}]")
        for i, entry in enumerate(networks.get("edges", [])):
            self._read(entry, "edges", f"networks.edges[{i}]")

    def _read(self, entry: dict, kind: str, where: str) -> None:
        file = entry.get(f"{kind}_file")
        if not file or not Path(file).is_file():
            raise UserError(f"{kind} file {file!r} not found", str(self.path), f"{where}.{kind}_file")
        types_key = f"{kind[:-1]}_types_file"
        types = TypesTable.read(entry.get(types_key), f"{kind[:-1]}_type_id")
        try:
            h5 = h5py.File(file, "r")
        except OSError as exc:
            raise UserError(
                f"cannot open {file} as HDF5: {exc}", str(self.path), f"{where}.{kind}_file"
            ) from None
        self._files.append(h5)
        overrides = entry.get("populations", {})
        for name in h5.get(kind, {}):
            props = {**self.components, types_key: entry.get(types_key), **overrides.get(name, {})}
            cls = NodePopulation if kind == "nodes" else EdgePopulation
            (self.nodes if kind == "nodes" else self.edges)[name] = cls(
                name, h5[kind][name], types, props, file
            )

    def node_population(self, name: str) -> NodePopulation:
        if name not in self.nodes:
            raise UserError(f"no node population {name!r} (have {sorted(self.nodes)})", str(self.path))
        return self.nodes[name]

    @property
    def node_sets_file(self) -> Path | None:
        value = self.config.get("node_sets_file")
        return Path(value) if value else None


def parse_list(value, file: str, what: str) -> list:
    """A CSV cell holding a Python-style list (``"['basal', 'apical']"``, ``"[0.0, 150.0]"``)."""
    if isinstance(value, list):
        return value
    try:
        parsed = ast.literal_eval(str(value))
    except (ValueError, SyntaxError):
        raise UserError(f"{what} {value!r} is not a list", file) from None
    return list(parsed) if isinstance(parsed, (list, tuple)) else [parsed]
