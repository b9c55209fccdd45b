"""SONATA ``conditions.modifications``: changes to the cells of a node set (or to the compartments
of a compartment set) before the run. Types as libsonata's ``SimulationConfig`` reads them
(``ttx``, ``configure_all_sections``, ``section_list``, ``section``, ``compartment_set``) or as
neurodamus and the older SONATA extension spell them (``TTX``, ``ConfigureAllSections``,
``SectionList``, ``Section``, ``CompartmentSet``):

- ``TTX``: inserts neurodamus's ``TTXDynamicsSwitch`` in every section and sets its
  ``ttxo_level`` to 1 mM, as neurodamus and bluecellulab enable TTX: the circuit's Na⁺ channel
  mechanisms that read ``ttxo`` (``USEION ttx``) block. A circuit without that mechanism is an
  error naming it; ``msr check`` also names the Na⁺ mechanisms that ignore ttx.
- ``ConfigureAllSections``: ``section_configure`` statements ``%s.<attribute> = <expression>``
  applied to every section that has all the referenced attributes (SONATA).
- ``section_list``: statements ``<list>.<attribute> = <expression>`` on every section of a named
  section list: ``all``, ``somatic``, ``axonal``, ``basal``, ``apical`` (the lists of BBP's hoc
  templates) or ``dendritic`` (basal and apical, as msr's e-models name them), e.g.
  ``apical.gbar_NaTg *= 0.5``.
- ``section``: statements ``<array>[<index>].<attribute> = <expression>`` on one section of a
  template's section arrays ``soma``, ``dend`` (basal), ``apic``, ``axon``, e.g.
  ``apic[10].gbar_KTst = 0``: index i is the i-th section of that kind in the cell's ``all`` list
  (the hoc array's index for BBP templates and Allen's Import3d cells, where the axon is the two
  replacement stubs; msr's cells count their SWC sections of that type in file order).
- ``compartment_set``: statements ``<attribute> = <expression>`` on each compartment of a
  compartment set of the ``compartment_sets_file`` (``[node_id, section_id, offset]``: the
  segment of ``section(offset)``, the section numbered as ``afferent_section_id`` is), once per
  segment where several locations fall into one.

Statements use ``=``, ``+=``, ``-=``, ``*=``, ``/=`` and are ``;``-separated; an expression holds
numbers, ``+ - * / **`` and attributes of the same place as the assignment (``%s.<attr>``,
``apical.<attr>``, ``apic[10].<attr>``, ``<attr>``); nothing else is executed. Range variables are
set per segment (``*= 0.5`` halves a non-uniform distribution everywhere), ``Ra`` and ``L`` on
the section (not on a compartment); ``nseg`` cannot change. Where ConfigureAllSections skips a
section lacking an attribute, the other kinds name the node and section that lack it.

The ``modifications`` list (SONATA 2.4, each with a ``name``) and the older object keyed by name
are both read; they apply in config order.
"""

from __future__ import annotations

import ast
import logging
import operator
from dataclasses import dataclass

from multiscale_run.errors import UserError

log = logging.getLogger(__name__)

#: section attributes (not per segment) a statement may set or read
SECTION_ATTRIBUTES = ("Ra", "L")
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Pow: operator.pow}  # fmt: skip
_SEC = "_msr_section_"
#: each spelling of a type -> the type (libsonata's name)
KINDS = {
    "TTX": "ttx", "ttx": "ttx",
    "ConfigureAllSections": "configure_all_sections", "configure_all_sections": "configure_all_sections",
    "SectionList": "section_list", "section_list": "section_list",
    "Section": "section", "section": "section",
    "CompartmentSet": "compartment_set", "compartment_set": "compartment_set",
}  # fmt: skip
#: section list -> the section kinds (:class:`~multiscale_run.simulators.neuron.cells._Cell`) in it
SECTION_LISTS = {
    "all": None, "somatic": ("somatic",), "axonal": ("axonal",), "basal": ("basal",),
    "apical": ("apical",), "dendritic": ("basal", "apical"),
}  # fmt: skip
#: section array -> the kind of its sections
SECTION_ARRAYS = {"soma": "somatic", "dend": "basal", "apic": "apical", "axon": "axonal"}
_FORMS = {
    "configure_all_sections": "%s.<attribute>",
    "section_list": f"<list>.<attribute> (list one of {list(SECTION_LISTS)})",
    "section": f"<array>[<index>].<attribute> (array one of {list(SECTION_ARRAYS)})",
    "compartment_set": "<attribute>",
}


@dataclass(frozen=True)
class Statement:
    """``place.attribute op= expression``: ``place`` None (each section or compartment), a
    section list name, or (array, index)."""

    place: object
    attribute: str
    op: type | None
    expression: ast.expr
    references: frozenset


