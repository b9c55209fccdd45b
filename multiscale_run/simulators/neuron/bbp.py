"""BBP conventions for hoc cell templates and explicit synapse positions.

- Constructor: ``Name(gid, morphology_dir, morphology_file, *extra)``; the extra arguments are
  those a template names in its global string ``<Name>_NeededAttributes`` (``;``-separated),
  valued from the node's ``@dynamics:<attribute>`` (``dynamics_params`` group), as neurodamus
  passes them (e.g. ``AIS_scaler``).
- Section ids: ``afferent_section_id`` counts the sections of the morphology as the template
  loaded it, before the axon is replaced: soma, axon, basal, apical in Import3d's order. BBP
  templates store that index in ``v(0.0001)`` of every section (``indexSections()``; the stub
  axon sections inherit the first two axon indices) and bluecellulab/neurodamus read it back
  before the run: so does :func:`section_numbering`. A template without that index falls back
  to counting soma, axon (``nSecAxonalOrig``), basal, apical.
- ``afferent_segment_id`` + ``afferent_segment_offset``: the synapse lies ``offset`` µm past the
  3-D point ``segment_id`` of its section; x = (arc length to that point + offset) / L.
"""

from __future__ import annotations

from multiscale_run.errors import UserError


def constructor_arguments(h, name: str, node) -> list:
    """The extra arguments of template ``name`` for ``node`` (``<name>_NeededAttributes``)."""
    needed = getattr(h, f"{name}_NeededAttributes", None) if hasattr(h, f"{name}_NeededAttributes") else None
    if needed is None:
        return []
    out = []
    for attribute in (a.strip() for a in str(needed).split(";") if a.strip()):
        value = node.attrs.get(f"@dynamics:{attribute}")
        if value is None:
            raise UserError(
                f"{node.label}: template {name} needs dynamics_params/{attribute}, which the node lacks"
            )
        out.append(float(value))
    return out


def section_numbering(obj, sections: list) -> dict[int, object]:
    """{BBP section id: section} of a hoc cell (see the module docstring)."""
    index = [sec(0.0001).v for sec in sections]
    if all(float(i).is_integer() and i >= 0 for i in index) and len(set(index)) == len(index):
        return {int(i): sec for i, sec in zip(index, sections, strict=True)}
    out, start = {}, 0
    for lst, count in (
        ("somatic", "nSecSoma"),
        ("axonal", "nSecAxonalOrig"),
        ("basal", "nSecBasal"),
        ("apical", "nSecApical"),
    ):
        secs = list(getattr(obj, lst)) if hasattr(obj, lst) else []
        for k, sec in enumerate(secs):
            out[start + k] = sec
        start += int(getattr(obj, count)) if hasattr(obj, count) else len(secs)
    return out


def segment_position(sec, segment_id: int, offset_um: float, where: str) -> float:
    """x along ``sec`` of a point ``offset_um`` past its 3-D point ``segment_id``."""
    n = int(sec.n3d())
    if not 0 <= segment_id < max(n - 1, 1):
        raise UserError(f"{where}: afferent_segment_id {segment_id} but the section has {n} points")
    if n < 2 or sec.L == 0:
        return 0.5
    return min(max((sec.arc3d(segment_id) + offset_um) / sec.L, 0.0), 1.0)
