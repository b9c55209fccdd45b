"""Read the glia of a SONATA NGV (neuro-glia-vascular) circuit as the BBP pipeline writes it:
the astrocyte node population and the ``endfoot`` edges from astrocytes to vasculature segments.

Layout (SONATA extension, BlueBrain/sonata-extension ``sonata_tech.rst``, "Fields for astrocyte
population" and "Fields for endfoot connection edges"; libsonata validates the circuit config):

* an ``astrocyte`` node population (the config entry must name a ``microdomains_file``) with
  ``x``, ``y``, ``z`` (soma centre, µm), ``radius`` (µm) and ``morphology``;
* an ``endfoot`` edge population (the config entry must name an ``endfeet_meshes_file``) whose
  source is the astrocyte population and target the vasculature population (one vasculature node
  = one vessel segment). Per edge: ``endfoot_id``, ``endfoot_surface_x/y/z`` (µm, where the
  endfoot touches the vessel wall), ``endfoot_compartment_length``, ``endfoot_compartment_diameter``,
  ``endfoot_compartment_perimeter`` (µm), ``astrocyte_section_id``, ``vasculature_section_id`` and
  ``vasculature_segment_id``.

The target node id of an endfoot *is* its vessel segment; the edge's section/segment ids repeat
the segment's own ``section_id``/``segment_id``. The reader checks that they agree, so an endfoot
is never attached to the wrong vessel silently. The microdomains and endfeet meshes are not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from multiscale_run.errors import UserError

ENDFOOT_ATTRIBUTES = (
    "endfoot_id",
    "endfoot_surface_x",
    "endfoot_surface_y",
    "endfoot_surface_z",
    "endfoot_compartment_length",
    "endfoot_compartment_diameter",
    "endfoot_compartment_perimeter",
    "astrocyte_section_id",
    "vasculature_section_id",
    "vasculature_segment_id",
)


@dataclass(frozen=True)
class Astrocytes:
    """The astrocyte population: node ids, soma centres (µm), soma radii (µm), morphologies."""

    population: str
    node_ids: np.ndarray
    position_um: np.ndarray  # (n, 3)
    radius_um: np.ndarray
    morphology: list[str]


@dataclass(frozen=True)
class Endfeet:
    """Endfeet in edge order: the astrocyte of each (node id), the vessel segment it touches
    (vasculature node id), where it touches the vessel wall (µm) and its compartment geometry."""

    population: str
    vasculature: str  # the vasculature node population the endfeet target
    astrocyte: np.ndarray
    vessel_segment: np.ndarray
    endfoot_id: np.ndarray
    surface_um: np.ndarray  # (n, 3)
    length_um: np.ndarray
    diameter_um: np.ndarray
    perimeter_um: np.ndarray
    astrocyte_section_id: np.ndarray
    vasculature_section_id: np.ndarray
    vasculature_segment_id: np.ndarray

    def per_segment(self, n_segments: int) -> np.ndarray:
        """Number of endfeet on each vessel segment."""
        return np.bincount(self.vessel_segment, minlength=n_segments)


def _only(names: list[str], kind: str, what: str, path: str) -> str:
    if len(names) != 1:
        raise UserError(
            f"expected exactly one {what} population of type {kind!r}, found {names or 'none'}", path
        )
    return names[0]


def read_astrocytes(circuit_config: str | Path, population: str = "") -> Astrocytes:
    """The astrocyte population named ``population``, else the circuit's only one of type
    ``astrocyte``."""
    import libsonata

    path = str(circuit_config)
    config = libsonata.CircuitConfig.from_file(path)
    if not population:
        names = sorted(config.node_populations)
        population = _only(
            [n for n in names if config.node_population_properties(n).type == "astrocyte"],
            "astrocyte",
            "node",
            path,
        )
    pop = config.node_population(population)
    missing = {"x", "y", "z", "radius", "morphology"} - set(pop.attribute_names)
    if missing:
        raise UserError(f"astrocyte population {population!r} lacks {sorted(missing)}", path)
    sel = pop.select_all()
    xyz = np.column_stack([np.asarray(pop.get_attribute(a, sel), dtype=np.float64) for a in "xyz"])
    return Astrocytes(
        population=population,
        node_ids=np.arange(pop.size, dtype=np.int64),
        position_um=xyz,
        radius_um=np.asarray(pop.get_attribute("radius", sel), dtype=np.float64),
        morphology=list(pop.get_attribute("morphology", sel)),
    )


def read_endfeet(circuit_config: str | Path, population: str = "") -> Endfeet:
    """The ``endfoot`` edge population named ``population``, else the circuit's only one, checked
    against the vasculature population it targets (segment ids in range, section/segment ids equal
    to the targeted segment's)."""
    import libsonata

    path = str(circuit_config)
    config = libsonata.CircuitConfig.from_file(path)
    if not population:
        names = sorted(config.edge_populations)
        population = _only(
            [n for n in names if config.edge_population_properties(n).type == "endfoot"],
            "endfoot",
            "edge",
            path,
        )
    edges = config.edge_population(population)
    missing = set(ENDFOOT_ATTRIBUTES) - set(edges.attribute_names)
    if missing:
        raise UserError(f"endfoot population {population!r} lacks {sorted(missing)}", path)
    vasculature = config.node_population(edges.target)
    if config.node_population_properties(edges.target).type != "vasculature":
        raise UserError(
            f"endfoot population {population!r} targets {edges.target!r}, not a vasculature", path
        )
    sel = edges.select_all()

    def attr(name: str, dtype=np.float64) -> np.ndarray:
        return np.asarray(edges.get_attribute(name, sel), dtype=dtype)

    segment = np.asarray(edges.target_nodes(sel), dtype=np.int64)
    if segment.size and (segment.min() < 0 or segment.max() >= vasculature.size):
        raise UserError(
            f"endfoot population {population!r} targets segment ids outside [0, {vasculature.size})", path
        )
    section_id, segment_id = (
        attr("vasculature_section_id", np.int64),
        attr("vasculature_segment_id", np.int64),
    )
    vsel = libsonata.Selection(segment)
    own_section = np.asarray(vasculature.get_attribute("section_id", vsel), dtype=np.int64)
    own_segment = np.asarray(vasculature.get_attribute("segment_id", vsel), dtype=np.int64)
    wrong = np.flatnonzero((own_section != section_id) | (own_segment != segment_id))
    if wrong.size:
        e = int(wrong[0])
        raise UserError(
            f"endfoot population {population!r}: {wrong.size} endfeet name a vasculature section/segment "
            f"other than the segment they target (edge {e}: ({section_id[e]}, {segment_id[e]}) but "
            f"{edges.target} node {segment[e]} is ({own_section[e]}, {own_segment[e]}))",
            path,
        )
    return Endfeet(
        population=population,
        vasculature=edges.target,
        astrocyte=np.asarray(edges.source_nodes(sel), dtype=np.int64),
        vessel_segment=segment,
        endfoot_id=attr("endfoot_id", np.int64),
        surface_um=np.column_stack([attr(f"endfoot_surface_{a}") for a in "xyz"]),
        length_um=attr("endfoot_compartment_length"),
        diameter_um=attr("endfoot_compartment_diameter"),
        perimeter_um=attr("endfoot_compartment_perimeter"),
        astrocyte_section_id=attr("astrocyte_section_id", np.int64),
        vasculature_section_id=section_id,
        vasculature_segment_id=segment_id,
    )