def modification_list(conditions: dict) -> list[tuple[str, dict]]:
    """(JSON path, modification) of ``conditions.modifications``, in order."""
    mods = conditions.get("modifications", [])
    if isinstance(mods, dict):
        return [(f"conditions.modifications.{name}", spec) for name, spec in mods.items()]
    return [(f"conditions.modifications[{i}]", spec) for i, spec in enumerate(mods)]


def kind_of(spec: dict) -> str:
    """The type of a checked modification (libsonata's name)."""
    return KINDS[spec["type"]]


def modification_problems(spec) -> list[tuple[str, str]]:
    """(key, what is wrong) of one modification."""
    if not isinstance(spec, dict):
        return [("", f"a modification is an object, got {spec!r}")]
    if spec.get("type") not in KINDS:
        return [("type", f"modification type {spec.get('type')!r} unsupported (supported: {sorted(KINDS)})")]
    kind, out = KINDS[spec["type"]], []
    if kind == "compartment_set":
        if not isinstance(spec.get("compartment_set"), str):
            out.append(("compartment_set", "a compartment_set modification needs the set it modifies"))
        if "node_set" in spec:
            out.append(
                ("node_set", "a compartment_set modification acts on its compartment_set, no node_set")
            )
    elif not isinstance(spec.get("node_set"), str):
        out.append(("node_set", f"{spec['type']} needs the node_set it modifies"))
    if kind != "ttx":
        try:
            parse_statements(spec.get("section_configure"), kind)
        except UserError as exc:
            out.append(("section_configure", exc.message))
    return out


def parse_statements(text, kind: str = "configure_all_sections") -> list[Statement]:
    """The ``section_configure`` statements of a modification of type ``kind``."""
    form = _FORMS[kind]
    if not isinstance(text, str) or (kind == "configure_all_sections" and "%s." not in text):
        raise UserError(f"section_configure must be statements like '{form} *= 0.5', got {text!r}")
    out = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        try:
            tree = ast.parse(part.replace("%s", _SEC)).body
        except SyntaxError:
            raise UserError(f"section_configure statement {part!r} is not valid") from None
        stmt = tree[0] if len(tree) == 1 else None
        target = stmt.target if isinstance(stmt, ast.AugAssign) else None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0]
        where = _place(target, kind) if target is not None else None
        if where is None or (isinstance(stmt, ast.AugAssign) and type(stmt.op) not in _OPS):
            raise UserError(f"section_configure statement {part!r} is not an assignment to {form}")
        place, attribute = where
        if attribute == "nseg":
            raise UserError("section_configure cannot change nseg (the segments other simulators couple to)")
        if kind == "compartment_set" and attribute in SECTION_ATTRIBUTES:
            raise UserError(f"section_configure {part!r}: {attribute} is a section's, not a compartment's")
        refs = _references(stmt.value, part, kind, place) | {attribute}
        op = type(stmt.op) if isinstance(stmt, ast.AugAssign) else None
        out.append(Statement(place, attribute, op, stmt.value, frozenset(refs)))
    if not out:
        raise UserError(f"section_configure {text!r} has no statement")
    return out


def _place(node, kind: str):
    """(place, attribute) of a reference ``node`` in the form of ``kind``; None if it is not one."""
    if kind == "compartment_set":
        return (None, node.id) if isinstance(node, ast.Name) and node.id != _SEC else None
    if not isinstance(node, ast.Attribute):
        return None
    owner = node.value
    if kind == "configure_all_sections" and isinstance(owner, ast.Name) and owner.id == _SEC:
        return None, node.attr
    if kind == "section_list" and isinstance(owner, ast.Name) and owner.id in SECTION_LISTS:
        return owner.id, node.attr
    if kind == "section" and isinstance(owner, ast.Subscript) and isinstance(owner.value, ast.Name):
        index = owner.slice
        if owner.value.id in SECTION_ARRAYS and isinstance(index, ast.Constant) and _index(index.value):
            return (owner.value.id, index.value), node.attr
    return None


def _index(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _references(node: ast.expr, part: str, kind: str, place) -> set[str]:
    where = _place(node, kind)
    if where is not None:
        if where[0] != place:
            raise UserError(f"section_configure statement {part!r} reads another place than it assigns")
        return {where[1]}
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return set()
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _references(node.left, part, kind, place) | _references(node.right, part, kind, place)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        return _references(node.operand, part, kind, place)
    raise UserError(f"section_configure statement {part!r}: only numbers, + - * / ** and {_FORMS[kind]}")


def _value(node: ast.expr, get) -> float:
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.BinOp):
        return _OPS[type(node.op)](_value(node.left, get), _value(node.right, get))
    if isinstance(node, ast.UnaryOp):
        sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
        return sign * _value(node.operand, get)
    return float(get(node.attr if isinstance(node, ast.Attribute) else node.id))


def _has(sec, name: str) -> bool:
    return name in SECTION_ATTRIBUTES or hasattr(sec(0.5), name)


