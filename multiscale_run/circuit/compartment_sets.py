"""The SONATA compartment sets file (``compartment_sets_file`` of the simulation config), read by
libsonata's ``CompartmentSets``: named sets of ``[node_id, section_id, offset]`` locations of
one population."""

from __future__ import annotations

from pathlib import Path

from multiscale_run.errors import UserError


def read_compartment_set(path: Path | None, name: str, file: str | None, key: str) -> tuple[str, list]:
    """(population, [(node id, section id, offset), ...]) of compartment set ``name`` of ``path``;
    a missing or unreadable file or an unknown name raises a UserError naming ``file`` and
    ``key`` (the JSON path that names the set)."""
    import libsonata

    if path is None:
        raise UserError(f"compartment set {name!r} given but no compartment_sets_file", file, key)
    if not Path(path).is_file():
        raise UserError(f"compartment sets file not found: {path}", file, "compartment_sets_file")
    try:
        sets = libsonata.CompartmentSets.from_file(str(path))
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        message = f"libsonata cannot read the compartment sets {path}: {first}"
        raise UserError(message, file, "compartment_sets_file") from None
    if name not in sets.names():
        message = f"compartment set {name!r} is not in {path} (it has {sorted(sets.names())})"
        raise UserError(message, file, key)
    found = sets[name]
    locations = [(int(c.node_id), int(c.section_id), float(c.offset)) for c in found.filtered_iter()]
    return found.population, locations
