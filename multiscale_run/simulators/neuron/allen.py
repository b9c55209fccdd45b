"""Allen Cell Types e-models as bmtk's BioNet builds them (``model_template: ctdb:Biophys1.hoc``).

The cell is the SWC morphology instantiated by NEURON's own Import3d (as bmtk's Biophys1
template does: ``Import3d_SWC_read`` then ``Import3d_GUI.instantiate``), then the node's
``model_processing`` applies its ``dynamics_params`` fit JSON (Allen Cell Types Database
"perisomatic" fits; procedure as documented for bmtk's ``aibs_perisomatic``, see
``/work/shared/data/circuits/README.md`` and bmtk's docs):

- the axon is replaced by two stubs ``axon[0..1]``, L = 30 µm, diam = 1 µm, ``axon[0](0)`` on
  ``soma[0](0.5)``, ``axon[1](0)`` on ``axon[0](1)``;
- ``pas`` everywhere, ``Ra`` = ``passive.ra``, ``e_pas`` = ``passive.e_pas``, ``cm`` per section
  type (soma, dend, apic, axon: the first four letters of the section name);
- each ``genome`` entry inserts its mechanism on the sections of its type and sets the parameter;
- ``conditions.erev`` sets ``ena``/``ek`` per section type.

``aibs_allactive`` (Allen "all-active" fits, every section type active) differs, as BioNet's
rule for it does (bmtk ``default_setters/cell_models.py``):

- the stubs keep the original axon's calibre: ``axon[0]`` the diameter of the first axon
  section, ``axon[1]`` that of the last one; ``axon[0](0)`` joins ``soma[0](1)``;
- ``passive`` entries are each optional (``e_pas``, ``ra``, ``cm`` per section type; the fit
  usually gives ``g_pas``/``e_pas`` per section type in ``genome``); a ``genome`` entry of
  section ``glob`` is an old format BioNet skips;
- ``conditions.erev`` (required) sets ``ena``/``ek`` only on sections that have the ion.

The section count of every section is then set by the run's rule (``run.dL``:
``nseg = 1 + 2·int(L/(2·dL))``, as BioNet does).
"""

from __future__ import annotations

import json
from pathlib import Path

from multiscale_run.errors import UserError

#: section name prefix (Import3d's names) -> SONATA section list
_KINDS = {"soma": "somatic", "axon": "axonal", "dend": "basal", "apic": "apical"}


class ImportedCell:
    """A Python cell NEURON's Import3d instantiates into (``soma``, ``dend``, ``apic``, ``axon``,
    ``all``)."""

    def __init__(self, h, path: Path, gid: int):
        self.gid = gid
        readers = {".swc": "Import3d_SWC_read", ".asc": "Import3d_Neurolucida3"}
        if path.suffix.lower() not in readers:
            raise UserError(f"Allen cells need an SWC or ASC morphology, got {path}")
        h.load_file("import3d.hoc")
        reader = getattr(h, readers[path.suffix.lower()])()
        reader.quiet = 1
        reader.input(str(path))
        h.Import3d_GUI(reader, 0).instantiate(self)
        for prefix in _KINDS:
            if not hasattr(self, prefix):
                setattr(self, prefix, [])

    def __repr__(self) -> str:
        return f"cell{self.gid}"

    def sections_by_kind(self) -> list[tuple[object, str]]:
        """(section, SONATA list) of every section, soma first, then in Import3d's order."""
        return [(sec, _KINDS[prefix]) for prefix in _KINDS for sec in getattr(self, prefix)]


def _kind(sec) -> str:
    return sec.name().rsplit(".", 1)[-1][:4]


def read_fit(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"dynamics_params {path} not found")
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise UserError(f"not valid JSON: {exc}", str(path)) from None


