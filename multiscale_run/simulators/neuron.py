"""NeuronSim: NEURON on a SONATA circuit (the only module importing ``neuron``).

Reads the circuit with libsonata (nodes, edges, node sets) and morphologies with morphio, builds
this rank's cells (round-robin by node id, :meth:`Parallel.local_cells`) section by section from
the morphology, applies biophysics from the nodes' ``model_template``
(``msr:<name>`` = ``<biophysical_neuron_models_dir>/<name>.json``, see
:mod:`multiscale_run.circuit.emodels`; ``hoc:<Name>`` = a BBP-style cell template
``Name(gid, morphology_dir, morphology_file)`` from the circuit's templates directory), places
Exp2Syn synapses from the edges, connects them through a ParallelContext (gid = node id) and
adds the SONATA ``inputs`` (current_clamp linear/pulse, synapse_replay spikes).

Segment variables are read and written through ``h.PtrVector`` gathers/scatters in one fixed
local order: cells by ascending node id, sections by SONATA section id (soma 0, then the
morphology's sections in file order), segments from 0 to 1 along each section.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import libsonata
import morphio
import numpy as np

from multiscale_run import mod_files
from multiscale_run.errors import UserError
from multiscale_run.nodes import choose_neurons
from multiscale_run.simulators.base import Simulator
from multiscale_run.spaces import SegmentGeometry, Space, Variable

log = logging.getLogger(__name__)

#: J15 resting neuronal values (specs/metabolism-j15.md §2) and usual ion concentrations (mM)
DEFAULT_CONCENTRATIONS_MM = {
    "nai": 7.9717478717769090,
    "nao": 140.0,
    "ki": 140.0,
    "ko": 3.0,
    "atpi": 2.1973762129517347,
    "adpi": 0.014520,
}

SEGMENT_VARIABLES = {
    "v": ("mV", "membrane potential", "v"),
    "ina": ("mA/cm2", "total Na+ current density", "ina"),
    "ik": ("mA/cm2", "total K+ current density", "ik"),
    "nai": ("mM", "intracellular Na+", "nai"),
    "ki": ("mM", "intracellular K+", "ki"),
    "nao": ("mM", "extracellular Na+", "nao"),
    "ko": ("mM", "extracellular K+", "ko"),
    "atpi": ("mM", "intracellular ATP", "atpi"),
    "adpi": ("mM", "intracellular ADP", "adpi"),
}
#: Read-only per-segment currents in nA (density × area; 1 mA/cm² × 1 µm² = 1e-2 nA): the
#: amounts that the segment_to_tet operator distributes over the extracellular mesh.
SEGMENT_CURRENTS = {
    "ina_nA": ("ina", "total Na+ current of the segment"),
    "ik_nA": ("ik", "total K+ current of the segment"),
}
_SECTION_LISTS = ("all", "somatic", "axonal", "dendritic", "basal", "apical")


def _current_nA(density_mA_cm2: np.ndarray, area_um2: np.ndarray) -> np.ndarray:
    """A segment's current from its density: 1 mA/cm2 x 1 um2 = 1e-2 nA."""
    return density_mA_cm2 * area_um2 * 1e-2


_SWC_KIND = {2: "axonal", 3: "basal", 4: "apical"}
_SUPPORTED_INPUTS = {("current_clamp", "linear"), ("current_clamp", "pulse"), ("spikes", "synapse_replay")}


@dataclass(frozen=True)
class NeuronSettings:
    """Everything NeuronSim needs, as plain values (built from a Config or by hand in tests)."""

    circuit_config: Path
    dt_ms: float = 0.025
    tstop_ms: float = 1000.0
    node_set: str | None = None
    node_sets_file: Path | None = None
    inputs: dict = field(default_factory=dict)
    celsius: float = 34.0
    v_init_mV: float = -70.0
    spike_threshold_mV: float = -30.0
    mod_dir: Path | None = None
    cache_dir: Path = Path("cache")
    max_segment_length_um: float = 50.0
    calibrate_ion_leaks: bool = True
    concentrations_mM: dict = field(default_factory=lambda: dict(DEFAULT_CONCENTRATIONS_MM))
    min_delay_ms: float = 0.1
    #: ``(report name, variable)`` of each soma report: NEURON records the variable at every local
    #: soma, every step (one record per report, read by :meth:`NeuronSim.soma_samples`)
    soma_reports: tuple[tuple[str, str], ...] = ()


def soma_reports(section: dict) -> tuple[tuple[str, str], ...]:
    """``(name, variable)`` of each report the neuron section takes at the somata, in order
    (operator ``soma``, the default for segment values)."""
    reports = section.get("reports", [])
    return tuple((r["name"], r["variable"]) for r in reports if (r.get("operator") or "soma") == "soma")


