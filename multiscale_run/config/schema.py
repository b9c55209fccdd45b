"""The JSON Schema of the simulation config, assembled from the files in ``schema/``.

``simulation_config.json`` is the root; each ``<simulator>.json`` is the schema of the section
``multiscale_run.<simulator>`` and is injected there. Defaults come from the schema's
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

SIMULATORS = ("neuron", "steps", "bloodflow", "metabolism")


@functools.cache
def root_schema() -> dict:
    """The whole schema (simulator sections injected), as a fresh-per-process read-only dict."""
    folder = resources.files("multiscale_run.config") / "schema"
    root = json.loads((folder / "simulation_config.json").read_text())
    report = folder / "report.json"
    if report.is_file():
        sub = json.loads(report.read_text())
        sub.pop("$schema", None)
        sub.pop("$id", None)
        root["$defs"]["report"] = sub
    section = root["$defs"]["multiscale_run"]["properties"]
    for name in SIMULATORS:
        sim_file = folder / f"{name}.json"
        if sim_file.is_file():
            sub = json.loads(sim_file.read_text())
            sub.pop("$schema", None)
            sub.pop("$id", None)
            # An absent section means "off"; a section that is present runs unless it says otherwise.
            sub["default"] = {"enabled": False}
            sub.setdefault("properties", {}).setdefault("enabled", {"type": "boolean"})
            sub["properties"]["enabled"]["default"] = True
            sub["properties"]["enabled"]["description"] = (
                "Whether the simulator runs (true when its section is present, false when it is absent)."
            )
            section[name] = sub
        else:  # a simulator whose adapter is not shipped can only be switched off
            section[name] = {
                "type": "object",
                "description": f"The {name} simulator (not available in this build).",
                "properties": {
                    "enabled": {"const": False, "default": False, "description": "Must be false."}
                },
                "default": {},
            }
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
