"""Generate the config reference (Markdown) from the JSON Schema, so the docs cannot drift.

``python -m multiscale_run.config.reference > docs/config-reference.md``; a test fails when the
committed file differs from what this prints.
"""

from __future__ import annotations

import json

from multiscale_run.config.rules import RULES
from multiscale_run.config.schema import _resolve, root_schema


def _type(schema: dict) -> str:
    if "enum" in schema:
        return " \\| ".join(json.dumps(v) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    kind = schema.get("type", "any")
    if kind == "array" and isinstance(schema.get("items"), dict):
        item = schema["items"]
        return f"array of {_type(item) if '$ref' not in item else item['$ref'].split('/')[-1]}"
    return " \\| ".join(kind) if isinstance(kind, list) else kind


def _rows(schema: dict, root: dict, prefix: str, out: list[str]) -> None:
    schema = _resolve(schema, root)
    for key, sub in schema.get("properties", {}).items():
        sub_resolved = _resolve(sub, root)
        path = f"{prefix}.{key}" if prefix else key
        default = json.dumps(sub_resolved["default"]) if "default" in sub_resolved else ""
        required = "yes" if key in schema.get("required", []) else ""
        description = sub_resolved.get("description", "").replace("|", "\\|").replace("\n", " ")
        out.append(
            f"| `{path}` | {_type(sub_resolved)} | {required} | `{default}` | {description} |"
            if default
            else f"| `{path}` | {_type(sub_resolved)} | {required} | | {description} |"
        )
        if sub_resolved.get("type") == "object" or "properties" in sub_resolved:
            _rows(sub_resolved, root, path, out)
        items = sub_resolved.get("items")
        if isinstance(items, dict) and "$ref" in items:
            _rows(items, root, f"{path}[]", out)


def render() -> str:
    root = root_schema()
    out = [
        "# Config reference",
        "",
        "Generated from the JSON Schema shipped in `multiscale_run/config/schema/` by",
        "`python -m multiscale_run.config.reference`; do not edit by hand.",
        "",
        "A simulation is a SONATA `simulation_config.json` with a `multiscale_run` section. `${name}` is",
        "replaced by the SONATA `manifest` entry `name` (and `${config_dir}` by the config's folder);",
        "relative paths are resolved against the config file's folder.",
        "",
        "| key | type | required | default | description |",
        "|---|---|---|---|---|",
    ]
    _rows(root, root, "", out)
    out += [
        "",
        "## Rules beyond the schema",
        "",
        "`msr check` (and `msr compute` before it starts) also enforces these cross-field rules",
        "(`multiscale_run.config.rules.RULES`; each one has a case in",
        "`tests/unit/test_reliability_corpus.py`). Every problem is one line naming the file and the",
        "JSON path (or, for files a config names, that file's key); exit code 2.",
        "",
        "| rule | what must hold |",
        "|---|---|",
        *(f"| `{rule}` | {text} |" for rule, text in RULES),
    ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(render(), end="")
