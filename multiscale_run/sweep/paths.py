"""Dotted paths into a simulation config: ``multiscale_run.couplings[2].ndts``, ``inputs.stim.amp_start``.

A path names a key that exists in the base config once the schema's defaults are filled in, or a
new key the schema knows: a property it declares (``run.random_seed``) or an entry of a map whose
values it types (``multiscale_run.metabolism.parameters.<J15 name>``; the J15 names themselves are
checked by ``msr check``). Anything else is an unknown path, so a typo never sets a key nobody reads.
"""

from __future__ import annotations

import re
from typing import Any

from multiscale_run.config import schema
from multiscale_run.config.problems import json_path

_PART = re.compile(r"([^.\[\]]+)((?:\[\d+\])*)")


class PathError(ValueError):
    """A dotted path that does not name a config key."""


def parse(dotted: str) -> list[str | int]:
    """``'a.b[2].c'`` -> ``['a', 'b', 2, 'c']``."""
    parts: list[str | int] = []
    for piece in dotted.split("."):
        match = _PART.fullmatch(piece)
        if match is None:
            raise PathError(
                f"malformed dotted path {dotted!r} (expected names joined by '.', with [i] indices)"
            )
        parts.append(match.group(1))
        parts.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
    return parts


def _child_schema(node_schema: dict, key: str | int) -> dict:
    node_schema = schema._resolve(node_schema, schema.root_schema())
    if isinstance(key, int):
        items = node_schema.get("items")
        return items if isinstance(items, dict) else {}
    if key in node_schema.get("properties", {}):
        return node_schema["properties"][key]
    extra = node_schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else {}


def _typed_map(node_schema: dict) -> bool:
    """Whether the schema lets the object hold entries under any name, with a typed value."""
    extra = schema._resolve(node_schema, schema.root_schema()).get("additionalProperties")
    return isinstance(extra, dict) and "type" in extra


def check(data: dict, dotted: str) -> None:
    """Raise PathError unless ``dotted`` names a key of ``data`` (defaults filled) or one the schema knows."""
    parts = parse(dotted)
    node: Any = data
    node_schema: dict = schema.root_schema()
    for depth, key in enumerate(parts):
        here = json_path(parts[:depth]) or "the config"
        last = depth == len(parts) - 1
        if isinstance(key, int):
            if not isinstance(node, list):
                raise PathError(f"{here} is not a list, so [{key}] names nothing")
            if key >= len(node):
                raise PathError(f"{here} has {len(node)} entries, so [{key}] names nothing")
        elif not isinstance(node, dict):
            raise PathError(f"{here} is not an object, so .{key} names nothing")
        elif key not in node:
            resolved = schema._resolve(node_schema, schema.root_schema())
            known = key in resolved.get("properties", {}) or _typed_map(node_schema)
            if not (last and known):
                choices = ", ".join(sorted(map(str, node))) or "(none)"
                raise PathError(f"unknown dotted path: {here} has no key {key!r} (keys: {choices})")
            return
        node = node[key]
        node_schema = _child_schema(node_schema, key)


def assign(data: dict, dotted: str, value: Any) -> None:
    """Set the key ``dotted`` names (checked with :func:`check`) to ``value`` in place."""
    parts = parse(dotted)
    node = data
    for key in parts[:-1]:
        node = node[key]
    node[parts[-1]] = value