def settings_from_config(config) -> NeuronSettings:
    """Map a :class:`multiscale_run.config.Config` onto :class:`NeuronSettings`."""
    section = config.simulator("neuron")
    conditions = config.conditions
    mod_dir = section.get("mod_dir")
    if mod_dir is None and (config.base_dir / "mod").is_dir():
        mod_dir = config.base_dir / "mod"
    return NeuronSettings(
        circuit_config=Path(config.circuit_config),
        dt_ms=config.dt_ms("neuron"),
        tstop_ms=config.run.tstop_ms,
        node_set=config.node_set,
        node_sets_file=config.node_sets_file,
        inputs=config.inputs,
        celsius=float(conditions.get("celsius", 34.0)),
        v_init_mV=float(conditions.get("v_init", -70.0)),
        spike_threshold_mV=config.run.spike_threshold_mV,
        mod_dir=Path(mod_dir) if mod_dir else None,
        cache_dir=Path(config.cache_dir),
        max_segment_length_um=float(section.get("max_segment_length_um", 50.0)),
        calibrate_ion_leaks=bool(section.get("calibrate_ion_leaks", True)),
        concentrations_mM={**DEFAULT_CONCENTRATIONS_MM, **section.get("initial_concentrations_mM", {})},
        soma_reports=soma_reports(section),
    )


# ------------------------------------------------------------------------------------------
# pure helpers (geometry)
# ------------------------------------------------------------------------------------------
def rotation_matrices(attributes: dict[str, np.ndarray], n: int) -> np.ndarray:
    """(n, 3, 3) rotations from SONATA orientation_w/x/y/z or rotation_angle_{x,y,z}axis.

    SONATA: the quaternion takes precedence; Euler angles (radians) apply x first, then y, then z
    (R = Rz·Ry·Rx). Missing attributes mean no rotation.
    """
    if "orientation_w" in attributes:
        q = np.stack([attributes[f"orientation_{c}"] for c in "wxyz"], axis=1).astype(float)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        w, x, y, z = q.T
        return np.stack(
            [
                np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
                np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
                np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
            ],
            axis=1,
        )
    rot = np.tile(np.eye(3), (n, 1, 1))
    for axis in "xyz":
        angle = np.asarray(attributes.get(f"rotation_angle_{axis}axis", np.zeros(n)), dtype=float)
        c, s = np.cos(angle), np.sin(angle)
        one, zero = np.ones(n), np.zeros(n)
        if axis == "x":
            r = [[one, zero, zero], [zero, c, -s], [zero, s, c]]
        elif axis == "y":
            r = [[c, zero, s], [zero, one, zero], [-s, zero, c]]
        else:
            r = [[c, -s, zero], [s, c, zero], [zero, zero, one]]
        rot = np.einsum("nij,njk->nik", np.moveaxis(np.array(r), (0, 1), (1, 2)), rot)
    return rot


