"""Reading a simulation config: strict JSON, ``${name}`` substitution, paths made absolute.

Substitution names come from the SONATA ``manifest`` section plus ``${config_dir}`` (the folder
of the config file); both ``${NAME}`` and SONATA's ``$NAME`` are replaced. Paths are the values
of keys named ``network`` or ending in ``_file``, ``_dir`` or ``_path`` (``spikes_file`` excepted:
SONATA makes it relative to ``output_dir``); relative paths are resolved against the config
file's folder.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from multiscale_run.config.problems import ConfigError, Problem, json_path

# ``${NAME}``, and SONATA's brace-less ``$NAME`` (manifest keys are written "$BASE_DIR").
_SUBST = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_RELATIVE_TO_OUTPUT = {"spikes_file"}


def is_path_key(key: str) -> bool:
    return key == "network" or (key.endswith(("_file", "_dir", "_path")) and key not in _RELATIVE_TO_OUTPUT)


class NonFinite(str):
    """``NaN``, ``Infinity`` or ``-Infinity`` where strict JSON wants a number (Python's parser
    accepts them): kept as a marker so that every one is reported with its JSON path."""


def non_finite(data: Any, where: tuple = ()) -> list[tuple[list, str]]:
    """(JSON path, text) of every :class:`NonFinite` value in ``data``."""
    if isinstance(data, NonFinite):
        return [(list(where), str(data))]
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    return [found for key, value in items for found in non_finite(value, (*where, key))]


def read_json(path: Path) -> Any:
    """Parse a strict JSON file (no NaN or Infinity); a syntax error becomes a problem naming the
    line and column, a non-finite number one naming its JSON path."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [Problem(str(path), "", "file not found", "a SONATA simulation_config.json")]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(path), "", f"cannot read: {exc}")]) from None
    try:
        data = json.loads(text, parse_constant=NonFinite)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            [Problem(str(path), f"line {exc.lineno} column {exc.colno}", f"malformed JSON: {exc.msg}")]
        ) from None
    except RecursionError:
        raise ConfigError([Problem(str(path), "", "malformed JSON: nested too deeply")]) from None
    problems = [
        Problem(str(path), json_path(where), f"{value} is not a JSON number", "a finite number")
        for where, value in non_finite(data)
    ]
    if problems:
        raise ConfigError(problems)
    return data


def substitute(data: Any, names: dict[str, str], file: str) -> Any:
    """Replace every ``${name}`` in string values; an unknown name is a problem at its JSON path."""
    problems: list[Problem] = []

    def walk(node: Any, where: list[str | int]) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, [*where, k]) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, [*where, i]) for i, v in enumerate(node)]
        if isinstance(node, str):

            def repl(match: re.Match) -> str:
                name = match.group(1) or match.group(2)
                if name not in names:
                    problems.append(
                        Problem(
                            file,
                            json_path(where),
                            f"unknown substitution ${{{name}}}",
                            f"one of: {', '.join(sorted(names))}",
                        )
                    )
                    return match.group(0)
                return names[name]

            return _SUBST.sub(repl, node)
        return node

    result = walk(data, [])
    if problems:
        raise ConfigError(problems)
    return result


def resolve_paths(data: Any, base_dir: Path) -> Any:
    """Make every path-valued key absolute, relative to ``base_dir``."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if isinstance(value, str) and value and is_path_key(key):
                out[key] = str((base_dir / value).resolve()) if not Path(value).is_absolute() else value
            else:
                out[key] = resolve_paths(value, base_dir)
        return out
    if isinstance(data, list):
        return [resolve_paths(v, base_dir) for v in data]
    return data


def load_raw(path: Path) -> dict:
    """The config as a dict with substitutions made and paths resolved (not yet validated)."""
    path = Path(path).resolve()
    data = read_json(path)
    if not isinstance(data, dict):
        raise ConfigError([Problem(str(path), "", "the config must be a JSON object", "{...}")])
    manifest = data.get("manifest", {})
    names = {"config_dir": str(path.parent)}
    if isinstance(manifest, dict):
        # SONATA: a manifest value may use the variables defined before it ("$BASE_DIR/network")
        for k, v in manifest.items():
            if isinstance(v, (str, int, float)):
                names[k.strip("${}")] = substitute(str(v), names, str(path))
    data = substitute(data, names, str(path))
    return resolve_paths(data, path.parent)
