"""Building this rank's cells in NEURON: sections from morphologies, e-models, hoc templates, and
the fixed local segment order with its geometry.

A part of :class:`~multiscale_run.simulators.neuron.adapter.NeuronSim` (a mixin: it uses the
adapter's ``h``, ``settings``, ``reader`` and ``gids``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

from multiscale_run.errors import UserError
from multiscale_run.simulators.neuron import bbp, homeostasis
from multiscale_run.simulators.neuron.cell_models import Node, model_of
from multiscale_run.simulators.neuron.hoc_batch import add_points, apply_group
from multiscale_run.simulators.neuron.morphology import (
    LocalMorphology,
    polylines_points_at,
    read_morphology,
    rotation_matrices,
    segment_count,
)
from multiscale_run.spaces import SegmentGeometry

_SECTION_LISTS = ("all", "somatic", "axonal", "dendritic", "basal", "apical")
_SWC_KIND = {2: "axonal", 3: "basal", 4: "apical"}
_REVERSALS = ("ena", "ek", "eca", "ecl")


@dataclass
class _Cell:
    gid: int
    sections: list  # index = SONATA section id
    kinds: list[str]  # "somatic" / "axonal" / "basal" / "apical" / "other"
    points: list[np.ndarray]  # global 3-D points of each section (µm)
    label: str  # "population P node N", as errors name it
    template: object = None  # keeps a hoc cell alive
    #: {SONATA section id: section} where it is not the index in ``sections`` (BBP templates)
    numbering: dict | None = None

    @property
    def soma(self):
        return self.sections[0]

    def section_by_id(self, section_id: int, what: str):
        """The section SONATA's ``section_id`` names (``afferent_section_id``, a compartment set's):
        BBP's numbering where the cell has one, else the index in ``sections``; ``what`` (e.g.
        "synapse on") opens the error when there is none."""
        if self.numbering is not None:
            if section_id not in self.numbering:
                raise UserError(
                    f"{what} section {section_id} of {self.label}, which has sections "
                    f"0-{max(self.numbering)} (BBP numbering; a replaced axon section has none)"
                )
            return self.numbering[section_id]
        if not 0 <= section_id < len(self.sections):
            raise UserError(
                f"{what} section {section_id} of {self.label}, which has {len(self.sections)} sections"
            )
        return self.sections[section_id]


class CellBuilder:
    """Cells and segments of this rank."""

    def _nodes(self, ids: np.ndarray) -> list[Node]:
        attrs = self.reader.attributes(ids)
        n = len(ids)
        # SONATA: a missing Euler angle or coordinate is 0 (nodes of other groups may lack them)
        placement = {
            k: np.array([0.0 if v is None else v for v in attrs[k]], dtype=float)
            for k in attrs
            if k in ("x", "y", "z") or k.startswith("rotation_angle_")
        }
        rot = rotation_matrices({**attrs, **placement}, n)
        pos = np.stack([placement.get(c, np.zeros(n)) for c in "xyz"], axis=1)
        return [
            Node(
                int(gid),
                {k: v[i] for k, v in attrs.items()},
                self.reader.components(int(gid)),
                rot[i],
                pos[i],
                self.reader.describe(int(gid)),
            )
            for i, gid in enumerate(ids)
        ]

    def _build_cells(self, ids: np.ndarray, point: bool) -> list:
        """This rank's compartmental cells (``point`` False) or artificial cells, each made by
        its registry entry (:mod:`~multiscale_run.simulators.neuron.cell_models`)."""
        self._morph_cache: dict[Path, LocalMorphology] = {}
        self._emodel_cache: dict[str, dict] = {}
        types = self.reader.model_types(ids)
        cells = []
        for node, model_type in zip(self._nodes(ids), types, strict=True):
            where = self.reader.describe(node.gid)
            model = model_of(model_type, node.attrs.get("model_template"), where)
            if model.point != point:
                raise UserError(f"{where}: a {model.description} cannot be a {model_type} node")
            cell = model.build(self, node)
            if self.settings.homeostasis and not model.point:
                homeostasis.insert(self.h, cell.sections)
            cells.append(cell)
        return cells

    def msr_cell(self, node: Node, path: Path) -> _Cell:
        """msr's JSON e-model on the node's morphology."""
        if path not in self._morph_cache:
            self._morph_cache[path] = read_morphology(path)
        cell = self._cell_from_morphology(node, self._morph_cache[path])
        template = str(node.attrs.get("model_template") or "msr:RS")
        if template not in self._emodel_cache:
            self._emodel_cache[template] = self._read_emodel(template, node.comps)
        self._apply_emodel(cell, self._emodel_cache[template])
        return cell

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

    def _cell_from_morphology(self, node: Node, morph: LocalMorphology) -> _Cell:
        h = self.h
        gid, rot, pos = node.gid, node.rotation, node.position
        # A sphere of radius r as a cylinder of length and diameter 2r (same membrane area),
        # along the cell's own y axis, as NEURON's Import3d does for single-point somata.
        r = morph.soma_radius
        local = [morph.soma_center + np.array([[0.0, -r, 0.0], [0.0, r, 0.0]]), *morph.points]
        bounds = np.cumsum([0, *(len(p) for p in local)]).tolist()
        placed = (np.concatenate(local) - morph.soma_center) @ rot.T + pos
        points = [placed[a:b] for a, b in pairwise(bounds)]  # the views np.split makes
        soma = h.Section(name=f"cell{gid}.soma")
        sections, kinds = [soma], ["somatic"]
        for k, (t, parent) in enumerate(zip(morph.types, morph.parents, strict=True)):
            sec = h.Section(name=f"cell{gid}.sec{k + 1}")
            sec.connect(soma(0.5) if parent < 0 else sections[parent + 1](1), 0)
            sections.append(sec)
            kinds.append(_SWC_KIND.get(t, "other"))
        add_points(h, sections, points, [np.array([2 * r, 2 * r]), *morph.diameters])
        for sec in sections:
            sec.nseg = segment_count(sec.L, self.settings.max_segment_length_um)
        return _Cell(gid=gid, sections=sections, kinds=kinds, points=points, label=node.label)

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
            apply_group(self.h, [cell.sections[i] for i in groups[group]], spec[group])
            # fixed reversal potentials (e.g. an Allen fit's ena/ek), after the mechanisms that
            # bring the ions
            for ion, value in spec[group].get("reversal_potentials", {}).items():
                if ion not in _REVERSALS:
                    raise UserError(f"e-model reversal potential {ion!r} unknown (use {list(_REVERSALS)})")
                for i in groups[group]:
                    self._fix_reversal(cell.sections[i], ion, float(value))

    def _fix_reversal(self, sec, ion: str, value: float) -> None:
        if not hasattr(sec(0.5), f"{ion[1:]}_ion"):
            raise UserError(f"e-model sets {ion} on {sec.name()}, which has no {ion[1:]} mechanism")
        homeostasis.fix_reversal(self.h, sec, ion, value)

    def hoc_cell(self, node: Node, name: str, path: Path) -> _Cell:
        """A BBP-style hoc template ``Name(gid, morphology_dir, morphology_file, *extra)``
        (:mod:`~multiscale_run.simulators.neuron.bbp`: extra arguments, section ids).

        The template loads the morphology and its biophysics itself; sections are taken in the
        order of its ``all`` list (soma first).
        """
        h = self.h
        if not hasattr(h, name):
            comps = node.comps
            tdir = comps["templates_dir"] or comps["emodels_dir"]
            if tdir is None or not (tdir / f"{name}.hoc").exists():
                raise UserError(f"hoc template {name}.hoc not found (components.templates_dir = {tdir})")
            h.load_file(str(tdir / f"{name}.hoc"))
        obj = getattr(h, name)(
            node.gid, str(path.parent), path.name, *bbp.constructor_arguments(h, name, node)
        )
        secs = list(obj.all)
        somatic = list(obj.somatic) if hasattr(obj, "somatic") else []
        soma = somatic[0] if somatic else secs[0]
        secs = [soma, *[sec for sec in secs if sec != soma]]
        kind_of = {}
        for lname in ("axonal", "basal", "apical", "somatic"):
            if hasattr(obj, lname):
                for sec in getattr(obj, lname):
                    kind_of[sec.name()] = lname
        numbering = bbp.section_numbering(obj, secs)
        cell = self.adopt(node, [(s, kind_of.get(s.name(), "other")) for s in secs], obj)
        cell.numbering = numbering
        return cell

    def adopt(
        self, node: Node, sections: list[tuple[object, str]], owner, nseg_rule: str | None = None
    ) -> _Cell:
        """A cell of ready-made ``(section, kind)`` (soma first, kept alive by ``owner``), moved to
        the node's position and orientation. ``nseg_rule`` "dL": ``nseg = 1 + 2·int(L/(2·dL))``
        with the run's ``dL`` (bmtk BioNet's rule)."""
        soma = sections[0][0]
        center = (
            np.array([soma.x3d(soma.n3d() // 2), soma.y3d(soma.n3d() // 2), soma.z3d(soma.n3d() // 2)])
            if soma.n3d()
            else np.zeros(3)
        )
        points = []
        for sec, _ in sections:
            n = sec.n3d()
            local = np.array([[sec.x3d(j), sec.y3d(j), sec.z3d(j)] for j in range(n)]).reshape(n, 3)
            glob = (local - center) @ node.rotation.T + node.position
            diams = np.array([sec.diam3d(j) for j in range(n)])
            if n:
                sec.pt3dclear()
                self._pt3d(sec, glob, diams)
            points.append(glob)
        if nseg_rule == "dL":
            dl = self.settings.dL_um
            for sec, _ in sections:
                sec.nseg = 1 + 2 * int(sec.L / (2 * dl))
        return _Cell(
            gid=node.gid,
            label=node.label,
            sections=[s for s, _ in sections],
            kinds=[k for _, k in sections],
            points=points,
            template=owner,
        )

    def _place_segments(self) -> None:
        """Fix the local segment order (``_section_list``, ``_n_segments``) and compute its
        geometry (once): segment end points along each section's 3-D polyline, many cells'
        sections at once; areas and volumes from NEURON."""
        h = self.h
        self._section_list = h.SectionList()
        area, volume, soma_segments = [], [], []
        nseg = []
        for cell in self.cells:
            counts = [sec.nseg for sec in cell.sections]
            nseg.append(counts)
            soma_segments.append((cell.soma, (counts[0] // 2 + 0.5) / counts[0]))
            for sec in cell.sections:
                self._section_list.append(sec=sec)
                for seg in sec:
                    area.append(seg.area())
                    volume.append(seg.volume())
        per_cell = np.array([sum(c) for c in nseg], dtype=np.int64)
        self._n_segments = int(per_cell.sum())
        self._soma_segments = soma_segments
        self._soma_index = (np.cumsum(per_cell) - per_cell) + np.array([c[0] // 2 for c in nseg], np.int64)
        starts, ends = self._segment_ends([np.array(c, dtype=np.int64) for c in nseg])
        self._geometry = SegmentGeometry(
            start_um=starts,
            end_um=ends,
            area_um2=np.asarray(area, dtype=float),
            volume_um3=np.asarray(volume, dtype=float),
            neuron_index=np.repeat(np.arange(len(self.cells)), per_cell).astype(np.int64),
            gids=self.gids.copy(),
        )

    def _segment_ends(self, nseg: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) points (µm) of every local segment: cells in batches of about 2**22
        padded arc-length entries (:func:`polylines_points_at` pads each polyline to the longest)."""
        starts, ends, batch_points, batch_nseg, longest = [], [], [], [], 0
        cells = list(zip(self.cells, nseg, strict=True))
        for k, (cell, counts) in enumerate(cells):
            points = [pts if len(pts) else np.zeros((1, 3)) for pts in cell.points]
            batch_points += points
            batch_nseg.append(counts)
            longest = max(longest, max(len(p) for p in points))
            if k + 1 < len(cells) and len(batch_points) * longest < 2**22:
                continue
            counts = np.concatenate(batch_nseg)
            edges = polylines_points_at(batch_points, counts)
            last = np.cumsum(counts + 1) - 1  # each section's end point: no segment starts there
            starts.append(np.delete(edges, last, axis=0))
            ends.append(np.delete(edges, last - counts, axis=0))
            batch_points, batch_nseg, longest = [], [], 0
        if not starts:
            return np.zeros((0, 3)), np.zeros((0, 3))
        return np.concatenate(starts), np.concatenate(ends)