def _set(place, statement: Statement, sec) -> None:
    """``statement`` on ``place`` (a segment of ``sec``, or ``sec`` for its section attributes)."""
    get = lambda name: getattr(sec if name in SECTION_ATTRIBUTES else place, name)  # noqa: E731
    value = _value(statement.expression, get)
    if statement.op is not None:
        value = _OPS[statement.op](getattr(place, statement.attribute), value)
    setattr(place, statement.attribute, value)


def _configure(sec, statement: Statement) -> None:
    places = [sec] if statement.attribute in SECTION_ATTRIBUTES else list(sec)
    for place in places:
        _set(place, statement, sec)


def configure_section(sec, statements: list[Statement]) -> bool:
    """Apply ``statements`` to ``sec`` when it has every attribute they reference; whether it did."""
    if not all(_has(sec, name) for s in statements for name in s.references):
        return False
    for statement in statements:
        _configure(sec, statement)
    return True


def cell_sections(cell) -> list:
    """Every section of a built cell (a hoc template's ``all`` list where it has one)."""
    template = cell.template
    if template is not None and hasattr(template, "all"):
        return list(template.all)
    return list(dict.fromkeys(cell.sections))


def section_list(cell, name: str) -> list:
    """The sections of section list ``name`` of a built cell, in its ``all`` order."""
    kinds = SECTION_LISTS[name]
    return [s for s, k in zip(cell.sections, cell.kinds, strict=True) if kinds is None or k in kinds]


def section_of_array(cell, array: str, index: int, path: str):
    """Section ``array[index]`` of a built cell (see the module docstring)."""
    found = [s for s, k in zip(cell.sections, cell.kinds, strict=True) if k == SECTION_ARRAYS[array]]
    if index >= len(found):
        raise UserError(
            f"{array}[{index}]: {cell.label} has {len(found)} {SECTION_ARRAYS[array]} section(s) "
            f"({array}[0..{len(found) - 1}])",
            path=f"{path}.section_configure",
        )
    return found[index]


def _require(sec, statement: Statement, label: str, path: str) -> None:
    missing = sorted(n for n in statement.references if not _has(sec, n))
    if missing:
        raise UserError(
            f"{label}: section {sec.name()} has no {missing} (insert the mechanism, or use "
            "ConfigureAllSections, which skips such sections)",
            path=f"{path}.section_configure",
        )


def _configure_places(path: str, statements: list[Statement], cells: list, kind: str) -> None:
    """section_list and section statements on ``cells``."""
    for cell in cells:
        for statement in statements:
            if kind == "section":
                secs = [section_of_array(cell, *statement.place, path)]
            else:
                secs = section_list(cell, statement.place)
            if not secs:
                log.warning("%s: node %d has no %s section: unchanged", path, cell.gid, statement.place)
            for sec in secs:
                _require(sec, statement, cell.label, path)
                _configure(sec, statement)


def configure_compartments(path: str, statements: list[Statement], locations: list, cells: dict) -> int:
    """compartment_set statements on the segments of ``locations`` ((gid, section id, offset))
    whose cell is in ``cells`` ({gid: built cell}); how many segments changed."""
    done = set()
    for node, section_id, offset in locations:
        if node not in cells:
            continue
        cell = cells[node]
        sec = cell.section_by_id(section_id, "compartment on")
        index = min(int(offset * sec.nseg), sec.nseg - 1)  # the segment NEURON's sec(offset) is
        if (node, sec.name(), index) in done:
            continue
        done.add((node, sec.name(), index))
        for statement in statements:
            _require(sec, statement, cell.label, path)
            _set(sec((index + 0.5) / sec.nseg), statement, sec)
    return len(done)


def apply_modification(h, path: str, spec: dict, cells: list) -> None:
    """Apply one (checked) node-set modification to ``cells``, this rank's cells of its node set."""
    kind = kind_of(spec)
    if kind == "ttx":
        if not hasattr(h, "TTXDynamicsSwitch"):
            raise UserError(
                "TTX needs the TTXDynamicsSwitch mechanism (neurodamus's), which no loaded mod file "
                "defines: add it to the circuit's mod files",
                path=f"{path}.type",
            )
        for cell in cells:
            for sec in cell_sections(cell):
                sec.insert("TTXDynamicsSwitch")
                try:
                    sec.ttxo_level_TTXDynamicsSwitch = 1.0
                except (AttributeError, NameError):
                    raise UserError(
                        "the circuit's TTXDynamicsSwitch has no RANGE ttxo_level", path=f"{path}.type"
                    ) from None
        return
    statements = parse_statements(spec["section_configure"], kind)
    if kind != "configure_all_sections":
        _configure_places(path, statements, cells, kind)
        return
    for cell in cells:
        done = sum(configure_section(sec, statements) for sec in cell_sections(cell))
        if not done:
            log.warning(
                "%s: node %d has no section with all of %s: unchanged",
                path,
                cell.gid,
                sorted(set().union(*(s.references for s in statements))),
            )
