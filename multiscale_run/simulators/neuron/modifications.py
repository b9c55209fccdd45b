"""SONATA ``conditions.modifications``: changes to the cells of a node set before the run.

- ``TTX``: inserts neurodamus's ``TTXDynamicsSwitch`` in every section and sets its
  ``ttxo_level`` to 1 mM, as neurodamus and bluecellulab enable TTX: the circuit's Na⁺ channel
  mechanisms that read ``ttxo`` (``USEION ttx``) block. A circuit without that mechanism is an
  error naming it; ``msr check`` also names the Na⁺ mechanisms that ignore ttx.
- ``ConfigureAllSections``: ``section_configure`` statements ``%s.<attribute> = <expression>``
  (also ``+=``, ``-=``, ``*=``, ``/=``; ``;``-separated), applied to every section that has all
  the referenced attributes (SONATA), per segment for range variables (so ``%s.gbar *= 0.5``
  halves a non-uniform distribution everywhere), to the section for ``Ra`` and ``L``. An
  expression holds numbers, ``+ - * / **`` and ``%s.<attribute>``; nothing else is executed.

The ``modifications`` list (SONATA 2.4, each with a ``name``) and the older object keyed by name
are both read; they apply in config order.
"""

from __future__ import annotations

import ast
import logging
import operator

from multiscale_run.errors import UserError

log = logging.getLogger(__name__)

#: section attributes (not per segment) a statement may set or read
SECTION_ATTRIBUTES = ("Ra", "L")
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Pow: operator.pow}  # fmt: skip
_SEC = "_msr_section_"
SUPPORTED = ("TTX", "ConfigureAllSections")


def modification_list(conditions: dict) -> list[tuple[str, dict]]:
    """(JSON path, modification) of ``conditions.modifications``, in order."""
    mods = conditions.get("modifications", [])
    if isinstance(mods, dict):
        return [(f"conditions.modifications.{name}", spec) for name, spec in mods.items()]
    return [(f"conditions.modifications[{i}]", spec) for i, spec in enumerate(mods)]


def modification_problems(spec) -> list[tuple[str, str]]:
    """(key, what is wrong) of one modification."""
    if not isinstance(spec, dict):
        return [("", f"a modification is an object, got {spec!r}")]
    kind = spec.get("type")
    if kind not in SUPPORTED:
        return [("type", f"modification type {kind!r} unsupported (supported: {list(SUPPORTED)})")]
    out = []
    if not isinstance(spec.get("node_set"), str):
        out.append(("node_set", f"{kind} needs the node_set it modifies"))
    if kind == "ConfigureAllSections":
        try:
            parse_statements(spec.get("section_configure"))
        except UserError as exc:
            out.append(("section_configure", exc.message))
    return out


def parse_statements(text) -> list[tuple[str, type | None, ast.expr, set[str]]]:
    """(attribute, augmenting operator or None, expression, referenced attributes) of each
    ``section_configure`` statement."""
    if not isinstance(text, str) or "%s." not in text:
        raise UserError(f"section_configure must be statements like '%s.gnabar_hh *= 0.5', got {text!r}")
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
        if not _is_attribute(target) or (isinstance(stmt, ast.AugAssign) and type(stmt.op) not in _OPS):
            raise UserError(f"section_configure statement {part!r} is not an assignment to %s.<attribute>")
        if target.attr == "nseg":
            raise UserError("section_configure cannot change nseg (the segments other simulators couple to)")
        refs = {target.attr} | _references(stmt.value, part)
        out.append(
            (target.attr, type(stmt.op) if isinstance(stmt, ast.AugAssign) else None, stmt.value, refs)
        )
    if not out:
        raise UserError(f"section_configure {text!r} has no statement")
    return out


def _is_attribute(node) -> bool:
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == _SEC


def _references(node: ast.expr, part: str) -> set[str]:
    if _is_attribute(node):
        return {node.attr}
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return set()
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _references(node.left, part) | _references(node.right, part)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        return _references(node.operand, part)
    raise UserError(f"section_configure statement {part!r}: only numbers, + - * / ** and %s.<attribute>")


def _value(node: ast.expr, get) -> float:
    if _is_attribute(node):
        return float(get(node.attr))
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.BinOp):
        return _OPS[type(node.op)](_value(node.left, get), _value(node.right, get))
    sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
    return sign * _value(node.operand, get)


def _has(sec, name: str) -> bool:
    return name in SECTION_ATTRIBUTES or hasattr(sec(0.5), name)


def configure_section(sec, statements) -> bool:
    """Apply ``statements`` to ``sec`` when it has every attribute they reference; whether it did."""
    if not all(_has(sec, name) for _, _, _, refs in statements for name in refs):
        return False
    for attr, op, expr, _ in statements:
        places = [sec] if attr in SECTION_ATTRIBUTES else list(sec)
        for place in places:
            get = lambda name, p=place: getattr(sec if name in SECTION_ATTRIBUTES else p, name)  # noqa: E731
            value = _value(expr, get)
            setattr(place, attr, value if op is None else _OPS[op](getattr(place, attr), value))
    return True


def cell_sections(cell) -> list:
    """Every section of a built cell (a hoc template's ``all`` list where it has one)."""
    template = cell.template
    if template is not None and hasattr(template, "all"):
        return list(template.all)
    return list(dict.fromkeys(cell.sections))


def apply_modification(h, path: str, spec: dict, cells: list) -> None:
    """Apply one (checked) modification to ``cells``, this rank's cells of its node set."""
    if spec["type"] == "TTX":
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
    statements = parse_statements(spec["section_configure"])
    for cell in cells:
        done = sum(configure_section(sec, statements) for sec in cell_sections(cell))
        if not done:
            log.warning(
                "%s: node %d has no section with all of %s: unchanged",
                path,
                cell.gid,
                sorted(set().union(*(refs for *_, refs in statements))),
            )
