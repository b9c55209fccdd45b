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


def polylines_points_at(points: list[np.ndarray], counts: np.ndarray) -> np.ndarray:
    """Points at arc-length fractions ``linspace(0, 1, counts[k] + 1)`` along each 3-D polyline
    ``points[k]`` (n_k >= 1, 3), all polylines at once: ``(sum(counts + 1), 3)``.

    The same numbers as ``np.interp`` of each coordinate against each polyline's cumulative arc
    length (numpy's rule, bit for bit: the last point with arc <= target, its value where they are
    equal or at the end, else ``slope * (target - arc[j]) + value[j]``); a polyline of zero
    length gives its first point.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if not len(points):
        return np.zeros((0, 3))
    sizes = np.array([len(p) for p in points], dtype=np.int64)
    flat = np.concatenate(points).astype(np.float64, copy=False)
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    # arc length: the norms of consecutive differences within each polyline, summed in order
    # (a zero-padded row per polyline: cumsum along it adds exactly as a per-polyline cumsum)
    step = np.linalg.norm(np.diff(flat, axis=0), axis=1) if len(flat) > 1 else np.zeros(0)
    owner = np.repeat(np.arange(len(points)), sizes)
    inner = np.ones(len(flat), dtype=bool)
    inner[first] = False  # the first point of a polyline has no step before it
    rows = np.zeros((len(points), int(sizes.max())))
    column = np.arange(len(flat)) - first[owner]
    rows[owner[inner], column[inner]] = step[inner[1:]]
    arc = np.cumsum(rows, axis=1)[owner, column]  # 0 at each first point
    total = arc[first + sizes - 1]
    fractions = {int(c): np.linspace(0, 1, int(c) + 1) for c in np.unique(counts)}
    target = np.concatenate([fractions[int(c)] for c in counts]) * np.repeat(total, counts + 1)
    t_owner = np.repeat(np.arange(len(points)), counts + 1)
    # j = the last point of the same polyline with arc <= target (a stable lexicographic sort of
    # (polyline, value), points before targets on ties; the points before a target count it)
    kind = np.concatenate([np.zeros(len(flat), np.int8), np.ones(len(target), np.int8)])
    order = np.lexsort((kind, np.concatenate([arc, target]), np.concatenate([owner, t_owner])))
    seen = np.cumsum(kind[order] == 0)
    j = np.empty(len(target), dtype=np.int64)
    j[order[kind[order] == 1] - len(flat)] = seen[kind[order] == 1] - 1
    last = (first + sizes - 1)[t_owner]
    exact = (j == last) | (arc[j] == target)
    nxt = np.minimum(j + 1, len(flat) - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (flat[nxt] - flat[j]) / (arc[nxt] - arc[j])[:, None]
        out = slope * (target - arc[j])[:, None] + flat[j]
        retry = np.isnan(out)
        out[retry] = (slope * (target - arc[nxt])[:, None] + flat[nxt])[retry]
        same = np.isnan(out) & (flat[j] == flat[nxt])
        out[same] = flat[j][same]
    out[exact] = flat[j][exact]
    flat_total = total[t_owner] == 0
    out[flat_total] = flat[first[t_owner]][flat_total]
    return out


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