def polyline_points_at(points: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Points at arc-length ``fractions`` (0..1) along a 3-D polyline (n, 3)."""
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    if arc[-1] == 0:
        return np.repeat(points[:1], len(fractions), axis=0)
    target = np.asarray(fractions) * arc[-1]
    return np.stack([np.interp(target, arc, points[:, k]) for k in range(3)], axis=1)


def segment_count(length_um: float, max_segment_length_um: float) -> int:
    """The smallest segment count with segments no longer than ``max_segment_length_um``."""
    return max(1, math.ceil(length_um / max_segment_length_um))


@dataclass(frozen=True)
class LocalMorphology:
    """A morphology in its own frame: soma centre/radius and sections (points µm, diameters µm)."""

    soma_center: np.ndarray
    soma_radius: float
    points: list[np.ndarray]
    diameters: list[np.ndarray]
    types: list[int]
    parents: list[int]  # morphio parent section index, -1 for a soma child


def read_morphology(path: Path) -> LocalMorphology:
    m = morphio.Morphology(str(path))
    soma_pts = np.asarray(m.soma.points, dtype=float)
    soma_d = np.asarray(m.soma.diameters, dtype=float)
    if len(soma_pts) == 0:
        raise UserError(f"morphology {path} has no soma")
    center = soma_pts.mean(axis=0)
    radius = (
        float(soma_d.max() / 2)
        if len(soma_pts) == 1
        else float(max(np.linalg.norm(soma_pts - center, axis=1).mean(), soma_d.max() / 2))
    )
    secs = list(m.sections)
    return LocalMorphology(
        soma_center=center,
        soma_radius=radius,
        points=[np.asarray(s.points, dtype=float) for s in secs],
        diameters=[np.asarray(s.diameters, dtype=float) for s in secs],
        types=[int(s.type) for s in secs],
        parents=[-1 if s.is_root else s.parent.id for s in secs],
    )


# ------------------------------------------------------------------------------------------
# the adapter
# ------------------------------------------------------------------------------------------
@dataclass
class _Cell:
    gid: int
    sections: list  # index = SONATA section id
    kinds: list[str]  # "somatic" / "axonal" / "basal" / "apical" / "other"
    points: list[np.ndarray]  # global 3-D points of each section (µm)
    template: object = None  # keeps a hoc cell alive

    @property
    def soma(self):
        return self.sections[0]


class NeuronSim(Simulator):
    """NEURON on this rank's cells of a SONATA circuit; values on the ``segment`` space."""

    name = "neuron"

    def __init__(self, config, parallel, settings: NeuronSettings | None = None):
        self.settings = settings if settings is not None else settings_from_config(config)
        self.parallel = parallel
        self._build()

    @classmethod
    def from_settings(cls, settings: NeuronSettings, parallel) -> NeuronSim:
        return cls(None, parallel, settings=settings)

    # --- building -----------------------------------------------------------------------------
    def _build(self) -> None:
        from neuron import h

        self.h = h
        s = self.settings
        h.load_file("stdrun.hoc")
        mod_dir = s.mod_dir if s.mod_dir is not None else mod_files.shipped_mod_dir()
        self._load_mechanisms(mod_dir)
        if self.parallel.size > 1:
            h.nrnmpi_init()
        self.pc = h.ParallelContext()
        if int(self.pc.nhost()) != self.parallel.size:
            raise RuntimeError(f"NEURON sees {int(self.pc.nhost())} ranks, MPI has {self.parallel.size}")
        h.celsius = s.celsius
        h.dt = s.dt_ms
        for name, value in s.concentrations_mM.items():
            ion = name[:-1]
            if hasattr(h, f"{name}0_{ion}_ion"):
                setattr(h, f"{name}0_{ion}_ion", float(value))

        self.circuit = libsonata.CircuitConfig.from_file(str(s.circuit_config))
        self.population, self.node_ids = self._simulated_nodes()
        self.gids = self.parallel.local_cells(self.node_ids).astype(np.int64)
        self._simulated = set(int(i) for i in self.node_ids)
        self.cells = self._build_cells()
        self._place_segments()
        self._netcons: list = []
        self._synapses: list = []
        self._replay: list[tuple[object, np.ndarray]] = []
        self._stimuli: list = []
        self._register_gids()
        self._connect()
        self._add_inputs()
        self._make_pointers()
        self._initialize()

    def _load_mechanisms(self, mod_dir: Path) -> None:
        h = self.h
        names = mod_files.mechanism_names(mod_dir)
        present = [n for n in names if hasattr(h, n)]
        if present and len(present) == len(names):
            return  # an earlier NeuronSim in this process loaded them already
        if present:
            raise UserError(f"mechanisms {present} of {mod_dir} are already loaded from another library")
        h.nrn_load_dll(str(mod_files.compile_mechanisms(mod_dir, self.settings.cache_dir)))

    def _simulated_nodes(self) -> tuple[libsonata.NodePopulation, np.ndarray]:
        s = self.settings
        population, ids = choose_neurons(s.circuit_config, s.node_set, s.node_sets_file)
        return self.circuit.node_population(population), ids

    def _node_attributes(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        sel = libsonata.Selection(ids.astype(np.uint64)) if len(ids) else libsonata.Selection([])
        names = self.population.attribute_names
        wanted = [
            "x",
            "y",
            "z",
            "morphology",
            "model_template",
            *[n for n in names if n.startswith(("orientation_", "rotation_angle_"))],
        ]
        out = {}
        for name in wanted:
            if name in names:
                out[name] = np.asarray(self.population.get_attribute(name, sel))
        return out

    def _components(self) -> dict:
        props = self.circuit.node_population_properties(self.population.name)
        raw = json.loads(Path(self.settings.circuit_config).read_text())
        base = Path(self.settings.circuit_config).parent
        templates = raw.get("components", {}).get("templates_dir")
        return {
            "morphologies_dir": Path(props.morphologies_dir) if props.morphologies_dir else None,
            "alternate": {k: Path(v) for k, v in props.alternate_morphology_formats.items()},
            "emodels_dir": Path(props.biophysical_neuron_models_dir)
            if props.biophysical_neuron_models_dir
            else None,
            "templates_dir": (base / templates).resolve() if templates else None,
        }

    def _morphology_path(self, name: str, comps: dict) -> Path:
        dirs = [d for d in (comps["morphologies_dir"], *comps["alternate"].values()) if d]
        candidates = (
            [d / name for d in dirs]
            if Path(name).suffix
            else [d / f"{name}{ext}" for d in dirs for ext in (".swc", ".h5", ".asc")]
        )
        for path in candidates:
            if path.exists():
                return path
        raise UserError(f"morphology {name!r} not found in {[str(d) for d in dirs]}")

    def _build_cells(self) -> list[_Cell]:
        attrs = self._node_attributes(self.gids)
        n = len(self.gids)
        comps = self._components()
        rot = rotation_matrices(attrs, n)
        pos = np.stack([attrs.get(c, np.zeros(n)) for c in "xyz"], axis=1).astype(float)
        morph_cache: dict[Path, LocalMorphology] = {}
        emodel_cache: dict[str, dict] = {}
        cells = []
        for i, gid in enumerate(self.gids):
            template = str(attrs["model_template"][i]) if "model_template" in attrs else "msr:RS"
            path = self._morphology_path(str(attrs["morphology"][i]), comps)
            if template.startswith("hoc:"):
                cells.append(self._hoc_cell(int(gid), template[4:], path, comps, rot[i], pos[i]))
                continue
            if path not in morph_cache:
                morph_cache[path] = read_morphology(path)
            cell = self._cell_from_morphology(int(gid), morph_cache[path], rot[i], pos[i])
            if template not in emodel_cache:
                emodel_cache[template] = self._read_emodel(template, comps)
            self._apply_emodel(cell, emodel_cache[template])
            cells.append(cell)
        return cells

    def _read_emodel(self, template: str, comps: dict) -> dict:
        kind, _, name = template.partition(":")
        if kind != "msr" or not name:
            raise UserError(f"unsupported model_template {template!r} (expected msr:<name> or hoc:<Name>)")
        if comps["emodels_dir"] is None:
            raise UserError("model_template msr:* needs components.biophysical_neuron_models_dir")
        path = comps["emodels_dir"] / f"{name}.json"
        if not path.exists():
            raise UserError(f"e-model {template!r}: {path} not found")
        return json.loads(path.read_text())

    def _cell_from_morphology(
        self, gid: int, morph: LocalMorphology, rot: np.ndarray, pos: np.ndarray
    ) -> _Cell:
        h = self.h
        to_global = lambda p: (p - morph.soma_center) @ rot.T + pos  # noqa: E731
        soma = h.Section(name=f"cell{gid}.soma")
        # A sphere of radius r as a cylinder of length and diameter 2r (same membrane area),
        # along the cell's own y axis, as NEURON's Import3d does for single-point somata.
        r = morph.soma_radius
        soma_pts = to_global(morph.soma_center + np.array([[0.0, -r, 0.0], [0.0, r, 0.0]]))
        self._pt3d(soma, soma_pts, np.array([2 * r, 2 * r]))
        sections, kinds, points = [soma], ["somatic"], [soma_pts]
        for k, (p, d, t, parent) in enumerate(
            zip(morph.points, morph.diameters, morph.types, morph.parents, strict=True)
        ):
            sec = h.Section(name=f"cell{gid}.sec{k + 1}")
            gp = to_global(p)
            self._pt3d(sec, gp, d)
            if parent < 0:
                sec.connect(soma(0.5), 0)
            else:
                sec.connect(sections[parent + 1](1), 0)
            sections.append(sec)
            kinds.append(_SWC_KIND.get(t, "other"))
            points.append(gp)
        for sec in sections:
            sec.nseg = segment_count(sec.L, self.settings.max_segment_length_um)
        return _Cell(gid=gid, sections=sections, kinds=kinds, points=points)

    def _pt3d(self, sec, pts: np.ndarray, diams: np.ndarray) -> None:
        h = self.h
        h.pt3dadd(h.Vector(pts[:, 0]), h.Vector(pts[:, 1]), h.Vector(pts[:, 2]), h.Vector(diams), sec=sec)

    def _apply_emodel(self, cell: _Cell, emodel: dict) -> None:
        groups = {
            "all": range(len(cell.sections)),
            "somatic": [i for i, k in enumerate(cell.kinds) if k == "somatic"],
            "axonal": [i for i, k in enumerate(cell.kinds) if k == "axonal"],
            "dendritic": [i for i, k in enumerate(cell.kinds) if k in ("basal", "apical")],
            "basal": [i for i, k in enumerate(cell.kinds) if k == "basal"],
            "apical": [i for i, k in enumerate(cell.kinds) if k == "apical"],
        }
        spec = emodel.get("sections", {})
        unknown = set(spec) - set(_SECTION_LISTS)
        if unknown:
            raise UserError(f"e-model section lists {sorted(unknown)} unknown (use {list(_SECTION_LISTS)})")
        for group in _SECTION_LISTS:
            if group not in spec:
                continue
            for i in groups[group]:
                sec = cell.sections[i]
                for key in ("Ra", "cm"):
                    if key in spec[group]:
                        setattr(sec, key, float(spec[group][key]))
                for mech, params in spec[group].get("mechanisms", {}).items():
                    sec.insert(mech)
                    for pname, value in params.items():
                        setattr(sec, f"{pname}_{mech}", float(value))

    def _hoc_cell(
        self, gid: int, name: str, path: Path, comps: dict, rot: np.ndarray, pos: np.ndarray
    ) -> _Cell:
        """A BBP-style hoc template ``Name(gid, morphology_dir, morphology_file)``.

        The template loads the morphology and its biophysics itself; sections are taken in the
        order of its ``all`` list (soma first) and moved to the node's position and orientation.
        """
        h = self.h
        if not hasattr(h, name):
            tdir = comps["templates_dir"] or comps["emodels_dir"]
            if tdir is None or not (tdir / f"{name}.hoc").exists():
                raise UserError(f"hoc template {name}.hoc not found (components.templates_dir = {tdir})")
            h.load_file(str(tdir / f"{name}.hoc"))
        obj = getattr(h, name)(gid, str(path.parent), path.name)
        secs = list(obj.all)
        somatic = list(obj.somatic) if hasattr(obj, "somatic") else []
        soma = somatic[0] if somatic else secs[0]
        secs = [soma, *[sec for sec in secs if sec != soma]]
        kind_of = {}
        for lname, kind in (
            ("axonal", "axonal"),
            ("basal", "basal"),
            ("apical", "apical"),
            ("somatic", "somatic"),
        ):
            if hasattr(obj, lname):
                for sec in getattr(obj, lname):
                    kind_of[sec.name()] = kind
        center = (
            np.array([soma.x3d(soma.n3d() // 2), soma.y3d(soma.n3d() // 2), soma.z3d(soma.n3d() // 2)])
            if soma.n3d()
            else np.zeros(3)
        )
        points = []
        for sec in secs:
            n = sec.n3d()
            local = np.array([[sec.x3d(j), sec.y3d(j), sec.z3d(j)] for j in range(n)]).reshape(n, 3)
            glob = (local - center) @ rot.T + pos
            diams = np.array([sec.diam3d(j) for j in range(n)])
            if n:
                sec.pt3dclear()
                self._pt3d(sec, glob, diams)
            points.append(glob)
        return _Cell(
            gid=gid,
            sections=secs,
            kinds=[kind_of.get(s.name(), "other") for s in secs],
            points=points,
            template=obj,
        )

    def _place_segments(self) -> None:
        """Fix the local segment order and compute its geometry (once)."""
        starts, ends, area, volume, owner, soma_index = [], [], [], [], [], []
        count = 0
        for ci, cell in enumerate(self.cells):
            soma_index.append(count + cell.soma.nseg // 2)
            for sec, pts in zip(cell.sections, cell.points, strict=True):
                nseg = sec.nseg
                edges = (
                    polyline_points_at(pts, np.linspace(0, 1, nseg + 1))
                    if len(pts)
                    else np.zeros((nseg + 1, 3))
                )
                starts.append(edges[:-1])
                ends.append(edges[1:])
                for seg in sec:
                    area.append(seg.area())
                    volume.append(seg.volume())
                owner.append(np.full(nseg, ci))
                count += nseg
        self._segment_sections = [(sec, seg.x) for cell in self.cells for sec in cell.sections for seg in sec]
        self._geometry = SegmentGeometry(
            start_um=np.concatenate(starts) if starts else np.zeros((0, 3)),
            end_um=np.concatenate(ends) if ends else np.zeros((0, 3)),
            area_um2=np.asarray(area, dtype=float),
            volume_um3=np.asarray(volume, dtype=float),
            neuron_index=np.concatenate(owner).astype(np.int64) if owner else np.zeros(0, np.int64),
            gids=self.gids.copy(),
        )
        self._soma_index = np.asarray(soma_index, dtype=np.int64)

    def _register_gids(self) -> None:
        h, pc = self.h, self.pc
        self._spike_t, self._spike_gid = h.Vector(), h.Vector()
        self._detectors = []
        for cell in self.cells:
            pc.set_gid2node(cell.gid, self.parallel.rank)
            nc = h.NetCon(cell.soma(0.5)._ref_v, None, sec=cell.soma)
            nc.threshold = self.settings.spike_threshold_mV
            pc.cell(cell.gid, nc)
            self._detectors.append(nc)
        if not self.cells:
            # NEURON 9 segfaults in psolve on a rank that owns no gid (install-notes): give it a
            # silent artificial cell under a gid no node uses.
            self._placeholder = h.IntFire1()
            gid = int(self.node_ids.max(initial=-1)) + 1 + self.parallel.rank
            pc.set_gid2node(gid, self.parallel.rank)
            nc = h.NetCon(self._placeholder, None)
            pc.cell(gid, nc)
            self._detectors.append(nc)
        pc.spike_record(-1, self._spike_t, self._spike_gid)

    def _afferent(self, edge_name: str, targets: np.ndarray) -> dict[str, np.ndarray]:
        """Attributes of the edges of ``edge_name`` whose target is in ``targets``."""
        edges = self.circuit.edge_population(edge_name)
        try:
            sel = edges.afferent_edges(targets.astype(np.uint64).tolist())
        except libsonata.SonataError:  # no indices: filter the whole population
            all_targets = edges.target_nodes(libsonata.Selection([(0, edges.size)]))
            sel = libsonata.Selection(np.flatnonzero(np.isin(all_targets, targets)).astype(np.uint64))
        out = {
            "source": np.asarray(edges.source_nodes(sel), dtype=np.int64),
            "target": np.asarray(edges.target_nodes(sel), dtype=np.int64),
        }
        for name in edges.attribute_names:
            out[name] = np.asarray(edges.get_attribute(name, sel))
        return out

    def _incoming_populations(self) -> list[tuple[str, str]]:
        """(edge population, source node population) of chemical edges onto the simulated cells."""
        out = []
        for name in sorted(self.circuit.edge_populations):
            edges = self.circuit.edge_population(name)
            props = self.circuit.edge_population_properties(name)
            if edges.target == self.population.name and props.type in ("chemical", ""):
                out.append((name, edges.source))
        return out

    def _synapse(self, cell: _Cell, section_id: int, pos: float, attrs: dict, k: int, excitatory: bool):
        h = self.h
        if not 0 <= section_id < len(cell.sections):
            raise UserError(
                f"synapse on section {section_id} of node {cell.gid}, which has {len(cell.sections)} sections"
            )
        syn = h.Exp2Syn(cell.sections[section_id](min(max(pos, 0.0), 1.0)))
        rise = float(attrs["rise_time"][k]) if "rise_time" in attrs else (0.2 if excitatory else 1.0)
        decay = float(attrs["decay_time"][k]) if "decay_time" in attrs else (1.7 if excitatory else 8.0)
        syn.tau1, syn.tau2 = rise, max(decay, rise * 1.001)
        syn.e = 0.0 if excitatory else -80.0
        self._synapses.append(syn)
        return syn

    @staticmethod
    def _excitatory(attrs: dict, n: int) -> np.ndarray:
        if "syn_type_id" in attrs:
            return np.asarray(attrs["syn_type_id"]) >= 100  # BBP: < 100 inhibitory
        if "erev" in attrs:
            return np.asarray(attrs["erev"], dtype=float) > -40.0
        return np.ones(n, dtype=bool)

    def _edge_synapses(self, edge_name: str, keep_source) -> list[tuple[object, int, float, float]]:
        """Create synapses for local afferent edges; returns (synapse, source id, weight µS, delay ms)."""
        attrs = self._afferent(edge_name, self.gids)
        keep = keep_source(attrs["source"])
        attrs = {k: v[keep] for k, v in attrs.items()}
        n = len(attrs["source"])
        exc = self._excitatory(attrs, n)
        weight = attrs.get("syn_weight", attrs.get("conductance", np.full(n, 0.001))).astype(float)
        delay = np.maximum(attrs.get("delay", np.ones(n)).astype(float), self.settings.min_delay_ms)
        section = attrs.get("afferent_section_id", np.zeros(n, dtype=np.int64)).astype(np.int64)
        position = attrs.get("afferent_section_pos", np.full(n, 0.5)).astype(float)
        cell_of = {cell.gid: cell for cell in self.cells}
        out = []
        for k in range(n):
            syn = self._synapse(
                cell_of[int(attrs["target"][k])], int(section[k]), float(position[k]), attrs, k, bool(exc[k])
            )
            out.append(
                (syn, int(attrs["source"][k]), float(weight[k]), float(delay[k]), int(attrs["target"][k]))
            )
        return out

    def _connect(self) -> None:
        pop = self.population.name
        for edge_name, source in self._incoming_populations():
            if source != pop:
                continue
            for syn, src, w, d, _ in self._edge_synapses(edge_name, lambda s: np.isin(s, self.node_ids)):
                nc = self.pc.gid_connect(src, syn)
                nc.weight[0] = w
                nc.delay = d
                self._netcons.append(nc)

    def _input_targets(self, name: str, spec: dict) -> np.ndarray:
        node_set = spec.get("node_set", self.settings.node_set)
        if node_set is None:
            return self.gids
        if self.settings.node_sets_file is None:
            raise UserError(f"input {name!r} names node set {node_set!r} but there is no node_sets_file")
        node_sets = libsonata.NodeSets.from_file(str(self.settings.node_sets_file))
        if node_set not in node_sets.names:
            raise UserError(f"node set {node_set!r} not found", path=f"inputs.{name}.node_set")
        ids = node_sets.materialize(node_set, self.population).flatten()
        return self.gids[np.isin(self.gids, ids)]

    def _add_inputs(self) -> None:
        for name, spec in sorted(self.settings.inputs.items()):
            key = (spec.get("input_type"), spec.get("module"))
            if key not in _SUPPORTED_INPUTS:
                raise UserError(
                    f"input {name!r}: unsupported input_type/module {key}, supported: "
                    f"{sorted(_SUPPORTED_INPUTS)}",
                    path=f"inputs.{name}",
                )
            targets = self._input_targets(name, spec)
            if key[0] == "current_clamp":
                self._current_clamp(name, spec, targets)
            else:
                self._spike_replay(name, spec, targets)

    def _current_clamp(self, name: str, spec: dict, targets: np.ndarray) -> None:
        h = self.h
        t0 = float(spec.get("delay", 0.0))
        duration = float(spec.get("duration", self.settings.tstop_ms))
        t1 = t0 + duration
        amp0 = float(spec.get("amp_start", 0.0))
        if spec["module"] == "linear":
            amp1 = float(spec.get("amp_end", amp0))
            times, amps = [0.0, t0, t0, t1, t1], [0.0, 0.0, amp0, amp1, 0.0]
        else:
            width = float(spec["width"])
            period = 1000.0 / float(spec["frequency"])
            times, amps = [0.0], [0.0]
            for start in np.arange(t0, t1, period):
                end = min(start + width, t1)
                times += [start, start, end, end]
                amps += [0.0, amp0, amp0, 0.0]
        # Vector.play interpolates, and holds the mean of two values given at the same last time:
        # one more point makes the current exactly 0 after the stimulus.
        times.append(times[-1] + 1.0)
        amps.append(0.0)
        cell_of = {cell.gid: cell for cell in self.cells}
        for gid in targets:
            soma = cell_of[int(gid)].soma
            clamp = h.IClamp(soma(0.5))
            clamp.delay, clamp.dur = 0.0, 1e9
            tvec, avec = h.Vector(times), h.Vector(amps)
            avec.play(clamp._ref_amp, tvec, 1)
            self._stimuli.append((clamp, tvec, avec))

    def _spike_replay(self, name: str, spec: dict, targets: np.ndarray) -> None:
        path = spec.get("spike_file")
        if not path or not Path(path).exists():
            raise UserError(f"spike_file {path!r} not found", path=f"inputs.{name}.spike_file")
        reader = libsonata.SpikeReader(str(path))
        t0 = float(spec.get("delay", 0.0))
        t1 = t0 + float(spec.get("duration", self.settings.tstop_ms))
        replayed = False
        for edge_name, source in self._incoming_populations():
            if source not in reader.get_population_names() or source == self.population.name:
                continue
            if spec.get("source") not in (None, source):
                continue
            ids, times = self._read_spikes(reader, source)
            keep = (times >= t0) & (times < t1)
            ids, times = ids[keep], times[keep]
            order = np.argsort(ids, kind="stable")
            ids, times = ids[order], times[order]
            starts = np.searchsorted(ids, np.arange(int(ids.max(initial=-1)) + 2))
            replayed = True
            wanted = set(targets.tolist())
            for syn, src, w, d, tgt in self._edge_synapses(edge_name, lambda s: np.ones(len(s), bool)):
                if tgt not in wanted or src + 1 >= len(starts):
                    continue
                spikes = times[starts[src] : starts[src + 1]]
                if len(spikes):
                    nc = self.h.NetCon(None, syn)
                    nc.weight[0] = w
                    self._replay.append((nc, np.sort(spikes) + d))
        if not replayed:
            log.warning(
                "input %s: no edges from a population of %s onto %s", name, path, self.population.name
            )

    @staticmethod
    def _read_spikes(reader, population: str) -> tuple[np.ndarray, np.ndarray]:
        data = reader[population].get_dict()
        return np.asarray(data["node_ids"], dtype=np.int64), np.asarray(data["timestamps"], dtype=float)

    def _make_pointers(self) -> None:
        h = self.h
        n = len(self._segment_sections)
        self._buffer = h.Vector(max(n, 1))
        # One numpy view of the buffer, made once: Vector.as_numpy costs more than the gather itself.
        self._buffer_view = self._buffer.as_numpy()[:n]
        self._dummy = h.Vector(len(SEGMENT_VARIABLES))
        self._pointers: dict[str, object] = {}
        self._missing: dict[str, int] = {}
        for name in SEGMENT_VARIABLES:
            ptr = h.PtrVector(max(n, 1))
            missing = 0
            for i, (sec, x) in enumerate(self._segment_sections):
                ref, found = self._segment_ref(sec, x, name)
                ptr.pset(i, ref)
                missing += not found
            if n == 0:
                ptr.pset(0, self._segment_ref(None, 0.5, name)[0])
            self._pointers[name] = ptr
            self._missing[name] = missing
        self._dummy.fill(np.nan)

    def _segment_ref(self, sec, x: float, variable: str) -> tuple[object, bool]:
        """(NEURON reference to ``variable`` in segment ``sec(x)``, whether the segment has it).

        A segment without the ion (or no segment, ``sec`` None) gets a reference into a NaN
        placeholder: it reads NaN and writes go nowhere.
        """
        attr = SEGMENT_VARIABLES[variable][2]
        if sec is not None:
            try:
                return getattr(sec(x), f"_ref_{attr}"), True
            except (AttributeError, NameError, RuntimeError):
                pass
        return self._dummy._ref_x[list(SEGMENT_VARIABLES).index(variable)], False

    def _record_somata(self) -> None:
        """Let NEURON record the settings' soma variables every step (before finitialize)."""
        from multiscale_run.simulators.soma_samples import SomaSamples

        self._soma_samples: dict[str, SomaSamples] = {}
        area = self._geometry.area_um2[self._soma_index]
        for report, variable in self.settings.soma_reports:
            base, convert = variable, None
            if variable in SEGMENT_CURRENTS:
                base, convert = SEGMENT_CURRENTS[variable][0], lambda density: _current_nA(density, area)
            elif variable not in SEGMENT_VARIABLES:
                self._pointer(variable)  # raises the usual unknown-variable error
            refs = [self._segment_ref(*self._segment_sections[i], base)[0] for i in self._soma_index]
            self._soma_samples[report] = SomaSamples(self.h, refs, self.settings.dt_ms, convert)

    def _calibrate_ion_leaks(self) -> int:
        """Set msr_ionleak's gna, gk so that at v_init the net Na+ and K+ currents are zero.

        With every ionic flux balanced, the pas leak (e_pas = v_init) carries no current either
        and each segment is at rest at v_init with constant nai, ki. Returns how many
        conductances would have had to be negative (clipped to 0, logged).
        """
        h = self.h
        h.fcurrent()
        clipped = 0
        for sec, x in self._segment_sections:
            seg = sec(x)
            if not hasattr(seg, "msr_ionleak"):
                continue
            leak = seg.msr_ionleak
            for ion, g in (("na", "gna"), ("k", "gk")):
                drive = seg.v - getattr(seg, f"e{ion}")
                value = getattr(leak, g) - getattr(seg, f"i{ion}") / drive if drive else getattr(leak, g)
                if value < 0:
                    clipped += 1
                    value = 0.0
                setattr(leak, g, value)
        if clipped:
            log.warning("ion leak calibration: %d negative conductances clipped to 0", clipped)
        return clipped

    def _initialize(self) -> None:
        h = self.h
        self.pc.set_maxstep(10)
        self._record_somata()
        h.finitialize(self.settings.v_init_mV)
        if self.settings.calibrate_ion_leaks:
            self._calibrate_ion_leaks()
            h.finitialize(self.settings.v_init_mV)
        for nc, times in self._replay:
            for t in times:
                nc.event(float(t))

    # --- the Simulator contract -------------------------------------------------------------
    @property
    def dt_ms(self) -> float:
        return self.settings.dt_ms

    @classmethod
    def placed_morphology_points(cls, config) -> tuple[np.ndarray, np.ndarray]:
        """(points µm (n, 3), node id of each) of every morphology sample of the simulated cells,
        placed and rotated in the circuit, read without NEURON (``msr check`` tests them against
        an existing mesh)."""
        reader = cls.__new__(cls)  # only the circuit-reading half of the adapter
        reader.settings = settings_from_config(config)
        reader.circuit = libsonata.CircuitConfig.from_file(str(reader.settings.circuit_config))
        reader.population, ids = reader._simulated_nodes()
        attrs, comps = reader._node_attributes(ids), reader._components()
        rot = rotation_matrices(attrs, len(ids))
        pos = np.stack([attrs.get(c, np.zeros(len(ids))) for c in "xyz"], axis=1).astype(float)
        morphologies: dict[Path, LocalMorphology] = {}
        points, owners = [], []
        for i, node_id in enumerate(ids):
            path = reader._morphology_path(str(attrs["morphology"][i]), comps)
            morph = morphologies.setdefault(path, read_morphology(path))
            local = np.concatenate([morph.soma_center[None, :], *morph.points])
            points.append((local - morph.soma_center) @ rot[i].T + pos[i])
            owners.append(np.full(len(local), node_id))
        if not points:
            return np.zeros((0, 3)), np.zeros(0, np.int64)
        return np.concatenate(points), np.concatenate(owners)

    @classmethod
    def declared_variables(cls, section: dict | None = None) -> dict[str, Variable]:
        """The segment variables (the same whatever the settings)."""
        out = {
            name: Variable(name, Space.SEGMENT, unit, writable=True, description=desc)
            for name, (unit, desc, _) in SEGMENT_VARIABLES.items()
        }
        for name, (_, desc) in SEGMENT_CURRENTS.items():
            out[name] = Variable(
                name, Space.SEGMENT, "nA", writable=False, description=f"{desc} (outward > 0)"
            )
        return out

    def variables(self) -> dict[str, Variable]:
        return self.declared_variables()

    def advance(self, t_ms: float) -> None:
        self.pc.psolve(float(t_ms))

    @property
    def t_ms(self) -> float:
        return float(self.h.t)

    def get(self, variable: str) -> np.ndarray:
        if variable in SEGMENT_CURRENTS:
            return _current_nA(self.get(SEGMENT_CURRENTS[variable][0]), self._geometry.area_um2)
        ptr = self._pointer(variable)
        ptr.gather(self._buffer)
        return self._buffer_view.copy()

    def set(self, variable: str, values: np.ndarray) -> None:
        ptr = self._pointer(variable)
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (self.n_segments,):
            raise ValueError(f"{variable}: expected {self.n_segments} values, got shape {values.shape}")
        if self.n_segments:
            self._buffer_view[:] = values
            ptr.scatter(self._buffer)
            self._dummy.fill(np.nan)

    def _pointer(self, variable: str):
        try:
            return self._pointers[variable]
        except KeyError:
            raise KeyError(
                f"NeuronSim has no variable {variable!r} (one of {sorted(self._pointers)})"
            ) from None

    @property
    def n_segments(self) -> int:
        return len(self._segment_sections)

    def segment_geometry(self) -> SegmentGeometry:
        return self._geometry

    def soma_samples(self, report: str):
        """NEURON's per-step record of soma report ``report``'s variable at each local soma, a
        :class:`~multiscale_run.simulators.soma_samples.SomaSamples` (``settings.soma_reports``)."""
        try:
            return self._soma_samples[report]
        except KeyError:
            listed = [name for name, _ in self.settings.soma_reports]
            raise KeyError(f"{report!r} is not one of the soma reports {listed}") from None

    def soma_segment_index(self) -> np.ndarray:
        """Index, in the segment order, of each local cell's middle soma segment."""
        return self._soma_index.copy()

    def spikes(self) -> tuple[np.ndarray, np.ndarray]:
        """(node ids, times in ms) of the spikes of this rank's cells so far, in emission order."""
        gids = self._spike_gid.as_numpy().astype(np.int64)
        times = self._spike_t.as_numpy().copy()
        keep = np.isin(gids, self.gids)
        return gids[keep], times[keep]

    def close(self) -> None:
        self.pc.gid_clear()
