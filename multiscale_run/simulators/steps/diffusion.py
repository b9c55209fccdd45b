"""Deterministic extracellular diffusion: implicit-Euler finite volumes on the STEPS mesh.

The same two-point fluxes STEPS uses; needs no STEPS and runs identically on every rank.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from multiscale_run import mesh as ecs_mesh
from multiscale_run.simulators.steps.settings import SpeciesSettings, StepsSettings
from multiscale_run.simulators.steps.units import molecules_from_mM
from multiscale_run.spaces import TetGeometry

_CG_RTOL = 1e-12


class FiniteVolumeDiffusion:
    """Deterministic diffusion of molecule counts on a tet mesh (implicit Euler, mass-conserving).

    Cell-centred finite volumes with two-point fluxes between face neighbours, as STEPS does for
    its diffusion rates (Hepburn et al. 2012, BMC Syst Biol 6:36): flux from i to j =
    D·A_ij/d_ij·(c_i − c_j), with A_ij the shared face area and d_ij the barycentre separation
    projected on the face normal (see :class:`multiscale_run.mesh.FaceAdjacency` for why not the
    full distance STEPS uses); the mesh boundary is reflecting (no flux). With
    L = Σ_faces w_ij (e_i − e_j)(e_i − e_j)ᵀ, w = A/d, one step of length h solves
    (V + h·D·L) c⁺ = V c. Since 1ᵀL = 0 the total amount 1ᵀVc is conserved exactly (up to the
    solve's round-off), and V + hDL is an M-matrix, so amounts never turn negative.
    """

    def __init__(self, geometry: TetGeometry, species: tuple[SpeciesSettings, ...], substep_ms: float):
        self.volume_um3 = geometry.volume_um3
        self.substep_ms = float(substep_ms)
        adjacency = ecs_mesh.face_adjacency(geometry)
        n = len(geometry.tets)
        w = adjacency.coupling_um
        off = sp.coo_matrix((-w, (adjacency.a, adjacency.b)), shape=(n, n))
        laplacian = (off + off.T).tocsr()
        laplacian = laplacian - sp.diags(np.asarray(laplacian.sum(axis=1)).ravel())
        self._laplacian = laplacian
        self._species_D = {s.name: s.diffusion_um2_per_ms for s in species}
        self._systems: dict[float, tuple[sp.csr_matrix, np.ndarray]] = {}
        for D in set(self._species_D.values()):
            if D > 0:
                system = (sp.diags(self.volume_um3) + self.substep_ms * D * laplacian).tocsr()
                self._systems[D] = (system, 1.0 / system.diagonal())

    def step(self, counts: np.ndarray, species: str) -> np.ndarray:
        """Counts after one substep.

        The SPD system is solved by Jacobi-preconditioned conjugate gradients (a direct LU of a
        3-D mesh fills in badly: minutes and GBs for 10⁵ tets). The solve's residual is then
        projected out of the total amount (a relative rescale of order ``_CG_RTOL``), so mass is
        conserved to round-off whatever the tolerance.
        """
        D = self._species_D[species]
        if D == 0:
            return counts
        system, inv_diagonal = self._systems[D]
        rhs = np.asarray(counts, dtype=float)
        conc = _jacobi_cg(system, rhs, rhs / self.volume_um3, inv_diagonal, _CG_RTOL)
        new = conc * self.volume_um3
        total, new_total = rhs.sum(), new.sum()
        return new * (total / new_total) if new_total > 0 else new


def _jacobi_cg(
    A: sp.csr_matrix, b: np.ndarray, x: np.ndarray, inv_diagonal: np.ndarray, rtol: float
) -> np.ndarray:
    """Solve the SPD system A x = b by conjugate gradients with a Jacobi preconditioner.

    Inner products are written as ``(u * v).sum()`` on purpose: BLAS ``dot`` spawns threads,
    which on a busy machine under MPI is 100× slower for vectors of this size, and the
    pairwise sum is deterministic, so every rank gets bitwise the same answer.
    """
    x = np.array(x, dtype=float)
    r = b - A @ x
    z = inv_diagonal * r
    p = z.copy()
    rz = (r * z).sum()
    limit = (rtol * np.sqrt((b * b).sum())) ** 2
    for _ in range(10 * len(b) + 100):
        if (r * r).sum() <= limit:
            return x
        Ap = A @ p
        alpha = rz / (p * Ap).sum()
        x += alpha * p
        r -= alpha * Ap
        z = inv_diagonal * r
        rz, rz_old = (r * z).sum(), rz
        p = z + (rz / rz_old) * p
    raise RuntimeError("finite-volume diffusion: conjugate gradients did not converge")


class _DeterministicBackend:
    """Counts held as floats and advanced by :class:`FiniteVolumeDiffusion` on every rank."""

    def __init__(self, geometry: TetGeometry, settings: StepsSettings):
        self._substeps = settings.substeps
        self._fv = FiniteVolumeDiffusion(geometry, settings.species, settings.dt_ms / settings.substeps)
        self._counts = {
            s.name: molecules_from_mM(np.full(len(geometry.tets), s.conc_0_mM), geometry.volume_um3)
            for s in settings.species
        }
        self._t_ms = 0.0

    def run(self, t_ms: float) -> None:
        n_sub = round((t_ms - self._t_ms) / self._fv.substep_ms)
        for name, counts in self._counts.items():
            for _ in range(n_sub):
                counts = self._fv.step(counts, name)
            self._counts[name] = counts
        self._t_ms += n_sub * self._fv.substep_ms

    def get_counts(self, species: str) -> np.ndarray:
        return self._counts[species].copy()

    def set_counts(self, species: str, counts: np.ndarray) -> None:
        self._counts[species] = np.array(counts, dtype=float)

    def save_state(self) -> dict[str, np.ndarray]:
        return {"t_ms": np.float64(self._t_ms)} | {f"counts/{k}": v.copy() for k, v in self._counts.items()}

    def restore_state(self, state: dict[str, np.ndarray], step: int) -> None:
        self._t_ms = float(state["t_ms"])
        for name in self._counts:
            self._counts[name] = state[f"counts/{name}"].copy()
