"""The node sets file: the run's one reader of it (the run's cells, inputs, reports, ``msr check``)."""

from __future__ import annotations

import json
from pathlib import Path

from multiscale_run.errors import UserError


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

    from multiscale_run.circuit.sonata import materialize

    sets = read_node_sets(node_sets_file or circuit.node_sets_file)
    if isinstance(rule, str) and rule not in sets and rule in circuit.nodes:
        return {rule: np.arange(circuit.nodes[rule].size, dtype=np.int64)}
    return materialize(rule, circuit, sets, where)
