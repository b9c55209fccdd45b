"""Whether a run may resume from a snapshot: the same model, possibly run longer or reported
differently.

What may change by design (:data:`MAY_CHANGE`): ``run.tstop`` (extend), the reports (SONATA
``reports`` and every ``multiscale_run.<simulator>.reports``), the checkpoint and progress
settings, and the values a sweep varies (passed in by the sweep's warm start). Anything else that
differs from the snapshot's ``config.json`` is named, and so is a circuit file whose content
changed or a different rank count (NEURON's state is saved per rank: cells cannot move).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from multiscale_run.errors import UserError

MAY_CHANGE = (
    r"run\.tstop",
    r"reports(\..*)?",
    r"multiscale_run\.\w+\.reports(\..*|\[.*)?",
    r"multiscale_run\.(checkpoints|progress|version)(\..*)?",
)
#: files larger than this are fingerprinted by size and their first and last MiB
_WHOLE_FILE_BYTES = 64 * 2**20


def differences(saved, current, path: str = "") -> list[tuple[str, object, object]]:
    """``(dotted path, saved, current)`` of every leaf that differs (a missing key is ``None``)."""
    if isinstance(saved, dict) and isinstance(current, dict):
        out = []
        for key in sorted(set(saved) | set(current)):
            out += differences(saved.get(key), current.get(key), f"{path}.{key}" if path else key)
        return out
    if isinstance(saved, list) and isinstance(current, list) and len(saved) == len(current):
        out = []
        for i, (a, b) in enumerate(zip(saved, current, strict=True)):
            out += differences(a, b, f"{path}[{i}]")
        return out
    return [] if saved == current else [(path, saved, current)]


def portable(value, base_dir: str):
    """``value`` with every path under ``base_dir`` written relative to it (``$BASE/...``), so a
    simulation folder that was moved or copied still matches its snapshot."""
    if isinstance(value, dict):
        return {k: portable(v, base_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [portable(v, base_dir) for v in value]
    if isinstance(value, str) and (value == base_dir or value.startswith(base_dir.rstrip("/") + "/")):
        return "$BASE" + value[len(base_dir.rstrip("/")) :]
    return value


def refused_changes(saved: dict, current: dict, allowed: tuple[str, ...] = ()) -> list[str]:
    """The changes between two configs that a resume does not accept, one line each."""
    patterns = [re.compile(p) for p in (*MAY_CHANGE, *(re.escape(a) + r"(\..*|\[.*)?" for a in allowed))]
    out = []
    for path, old, new in differences(saved, current):
        if not any(p.fullmatch(path) for p in patterns):
            out.append(f"{path} changed since the snapshot (was {_short(old)}, now {_short(new)})")
    return out


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def file_fingerprint(path: Path) -> str:
    """SHA-256 of a file's content (of its size, first and last MiB when it is very large)."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as stream:
        if size <= _WHOLE_FILE_BYTES:
            digest.update(stream.read())
        else:
            digest.update(str(size).encode())
            digest.update(stream.read(2**20))
            stream.seek(-(2**20), 2)
            digest.update(stream.read())
    return digest.hexdigest()


def circuit_files(config) -> list[Path]:
    """The files that define the circuit: its config, node sets, and every population's files."""
    import libsonata

    paths = [Path(config.circuit_config)]
    if config.node_sets_file is not None:
        paths.append(Path(config.node_sets_file))
    circuit = libsonata.CircuitConfig.from_file(str(config.circuit_config))
    populations = [
        *(circuit.node_population_properties(n) for n in circuit.node_populations),
        *(circuit.edge_population_properties(n) for n in circuit.edge_populations),
    ]
    for props in populations:
        paths += [Path(props.elements_path)] + ([Path(props.types_path)] if props.types_path else [])
    return sorted({p for p in paths if p.is_file()})


def circuit_fingerprint(config) -> dict[str, str]:
    """Each circuit file's fingerprint, by its path (relative to the simulation folder)."""
    base = str(config.base_dir)
    return {portable(str(p), base): file_fingerprint(p) for p in circuit_files(config)}


def check_resumable(
    manifest: dict, saved_config: dict, config, ranks: int, allowed: tuple[str, ...] = ()
) -> None:
    """Raise a :class:`UserError` naming why this run cannot resume from the snapshot."""
    where = str(config.path)
    if manifest["ranks"] != ranks:
        raise UserError(
            f"the snapshot at t={manifest['t_ms']:g} ms was taken on {manifest['ranks']} rank(s), this run "
            f"has {ranks}: resume on {manifest['ranks']} (each rank's NEURON state is saved as it is; "
            "cells cannot move between ranks)",
            where,
        )
    was = [
        name
        for name, sec in saved_config["multiscale_run"].items()
        if isinstance(sec, dict) and sec.get("enabled")
    ]
    if sorted(was) != sorted(config.simulators):
        raise UserError(
            f"cannot resume: the simulators changed since the snapshot (were {', '.join(sorted(was))}; "
            f"now {', '.join(sorted(config.simulators))})",
            where,
        )
    base = str(config.base_dir)
    changes = refused_changes(
        portable(saved_config, manifest.get("base_dir", base)), portable(config.data, base), allowed
    )
    if changes:
        more = f" (and {len(changes) - 1} more)" if len(changes) > 1 else ""
        raise UserError(f"cannot resume: {changes[0]}{more}", where)
    now = circuit_fingerprint(config)
    for path in sorted(set(now) | set(manifest.get("circuit", {}))):
        if now.get(path) != manifest.get("circuit", {}).get(path):
            raise UserError(f"cannot resume: circuit file {path} changed since the snapshot", where)
    if config.run.tstop_ms < manifest["t_ms"] - 1e-9:
        raise UserError(
            f"run.tstop {config.run.tstop_ms:g} ms is before the snapshot's time {manifest['t_ms']:g} ms",
            where,
            "run.tstop",
        )