def _replace_axon(h, cell: ImportedCell, diameters: tuple[float, float], on_soma_at: float = 0.5) -> None:
    cell.all = [sec for sec in cell.all if _kind(sec) != "axon"]
    for sec in cell.axon:
        h.delete_section(sec=sec)
    cell.axon = [h.Section(name=f"axon[{i}]", cell=cell) for i in range(2)]
    for sec, diam in zip(cell.axon, diameters, strict=True):
        sec.L, sec.diam = 30.0, diam
    cell.axon[0].connect(cell.soma[0](on_soma_at), 0)
    cell.axon[1].connect(cell.axon[0](1), 0)
    cell.all.extend(cell.axon)
    h.define_shape()


def aibs_perisomatic(h, cell: ImportedCell, fit: dict, file: str) -> None:
    """Apply an Allen perisomatic fit (see the module docstring)."""
    try:
        passive, conditions, genome = fit["passive"][0], fit["conditions"][0], fit["genome"]
        cm = {entry["section"]: float(entry["cm"]) for entry in passive["cm"]}
        ra, e_pas = float(passive["ra"]), float(passive["e_pas"])
    except (KeyError, IndexError, TypeError) as exc:
        raise UserError(f"not an Allen perisomatic fit (missing {exc})", file) from None
    _replace_axon(h, cell, (1.0, 1.0))
    for sec in cell.all:
        if _kind(sec) not in cm:
            raise UserError(f"no passive.cm for section type {_kind(sec)!r}", file)
        sec.Ra, sec.cm = ra, cm[_kind(sec)]
        sec.insert("pas")
        sec.e_pas = e_pas
    _genome(cell, genome, file)
    _reversals(h, cell, conditions.get("erev", []))


def _genome(cell: ImportedCell, genome: list[dict], file: str) -> None:
    for entry in genome:
        for sec in (s for s in cell.all if _kind(s) == entry["section"]):
            if entry.get("mechanism"):
                try:
                    sec.insert(entry["mechanism"])
                except ValueError:
                    raise UserError(
                        f"mechanism {entry['mechanism']!r} is not compiled (components.mechanisms_dir)", file
                    ) from None
            setattr(sec, entry["name"], float(entry["value"]))


def _reversals(h, cell: ImportedCell, erev: list[dict], where_present: bool = False) -> None:
    for entry in erev:
        for sec in (s for s in cell.all if _kind(s) == entry["section"]):
            for ion in ("ena", "ek"):
                if ion in entry and (not where_present or h.ismembrane(f"{ion[1:]}_ion", sec=sec)):
                    setattr(sec, ion, float(entry[ion]))


def _allactive_axon_diameters(cell: ImportedCell) -> tuple[float, float]:
    if not cell.axon:
        raise UserError(f"cell {cell.gid}: aibs_allactive needs an axon in the morphology")
    return cell.axon[0].diam, cell.axon[-1].diam


def aibs_allactive(h, cell: ImportedCell, fit: dict, file: str) -> None:
    """Apply an Allen all-active fit (see the module docstring)."""
    try:
        passive, genome, erev = fit["passive"][0], fit["genome"], fit["conditions"][0]["erev"]
    except (KeyError, IndexError, TypeError) as exc:
        raise UserError(f"not an Allen all-active fit (missing {exc})", file) from None
    _replace_axon(h, cell, _allactive_axon_diameters(cell), on_soma_at=1.0)
    cm = {entry["section"]: float(entry["cm"]) for entry in passive.get("cm", [])}
    for sec in cell.all:
        sec.insert("pas")
        if "e_pas" in passive:
            sec.e_pas = float(passive["e_pas"])
        if "ra" in passive:
            sec.Ra = float(passive["ra"])
        if _kind(sec) in cm:
            sec.cm = cm[_kind(sec)]
    _genome(cell, [g for g in genome if g.get("section") != "glob"], file)
    _reversals(h, cell, erev, where_present=True)


#: ``model_processing`` -> the function applying the fit
PROCESSING = {"aibs_perisomatic": aibs_perisomatic, "aibs_allactive": aibs_allactive}
