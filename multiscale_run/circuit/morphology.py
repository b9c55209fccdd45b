"""Synthetic neuron morphologies for the default circuit, written as SWC files.

Pure functions: a seeded random generator in, sample arrays out. Shapes follow the textbook
anatomy of neocortical cells (DeFelipe & Fariñas 1992, Markram et al. 2015): a pyramidal cell
has a soma, several basal dendrites, an apical trunk towards the pia (+y) with oblique branches
and a tuft, and a descending axon with collaterals; a basket cell has radial multipolar
dendrites and a local, branched axon; a bipolar cell has one ascending and one descending
dendrite and an ascending axon. Coordinates are in µm in the cell's local frame (soma at the
origin, the column axis along +y), radii in µm. SWC types: 1 soma, 2 axon, 3 basal, 4 apical.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SOMA, AXON, BASAL, APICAL = 1, 2, 3, 4
_STEP_UM = 10.0  # spacing of samples along a branch


@dataclass
class MorphologyBuilder:
    """Accumulates SWC samples; ``parents[i]`` is the index of the parent sample (-1 for root)."""

    points: list[np.ndarray] = field(default_factory=list)
    radii: list[float] = field(default_factory=list)
    types: list[int] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)

    def add(self, point: np.ndarray, radius: float, kind: int, parent: int) -> int:
        self.points.append(np.asarray(point, dtype=float))
        self.radii.append(float(radius))
        self.types.append(int(kind))
        self.parents.append(int(parent))
        return len(self.points) - 1

    def swc_text(self) -> str:
        lines = ["# multiscale-run synthetic morphology", "# id type x y z radius parent"]
        for i, (p, r, t, par) in enumerate(
            zip(self.points, self.radii, self.types, self.parents, strict=True)
        ):
            parent = par + 1 if par >= 0 else -1
            lines.append(f"{i + 1} {t} {p[0]:.4f} {p[1]:.4f} {p[2]:.4f} {r:.4f} {parent}")
        return "\n".join(lines) + "\n"


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _deflect(rng: np.random.Generator, direction: np.ndarray, angle_rad: float) -> np.ndarray:
    """``direction`` turned by ``angle_rad`` towards a random perpendicular."""
    perp = _unit(np.cross(direction, _unit(rng.normal(size=3))))
    return _unit(np.cos(angle_rad) * direction + np.sin(angle_rad) * perp)


def grow(
    builder: MorphologyBuilder,
    rng: np.random.Generator,
    parent: int,
    start: np.ndarray,
    direction: np.ndarray,
    length_um: float,
    radius_um: tuple[float, float],
    kind: int,
    depth: int,
    branch_angle_rad: float = 0.5,
    wiggle_rad: float = 0.15,
    child_length_fraction: float = 0.7,
) -> None:
    """Grow a branch as a persistent random walk, then bifurcate ``depth`` more times."""
    n = max(2, int(np.ceil(length_um / _STEP_UM)))
    step = length_um / n
    radii = np.linspace(radius_um[0], radius_um[1], n)
    point, d, last = np.asarray(start, float), _unit(np.asarray(direction, float)), parent
    for i in range(n):
        d = _deflect(rng, d, wiggle_rad * abs(rng.normal()))
        point = point + step * d
        last = builder.add(point, radii[i], kind, last)
    if depth > 0:
        child_radius = (max(0.4, 0.8 * radius_um[1]), max(0.3, 0.6 * radius_um[1]))
        for sign in (1, -1):
            grow(
                builder,
                rng,
                last,
                point,
                _deflect(rng, d, sign * branch_angle_rad * (0.7 + 0.6 * rng.random())),
                length_um * child_length_fraction,
                child_radius,
                kind,
                depth - 1,
                branch_angle_rad,
                wiggle_rad,
                child_length_fraction,
            )


def _root(
    builder: MorphologyBuilder, soma_radius_um: float, direction: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    d = _unit(np.asarray(direction, float))
    return soma_radius_um * d, d


def _around(rng: np.random.Generator, n: int, axis: np.ndarray, spread_rad: float) -> list[np.ndarray]:
    """``n`` directions spread around ``axis`` (cone half-angle about ``spread_rad``)."""
    return [_deflect(rng, _unit(axis), spread_rad * (0.6 + 0.4 * rng.random())) for _ in range(n)]


def pyramidal(rng: np.random.Generator, apical_length_um: float) -> MorphologyBuilder:
    """A pyramidal cell whose apical trunk plus tuft reach ``apical_length_um`` above the soma."""
    b = MorphologyBuilder()
    r_soma = rng.uniform(8.0, 10.0)
    soma = b.add(np.zeros(3), r_soma, SOMA, -1)
    down = np.array([0.0, -1.0, 0.0])
    up = np.array([0.0, 1.0, 0.0])
    for d in _around(rng, int(rng.integers(4, 7)), down, 1.9):
        start, d = _root(b, r_soma, d)
        grow(b, rng, soma, start, d, rng.uniform(80, 120), (1.0, 0.6), BASAL, depth=1, branch_angle_rad=0.6)
    trunk_length = 0.75 * apical_length_um
    start, d = _root(b, r_soma, up)
    n_obliques = 2
    segment = trunk_length / (n_obliques + 1)
    parent, point = soma, start
    radius = 2.0
    for _ in range(n_obliques + 1):
        n = max(2, int(np.ceil(segment / _STEP_UM)))
        for _ in range(n):
            d = _deflect(rng, up, 0.05 * abs(rng.normal()))
            point = point + (segment / n) * d
            radius = max(0.8, radius - 0.8 / (trunk_length / _STEP_UM))
            parent = b.add(point, radius, APICAL, parent)
        oblique = _deflect(rng, up, rng.uniform(1.0, 1.4))
        grow(b, rng, parent, point, oblique, rng.uniform(60, 100), (0.6, 0.35), APICAL, depth=1)
    tuft = 0.25 * apical_length_um
    for d in _around(rng, 2, up, 0.6):
        grow(b, rng, parent, point, d, tuft * 0.6, (0.7, 0.4), APICAL, depth=1, child_length_fraction=0.6)
    start, d = _root(b, r_soma, down)
    grow(b, rng, soma, start, d, rng.uniform(120, 180), (0.8, 0.6), AXON, depth=1, branch_angle_rad=0.9)
    return b


def basket(rng: np.random.Generator) -> MorphologyBuilder:
    """A multipolar interneuron with radial dendrites and a local branching axon."""
    b = MorphologyBuilder()
    r_soma = rng.uniform(6.0, 7.5)
    soma = b.add(np.zeros(3), r_soma, SOMA, -1)
    for _ in range(int(rng.integers(4, 7))):
        start, d = _root(b, r_soma, _unit(rng.normal(size=3)))
        grow(b, rng, soma, start, d, rng.uniform(60, 100), (0.8, 0.5), BASAL, depth=1)
    start, d = _root(b, r_soma, _unit(np.array([0.3, -1.0, 0.2])))
    grow(b, rng, soma, start, d, 100, (0.7, 0.5), AXON, depth=1, branch_angle_rad=1.0)
    return b


def bipolar(rng: np.random.Generator) -> MorphologyBuilder:
    """A bipolar interneuron: one ascending and one descending dendrite, an ascending axon."""
    b = MorphologyBuilder()
    r_soma = rng.uniform(5.0, 6.5)
    soma = b.add(np.zeros(3), r_soma, SOMA, -1)
    for axis in (np.array([0.0, 1.0, 0.0]), np.array([0.0, -1.0, 0.0])):
        start, d = _root(b, r_soma, _deflect(rng, axis, 0.1))
        grow(b, rng, soma, start, d, rng.uniform(100, 150), (0.8, 0.5), BASAL, depth=1, branch_angle_rad=0.3)
    start, d = _root(b, r_soma, _unit(np.array([0.5, 0.8, 0.1])))
    grow(b, rng, soma, start, d, 120, (0.7, 0.5), AXON, depth=1, branch_angle_rad=0.8)
    return b


def write_swc(builder: MorphologyBuilder, path: Path) -> Path:
    path = Path(path)
    path.write_text(builder.swc_text())
    return path


def membrane_area_and_volume(path: Path) -> tuple[float, float]:
    """Membrane area (µm²) and volume (µm³) of an SWC morphology as NEURON builds it.

    Neurites are chains of frusta between samples (NEURON's area and volume of 3-D points);
    the soma is a cylinder of length and diameter 2r (area 4πr², volume 2πr³), as
    :mod:`multiscale_run.simulators.neuron` builds it.
    """
    import morphio

    m = morphio.Morphology(str(path))
    soma_d = np.asarray(m.soma.diameters, dtype=float)
    soma_pts = np.asarray(m.soma.points, dtype=float)
    center = soma_pts.mean(axis=0)
    r = float(soma_d.max() / 2)
    if len(soma_pts) > 1:
        r = max(float(np.linalg.norm(soma_pts - center, axis=1).mean()), r)
    area, volume = 4 * np.pi * r**2, 2 * np.pi * r**3
    for sec in m.sections:
        p, d = np.asarray(sec.points, dtype=float), np.asarray(sec.diameters, dtype=float)
        length = np.linalg.norm(np.diff(p, axis=0), axis=1)
        r1, r2 = d[:-1] / 2, d[1:] / 2
        area += float(np.sum(np.pi * (r1 + r2) * np.sqrt(length**2 + (r1 - r2) ** 2)))
        volume += float(np.sum(np.pi * length * (r1**2 + r1 * r2 + r2**2) / 3))
    return area, volume
