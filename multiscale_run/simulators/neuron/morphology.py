"""Pure morphology geometry (no NEURON): SONATA rotations, polylines, segment counts, reading."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import morphio
import numpy as np

from multiscale_run.errors import UserError


def rotation_matrices(attributes: dict[str, np.ndarray], n: int) -> np.ndarray:
    """(n, 3, 3) rotations from SONATA orientation_w/x/y/z or rotation_angle_{x,y,z}axis.

    SONATA: the quaternion takes precedence; Euler angles (radians) apply x first, then y, then z
    (R = Rz·Ry·Rx). Missing attributes mean no rotation.
    """
    if "orientation_w" in attributes:
        q = np.stack([attributes[f"orientation_{c}"] for c in "wxyz"], axis=1).astype(float)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        w, x, y, z = q.T
        return np.stack(
            [
                np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
                np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
                np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
            ],
            axis=1,
        )
    rot = np.tile(np.eye(3), (n, 1, 1))
    for axis in "xyz":
        angle = np.asarray(attributes.get(f"rotation_angle_{axis}axis", np.zeros(n)), dtype=float)
        c, s = np.cos(angle), np.sin(angle)
        one, zero = np.ones(n), np.zeros(n)
        if axis == "x":
            r = [[one, zero, zero], [zero, c, -s], [zero, s, c]]
        elif axis == "y":
            r = [[c, zero, s], [zero, one, zero], [-s, zero, c]]
        else:
            r = [[c, -s, zero], [s, c, zero], [zero, zero, one]]
        rot = np.einsum("nij,njk->nik", np.moveaxis(np.array(r), (0, 1), (1, 2)), rot)
    return rot


def polyline_points_at(points: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Points at arc-length ``fractions`` (0..1) along a 3-D polyline (n, 3)."""
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    if arc[-1] == 0:
        return np.repeat(points[:1], len(fractions), axis=0)
    target = np.asarray(fractions) * arc[-1]
    return np.stack([np.interp(target, arc, points[:, k]) for k in range(3)], axis=1)


def segment_count(length_um: float, max_segment_length_um: float) -> int:
    """The smallest segment count with segments no longer than ``max_segment_length_um``."""
    return max(1, math.ceil(length_um / max_segment_length_um))


@dataclass(frozen=True)
class LocalMorphology:
    """A morphology in its own frame: soma centre/radius and sections (points µm, diameters µm)."""

    soma_center: np.ndarray
    soma_radius: float
    points: list[np.ndarray]
    diameters: list[np.ndarray]
    types: list[int]
    parents: list[int]  # morphio parent section index, -1 for a soma child


def read_morphology(path: Path) -> LocalMorphology:
    m = morphio.Morphology(str(path))
    soma_pts = np.asarray(m.soma.points, dtype=float)
    soma_d = np.asarray(m.soma.diameters, dtype=float)
    if len(soma_pts) == 0:
        raise UserError(f"morphology {path} has no soma")
    center = soma_pts.mean(axis=0)
    radius = (
        float(soma_d.max() / 2)
        if len(soma_pts) == 1
        else float(max(np.linalg.norm(soma_pts - center, axis=1).mean(), soma_d.max() / 2))
    )
    secs = list(m.sections)
    return LocalMorphology(
        soma_center=center,
        soma_radius=radius,
        points=[np.asarray(s.points, dtype=float) for s in secs],
        diameters=[np.asarray(s.diameters, dtype=float) for s in secs],
        types=[int(s.type) for s in secs],
        parents=[-1 if s.is_root else s.parent.id for s in secs],
    )
