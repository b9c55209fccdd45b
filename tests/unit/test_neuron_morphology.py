"""Segment end points along many polylines at once, against numpy's own np.interp, bit for bit."""

from __future__ import annotations

import numpy as np

from multiscale_run.circuit.default import build_default_circuit
from multiscale_run.simulators.neuron.morphology import polylines_points_at, read_morphology


def _one_by_one(points: np.ndarray, count: int) -> np.ndarray:
    """np.interp of each coordinate against the cumulative arc length (a zero-length polyline:
    its first point)."""
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    fractions = np.linspace(0, 1, count + 1)
    if arc[-1] == 0:
        return np.repeat(points[:1], count + 1, axis=0)
    return np.stack([np.interp(fractions * arc[-1], arc, points[:, k]) for k in range(3)], axis=1)


def _check(polylines: list[np.ndarray], counts: np.ndarray) -> None:
    expected = np.concatenate([_one_by_one(p, int(c)) for p, c in zip(polylines, counts, strict=True)])
    got = polylines_points_at(polylines, counts)
    assert got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()


def test_random_polylines_with_repeated_points_match_np_interp_exactly():
    rng = np.random.default_rng(3)
    polylines = []
    for k in range(300):
        pts = rng.normal(scale=rng.uniform(0.1, 80.0), size=(int(rng.integers(1, 40)), 3)).cumsum(axis=0)
        if k % 7 == 0 and len(pts) > 2:
            pts[1] = pts[0]  # a repeated point: two equal arc lengths
        if k % 11 == 0:
            pts[:] = pts[0]  # zero length
        polylines.append(pts)
    _check(polylines, rng.integers(1, 25, size=len(polylines)))


def test_the_default_circuit_morphologies_placed_and_rotated(tmp_path):
    build_default_circuit(tmp_path, n_neurons=3, seed=5)
    paths = sorted((tmp_path / "morphologies").glob("*.swc"))
    assert paths
    angle = 0.7
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    for path in paths:
        morph = read_morphology(path)
        placed = [(p - morph.soma_center) @ rot.T + np.array([10.5, -3.25, 100.0]) for p in morph.points]
        lengths = np.array([np.linalg.norm(np.diff(p, axis=0), axis=1).sum() for p in placed])
        _check(placed, np.maximum(1, np.ceil(lengths / 7.0)).astype(np.int64))


def test_no_polyline():
    assert polylines_points_at([], np.zeros(0, np.int64)).shape == (0, 3)
