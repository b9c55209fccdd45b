"""The registry of cell models: which builder makes a node, keyed by its ``model_type`` and the
prefix of its ``model_template`` (adding a kind of cell is one entry of :data:`CELL_MODELS`).

- ``biophysical`` + ``msr:<name>``: msr's JSON e-model on the morphology (docs/neuron.md);
- ``biophysical`` + ``hoc:<Name>``: a BBP-style hoc template ``Name(gid, morph_dir, morph_name)``;
- ``biophysical`` + ``ctdb:<template>``: an Allen Cell Types fit as bmtk's BioNet builds it
  (:mod:`~multiscale_run.simulators.neuron.allen`, ``model_processing`` names the procedure);
- ``point_process`` (SONATA) or ``point_neuron`` (bmtk) + ``nrn:<Class>``: a NEURON artificial
  cell (``IntFire1``, ...) with its ``dynamics_params`` JSON from ``point_neuron_models_dir``.

Virtual nodes are not built: they are spike sources (``inputs``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from multiscale_run.errors import UserError
from multiscale_run.simulators.neuron import allen


@dataclass(frozen=True)
class Node:
    """One node to build: its gid, attributes (scalars), component folders, placement, and the
    ``population P node N`` that errors name it by."""

    gid: int
    attrs: dict
    comps: dict
    rotation: object
    position: object
    label: str

    def require(self, key: str):
        value = self.attrs.get(key)
        if value is None:
            raise UserError(f"{self.label} has no {key}")
        return value


@dataclass(frozen=True)
class CellModel:
    description: str
    #: ``build(builder, node)``: a ``_Cell`` (compartmental) or an artificial cell (point)
    build: Callable
    #: ``needs(attrs, comps)``: (problems, mechanisms the cell inserts) known without NEURON
    needs: Callable
    point: bool = False


def _file_in(
    attrs: dict, comps: dict, comp: str, key: str, attr: str = "dynamics_params"
) -> tuple[Path | None, str]:
    name = attrs.get(attr)
    if name is None:
        return None, f"no {attr}"
    folder = comps.get(comp)
    if folder is None:
        return None, f"{attr} {name!r} needs components.{key}"
    path = folder / str(name)
    return (path, "") if path.is_file() else (None, f"{attr} file {path} not found")


def _msr_needs(attrs: dict, comps: dict) -> tuple[list[str], set[str]]:
    name = str(attrs.get("model_template") or "msr:RS").partition(":")[2]
    folder = comps.get("emodels_dir")
    path = folder / f"{name}.json" if folder else None
    if path is None or not path.is_file():
        return [
            f"e-model msr:{name}: {path or 'no components.biophysical_neuron_models_dir'} not found"
        ], set()
    spec = json.loads(path.read_text()).get("sections", {})
    return [], {m for group in spec.values() for m in group.get("mechanisms", {})}


def _hoc_needs(attrs: dict, comps: dict) -> tuple[list[str], set[str]]:
    name = str(attrs["model_template"])[4:]
    folder = comps.get("templates_dir") or comps.get("emodels_dir")
    path = folder / f"{name}.hoc" if folder else None
    if path is None or not path.is_file():
        return [f"hoc template {name}.hoc not found in {folder}"], set()
    return [], set(re.findall(r"\binsert\s+(\w+)", path.read_text(errors="replace")))


def _allen_needs(attrs: dict, comps: dict) -> tuple[list[str], set[str]]:
    problems = []
    if attrs.get("model_processing") not in allen.PROCESSING:
        problems.append(
            f"model_processing {attrs.get('model_processing')!r} unsupported "
            f"(supported: {sorted(allen.PROCESSING)})"
        )
    path, why = _file_in(attrs, comps, "emodels_dir", "biophysical_neuron_models_dir")
    if path is None:
        return [*problems, why], set()
    try:
        fit = json.loads(path.read_text())
        return problems, {"pas", *(g["mechanism"] for g in fit.get("genome", []) if g.get("mechanism"))}
    except (ValueError, TypeError, KeyError) as exc:
        return [*problems, f"{path}: not an Allen fit ({exc})"], set()


def _artificial_needs(attrs: dict, comps: dict) -> tuple[list[str], set[str]]:
    cls = str(attrs["model_template"]).partition(":")[2]
    if attrs.get("dynamics_params") is None:
        return [], {cls}
    path, why = _file_in(attrs, comps, "point_models_dir", "point_neuron_models_dir")
    return ([why] if path is None else []), {cls}


def _msr(builder, node: Node):
    path = builder.reader.morphology_path(str(node.require("morphology")), node.comps)
    return builder.msr_cell(node, path)


def _hoc(builder, node: Node):
    path = builder.reader.morphology_path(str(node.require("morphology")), node.comps)
    return builder.hoc_cell(node, str(node.attrs["model_template"])[4:], path)


def _allen(builder, node: Node):
    processing = node.attrs.get("model_processing")
    if processing not in allen.PROCESSING:
        raise UserError(
            f"{node.label}: model_processing {processing!r} unsupported for ctdb templates "
            f"(supported: {sorted(allen.PROCESSING)})"
        )
    path = builder.reader.morphology_path(str(node.require("morphology")), node.comps)
    fit_path = _component(node, "emodels_dir", "biophysical_neuron_models_dir")
    fit = allen.read_fit(fit_path)
    cell = allen.ImportedCell(builder.h, path, node.gid)
    allen.PROCESSING[processing](builder.h, cell, fit, str(fit_path))
    return builder.adopt(node, cell.sections_by_kind(), cell, nseg_rule="dL")


#: bmtk's IntFire1 JSONs give tau and refrac in seconds; NEURON's IntFire1 wants ms
_POINT_UNITS = {"IntFire1": {"tau": 1000.0, "refrac": 1000.0}}


def _component(node: Node, comp: str, key: str) -> Path:
    name = node.require("dynamics_params")
    folder = node.comps.get(comp)
    if folder is None:
        raise UserError(f"{node.label}: dynamics_params {name!r} needs components.{key}")
    return folder / str(name)


def _artificial(builder, node: Node):
    cls = str(node.attrs["model_template"]).partition(":")[2]
    if not hasattr(builder.h, cls):
        raise UserError(f"{node.label}: artificial cell {cls!r} is not a NEURON mechanism")
    cell = getattr(builder.h, cls)()
    if node.attrs.get("dynamics_params") is not None:
        path = _component(node, "point_models_dir", "point_neuron_models_dir")
        try:
            params = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read: {exc}", str(path)) from None
        scale = _POINT_UNITS.get(cls, {})
        for key, value in params.items():
            if key in ("type", "level_of_detail"):
                continue
            if not hasattr(cell, key):
                raise UserError(f"{cls} has no parameter {key!r}", str(path), key)
            setattr(cell, key, float(value) * scale.get(key, 1.0))
    return cell


CELL_MODELS: dict[tuple[str, str], CellModel] = {
    ("biophysical", "msr"): CellModel("msr JSON e-model", _msr, _msr_needs),
    ("biophysical", "hoc"): CellModel("BBP hoc template", _hoc, _hoc_needs),
    ("biophysical", "ctdb"): CellModel("Allen Cell Types fit (bmtk)", _allen, _allen_needs),
    ("point_process", "nrn"): CellModel("NEURON artificial cell", _artificial, _artificial_needs, point=True),
    ("point_neuron", "nrn"): CellModel("NEURON artificial cell", _artificial, _artificial_needs, point=True),
}


def model_of(model_type: str, template, where: str) -> CellModel:
    """The registry entry of a node (an error naming ``where`` and what is unsupported)."""
    template = "msr:RS" if template is None and model_type == "biophysical" else str(template)
    prefix = template.partition(":")[0] if ":" in template else ""
    entry = CELL_MODELS.get((str(model_type), prefix))
    if entry is None:
        known = ", ".join(f"{t} {p}:" for t, p in CELL_MODELS)
        raise UserError(
            f"{where}: unsupported model_type/model_template {model_type!r}/{template!r} (supported: {known})"
        )
    return entry
