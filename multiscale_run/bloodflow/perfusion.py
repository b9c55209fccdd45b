"""From vessel flows to tissue perfusion: operators that give the metabolism model its F_in.

The metabolism model (Jolivet et al. 2015) takes the blood flow F_in in s⁻¹, the volume of blood
entering a unit volume of tissue per second. For a tissue region of volume V (a tet, or a sphere
around a soma), the blood entering it at steady state equals the blood leaving it, and both cross
its boundary through the vessel segments that have one end inside and one outside. Hence

    F_region = ½ · Σ_{v crosses ∂region} |Q_v| / V      [µm³/s / µm³ = s⁻¹]

(the ½ because each crossing is counted once as inflow and once as outflow; exact for mass
conservation when segments are shorter than the region). The operators below are sparse matrices
``M`` (regions × vessels) with ``F = M @ |Q|``.

The blood (lumen) volume fraction of a region, Σ_v π r_v² · ℓ(v ∩ region) / V, comes from the
length ℓ of each segment inside the region.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree


def region_crossing_operator(
    start_region: np.ndarray, end_region: np.ndarray, region_volume_um3: np.ndarray
) -> sp.csr_matrix:
    """Perfusion operator for disjoint regions (e.g. mesh tets): ``start_region[v]`` and
    ``end_region[v]`` are the regions holding each segment's end points (−1 outside every
    region). Entry (r, v) is 1/(2 V_r) when exactly one end of v lies in r."""
    start_region = np.asarray(start_region, dtype=np.int64)
    end_region = np.asarray(end_region, dtype=np.int64)
    vol = np.asarray(region_volume_um3, dtype=np.float64)
    crossing = start_region != end_region
    rows, cols = [], []
    for region in (start_region, end_region):
        keep = crossing & (region >= 0)
        rows.append(region[keep])
        cols.append(np.flatnonzero(keep))
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    data = 0.5 / vol[rows]
    return sp.csr_matrix((data, (rows, cols)), shape=(vol.size, start_region.size))


def sphere_crossing_operator(
    centres_um: np.ndarray, radius_um: float, start_um: np.ndarray, end_um: np.ndarray
) -> sp.csr_matrix:
    """Perfusion operator for (possibly overlapping) spheres of radius ``radius_um`` around
    ``centres_um`` (e.g. somata): entry (n, v) is 1/(2 V_sphere) when exactly one end of segment v
    lies inside sphere n. Mesh-free, so usable without STEPS."""
    centres = np.asarray(centres_um, dtype=np.float64).reshape(-1, 3)
    volume = 4.0 / 3.0 * np.pi * radius_um**3
    n_v = len(start_um)
    tree = cKDTree(centres)
    inside = []
    for ends in (start_um, end_um):
        hits = tree.query_ball_point(np.asarray(ends, dtype=np.float64), r=radius_um)
        counts = np.fromiter((len(h) for h in hits), dtype=np.int64, count=n_v)
        cells = np.fromiter((c for h in hits for c in h), dtype=np.int64, count=int(counts.sum()))
        inside.append(
            sp.csr_matrix(
                (np.ones(cells.size), (cells, np.repeat(np.arange(n_v), counts))), shape=(len(centres), n_v)
            )
        )
    # exactly one end inside: indicator(start) + indicator(end) == 1
    crossing = (inside[0] + inside[1]).tocsr()
    crossing.data = (crossing.data == 1).astype(np.float64)
    crossing.eliminate_zeros()
    return crossing * (0.5 / volume)


def length_inside_sphere_um(
    centre_um: np.ndarray, radius_um: float, start_um: np.ndarray, end_um: np.ndarray
) -> np.ndarray:
    """Length (µm) of each straight segment lying inside the sphere (exact line–sphere clipping)."""
    s = np.asarray(start_um, dtype=np.float64) - np.asarray(centre_um, dtype=np.float64)
    d = np.asarray(end_um, dtype=np.float64) - np.asarray(start_um, dtype=np.float64)
    a = np.einsum("ij,ij->i", d, d)
    b = 2.0 * np.einsum("ij,ij->i", s, d)
    c = np.einsum("ij,ij->i", s, s) - radius_um**2
    disc = b * b - 4 * a * c
    ok = (disc > 0) & (a > 0)
    root = np.sqrt(np.where(ok, disc, 0.0))
    safe_a = np.where(a > 0, a, 1.0)
    t0 = np.clip((-b - root) / (2 * safe_a), 0.0, 1.0)
    t1 = np.clip((-b + root) / (2 * safe_a), 0.0, 1.0)
    return np.where(ok, (t1 - t0) * np.sqrt(a), 0.0)


def sphere_blood_volume_operator(
    centres_um: np.ndarray, radius_um: float, start_um: np.ndarray, end_um: np.ndarray
) -> sp.csr_matrix:
    """Operator giving the blood volume fraction of each sphere from the vessel lumen *volumes*:
    entry (n, v) = ℓ(v ∩ sphere_n) / (L_v · V_sphere), so ``M @ volume_um3`` is dimensionless.
    (Built once from the geometry at the initial radii; the lengths do not change on dilation.)"""
    centres = np.asarray(centres_um, dtype=np.float64).reshape(-1, 3)
    start_um = np.asarray(start_um, dtype=np.float64)
    end_um = np.asarray(end_um, dtype=np.float64)
    length = np.maximum(np.linalg.norm(end_um - start_um, axis=1), 1e-12)
    mid = 0.5 * (start_um + end_um)
    reach = radius_um + 0.5 * length.max(initial=0.0)
    candidates = cKDTree(mid).query_ball_point(centres, r=reach)
    rows, cols, vals = [], [], []
    for n, segs in enumerate(candidates):  # one vectorised clip per region, not per vessel
        segs = np.asarray(segs, dtype=np.int64)
        if segs.size == 0:
            continue
        inside = length_inside_sphere_um(centres[n], radius_um, start_um[segs], end_um[segs])
        keep = inside > 0
        rows.append(np.full(int(keep.sum()), n))
        cols.append(segs[keep])
        vals.append(inside[keep] / length[segs[keep]])
    volume = 4.0 / 3.0 * np.pi * radius_um**3
    if not rows:
        return sp.csr_matrix((len(centres), len(start_um)))
    return sp.csr_matrix(
        (np.concatenate(vals) / volume, (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(centres), len(start_um)),
    )
