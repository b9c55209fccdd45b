"""Node sets: the file (the run's one reader of it: the run's cells, inputs, reports, ``msr check``)
and its rules, materialized over a circuit's populations."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from multiscale_run.errors import UserError

if TYPE_CHECKING:
    from multiscale_run.circuit.sonata import Circuit


def read_node_sets(path: Path | None, config_file: str | None = None, key: str | None = None) -> dict:
    """The rules of the node sets file ``path`` (``{}`` without one), the run's one reader of it.

    A file that is missing or not JSON, a ``node_id`` that is not a list of non-negative integers
    (libsonata would take some of those) or a file libsonata rejects raises a UserError naming
    ``config_file`` and ``key`` (the file itself when they are not given)."""
    import libsonata

    if path is None:
        return {}
    path = Path(path)
    where = (config_file, key) if config_file else (str(path), None)
    if not path.is_file():
        raise UserError(f"node sets file not found: {path}", *where)
    try:
        rules = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"node sets file {path} is not valid JSON: {exc}", *where) from None
    for name, rule in rules.items() if isinstance(rules, dict) else ():
        ids = rule.get("node_id") if isinstance(rule, dict) else None
        ids = [ids] if isinstance(ids, int) and not isinstance(ids, bool) else ids
        if ids is not None and not (
            isinstance(ids, list)
            and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids)
        ):
            raise UserError(
                f"node set {name!r} in {path}: node_id must list non-negative integers, got {ids!r}", *where
            )
    try:
        libsonata.NodeSets.from_file(str(path))
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"libsonata cannot read the node sets {path}: {first}", *where) from None
    return rules


def resolve_node_set(rule, circuit, node_sets_file: Path | None, where: str) -> dict:
    """{population: node ids} of a node set in ``circuit``: a name in the node sets file (the
    circuit's when ``node_sets_file`` is None), an inline rule, or (bmtk's convention for spike
    inputs) the name of a population, meaning all its nodes."""
    import numpy as np

    sets = read_node_sets(node_sets_file or circuit.node_sets_file)
    if isinstance(rule, str) and rule not in sets and rule in circuit.nodes:
        return {rule: np.arange(circuit.nodes[rule].size, dtype=np.int64)}
    return materialize(rule, circuit, sets, where)


#: SONATA node-set operators (libsonata's NodeSets): ``$regex`` on string attributes (a match
#: anywhere in the value, as libsonata's ``std::regex_search``: anchor with ``^...$``),
#: comparisons on numeric ones
_COMPARISONS = {"$gt": np.greater, "$lt": np.less, "$gte": np.greater_equal, "$lte": np.less_equal}


def _number(value) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def _operator(values: np.ndarray, wanted: dict, key: str, where: str) -> np.ndarray:
    """Nodes whose attribute ``key`` (``values``, None where a node has none) passes the operator
    object ``wanted``: ``{"$regex": pattern}`` or ``{"$gt" | "$lt" | "$gte" | "$lte": number}``."""
    if len(wanted) != 1 or next(iter(wanted)) not in ("$regex", *_COMPARISONS):
        raise UserError(
            f"{where}: attribute {key!r}: {wanted!r} is not one operator of $regex, {', '.join(_COMPARISONS)}"
        )
    (op, operand), present = next(iter(wanted.items())), [v for v in values if v is not None]
    if op == "$regex":
        if not isinstance(operand, str) or not all(isinstance(v, str) for v in present):
            raise UserError(f"{where}: $regex needs a string pattern and a string attribute, {key!r} is not")
        try:
            pattern = re.compile(operand)
        except re.error as exc:
            raise UserError(f"{where}: attribute {key!r}: $regex {operand!r} is not valid: {exc}") from None
        return np.array([v is not None and pattern.search(v) is not None for v in values], dtype=bool)
    if not _number(operand) or not all(_number(v) for v in present):
        raise UserError(f"{where}: {op} needs a number and a numeric attribute, {key!r} is not")
    numbers = np.array([np.nan if v is None else float(v) for v in values])
    with np.errstate(invalid="ignore"):
        return _COMPARISONS[op](numbers, float(operand))


def _matches(values: np.ndarray, wanted, key: str, where: str) -> np.ndarray:
    if isinstance(wanted, dict):
        return _operator(values, wanted, key, where)
    wanted = wanted if isinstance(wanted, list) else [wanted]
    return np.array([v in wanted for v in values], dtype=bool)


def materialize(rule, circuit: Circuit, sets: dict, where: str = "node set") -> dict[str, np.ndarray]:
    """{population: sorted node ids} of a node set: a name in ``sets``, a compound list of names,
    or a basic rule (``population``, ``node_id``, attribute = value, list of values or operator)."""
    if isinstance(rule, str):
        if rule not in sets:
            raise UserError(f"{where}: node set {rule!r} is not defined")
        return materialize(sets[rule], circuit, sets, f"node set {rule!r}")
    if isinstance(rule, list):
        out: dict[str, np.ndarray] = {}
        for part in rule:
            for pop, ids in materialize(part, circuit, sets, where).items():
                out[pop] = np.union1d(out.get(pop, np.zeros(0, np.int64)), ids)
        return out
    if not isinstance(rule, dict):
        raise UserError(f"{where}: {rule!r} is not a node set")
    pops = rule.get("population", sorted(circuit.nodes))
    out = {}
    for pop_name in pops if isinstance(pops, list) else [pops]:
        pop = circuit.node_population(pop_name)
        keep = np.ones(pop.size, bool)
        if "node_id" in rule:
            ids = np.asarray(rule["node_id"] if isinstance(rule["node_id"], list) else [rule["node_id"]])
            keep &= np.isin(np.arange(pop.size), ids)
        for key, wanted in rule.items():
            if key in ("population", "node_id"):
                continue
            if key not in pop.attribute_names:
                keep[:] = False  # SONATA: a node without the attribute is not in the set
                break
            keep &= _matches(pop.get(key), wanted, key, where)
        if keep.any():
            out[pop_name] = np.flatnonzero(keep).astype(np.int64)
    return out
