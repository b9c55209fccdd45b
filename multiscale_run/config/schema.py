"""The JSON Schema of the simulation config, assembled from ``schema/`` and the simulator registry.

``simulation_config.json`` is the root; the schema file of each registered simulator
(:mod:`multiscale_run.simulators.catalogue`) is the schema of the section
``multiscale_run.<simulator>`` and is injected there, and the simulator enums (``order``,
coupling ``src``/``dest``, check ``simulator``) list the registered names. Defaults come from the schema's
``default`` values, so the schema is the single source of truth (the config reference in the
docs is generated from it).
"""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources
from typing import Any

import jsonschema

from multiscale_run.config.problems import Problem, json_path


def root_schema() -> dict:
    """The whole schema (one section per registered simulator injected), read-only."""
    from multiscale_run.simulators import catalogue

    return _root_schema(catalogue.specs())


def _load_part(path) -> dict:
    sub = json.loads(path.read_text())
    sub.pop("$schema", None)
    sub.pop("$id", None)
    return sub


@functools.cache
def _root_schema(specs: tuple) -> dict:
    folder = resources.files("multiscale_run.config") / "schema"
    root = json.loads((folder / "simulation_config.json").read_text())
    root["$defs"]["report"] = _load_part(folder / "report.json")
    names = [spec.name for spec in specs]
    msr = root["$defs"]["multiscale_run"]["properties"]
    msr["order"]["items"]["enum"] = names
    msr["order"]["default"] = names
    for where in (root["$defs"]["coupling"]["properties"], root["$defs"]["check"]["properties"]):
        for key in ("src", "dest", "simulator"):
            if key in where:
                where[key]["enum"] = names
    for spec in specs:
        sub = _load_part(spec.schema)
        props = sub.setdefault("properties", {})
        # An absent section means "off"; a section that is present runs unless it says otherwise.
        sub["default"] = {"enabled": False}
        props.setdefault("enabled", {"type": "boolean"})
        props["enabled"]["default"] = True
        props["enabled"]["description"] = (
            "Whether the simulator runs (true when its section is present, false when it is absent)."
        )
        if "default" not in props.get("ndts", {}):
            raise ValueError(f"{spec.schema}: every simulator section needs an ndts with a default")
        msr[spec.name] = sub
    return root


def _resolve(schema: dict, root: dict) -> dict:
    while "$ref" in schema:
        ref = schema["$ref"]
        node: Any = root
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def fill_defaults(data: Any, schema: dict | None = None, root: dict | None = None) -> Any:
    """A copy of ``data`` with every missing key that has a schema ``default`` filled in."""
    root = root or root_schema()
    schema = _resolve(schema if schema is not None else root, root)
    if isinstance(data, dict):
        out = {k: v for k, v in data.items()}
        props = schema.get("properties", {})
        for key, sub in props.items():
            sub = _resolve(sub, root)
            if key not in out and "default" in sub:
                out[key] = copy.deepcopy(sub["default"])
            if key in out:
                out[key] = fill_defaults(out[key], sub, root)
        return out
    if isinstance(data, list) and isinstance(schema.get("items"), dict):
        return [fill_defaults(v, schema["items"], root) for v in data]
    return data


def _describe(error: jsonschema.ValidationError) -> tuple[list, str, str]:
    """(json path parts, what is wrong, what was expected) for one schema error."""
    where = list(error.absolute_path)
    kind = error.validator
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return [*where, extra[0]] if extra else where, "unknown key", f"one of: {', '.join(allowed)}"
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [*where, missing], "missing required key", "see the config reference"
    if kind == "type":
        return (
            where,
            f"wrong type: {type(error.instance).__name__} {json.dumps(error.instance)[:60]}",
            (f"{error.validator_value}"),
        )
    if kind == "enum":
        return (
            where,
            f"invalid value {json.dumps(error.instance)[:60]}",
            (f"one of: {', '.join(map(str, error.validator_value))}"),
        )
    return where, error.message, ""


def validate(data: dict, file: str) -> list[Problem]:
    """Every schema problem in ``data``, each with its JSON path."""
    validator = jsonschema.Draft202012Validator(root_schema())
    problems = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        where, what, expected = _describe(error)
        problems.append(Problem(file, json_path(where), what, expected))
    return problems
