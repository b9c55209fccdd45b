"""StepsSim with the deterministic finite-volume solver: analytic diffusion, conservation, coupling."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale_run import mesh
from multiscale_run.config import Config, ConfigError
from multiscale_run.coupling.conversions import transform
from multiscale_run.parallel import Parallel
from multiscale_run.simulators.steps import SpeciesSettings, StepsSettings, StepsSim
from multiscale_run.simulators.steps.diffusion import FiniteVolumeDiffusion
from multiscale_run.simulators.steps.units import mM_from_molecules, molecules_from_mM
from multiscale_run.spaces import SegmentGeometry, Space

FARADAY_C_PER_MOL = 96485.33212  # CODATA 2018
AVOGADRO = 6.02214076e23
TO_IONS = transform("monovalent_current_nA_to_ions")


@pytest.fixture(scope="module")
def octant(tmp_path_factory):
    """A 26 µm cube with a corner at the origin (the release point), tets of ~1.6 µm."""
    path = tmp_path_factory.mktemp("octant") / "octant.msh"
    section = {"mesh_generation": {"margin_um": 0.0, "characteristic_length_um": 1.6}}
    return mesh.read_mesh(mesh.generate_mesh(path, np.zeros(3), np.full(3, 26.0), section))


@pytest.fixture(scope="module")
def small_box(tmp_path_factory):
    path = tmp_path_factory.mktemp("small") / "small.msh"
    section = {"mesh_generation": {"margin_um": 0.0, "characteristic_length_um": 6.0}}
    return mesh.read_mesh(mesh.generate_mesh(path, np.zeros(3), np.array([30.0, 50.0, 20.0]), section))


def test_unit_conversions_against_faraday_and_avogadro():
    # 1 mM in 1 µm³ = 1e-3 mol/L · 1e-15 L · N_A
    assert molecules_from_mM(1.0, 1.0) == pytest.approx(602214.076)
    assert mM_from_molecules(molecules_from_mM(3.7, 250.0), 250.0) == pytest.approx(3.7, rel=1e-14)


def test_point_release_matches_the_analytic_solution(octant):
    """A point release at a corner of a box with reflecting walls: c = 8·N/(4πDt)^{3/2}·exp(−r²/4Dt).

    (The three walls through the corner mirror the free-space solution into the octant; the far
    walls are 4σ away.) Implicit Euler with 0.1 ms steps up to 10 ms, D = 2e-9 m²/s.
    """
    species = SpeciesSettings("X", diffusion_m2_per_s=2e-9, conc_0_mM=0.0)
    fv = FiniteVolumeDiffusion(octant, (species,), substep_ms=0.1)
    centres = mesh.tet_barycentres_um(octant)
    released = 1e6
    counts = np.zeros(len(octant.tets))
    counts[np.argmin(np.linalg.norm(centres, axis=1))] = released
    for _ in range(100):
        counts = fv.step(counts, "X")
    assert abs(counts.sum() - released) / released < 1e-9
    assert counts.min() >= 0
    D, t = species.diffusion_um2_per_ms, 10.0
    exact = 8 * released / (4 * np.pi * D * t) ** 1.5 * np.exp(-(centres**2).sum(axis=1) / (4 * D * t))
    numeric = counts / octant.volume_um3
    V = octant.volume_um3
    l2 = np.sqrt((V * (numeric - exact) ** 2).sum() / (V * exact**2).sum())
    assert l2 < 0.05


def test_uniform_concentration_is_a_steady_state(small_box):
    species = SpeciesSettings("K", 2e-9, 3.0)
    fv = FiniteVolumeDiffusion(small_box, (species,), substep_ms=1.0)
    counts = molecules_from_mM(np.full(len(small_box.tets), 3.0), small_box.volume_um3)
    after = fv.step(counts, "K")
    np.testing.assert_allclose(mM_from_molecules(after, small_box.volume_um3), 3.0, rtol=1e-10)


def settings(**kw) -> StepsSettings:
    base = dict(
        dt_ms=1.0,
        species=(SpeciesSettings("K", 2e-9, 3.0), SpeciesSettings("Na", 1.33e-9, 140.0)),
        solver="deterministic",
    )
    return StepsSettings(**{**base, **kw})


def test_summed_current_adds_exactly_its_time_integral(small_box):
    """Adding a known K+ current into tets each step: the K+ in the mesh grows by ∫ I dt / e."""
    sim = StepsSim.from_settings(settings(), small_box, Parallel())
    n = len(small_box.tets)
    rng = np.random.default_rng(0)
    current_nA = rng.uniform(0.0, 0.05, n) * (rng.random(n) < 0.1)  # a few active tets
    before = sim.get("K_count").sum()
    n_steps = 20
    for k in range(1, n_steps + 1):
        sim.advance(k * sim.dt_ms)
        sim.set("K_count", sim.get("K_count") + TO_IONS(vals=current_nA, dt_ms=sim.dt_ms))
    expected = current_nA.sum() * n_steps * sim.dt_ms * 1e-12 / FARADAY_C_PER_MOL * AVOGADRO
    assert (sim.get("K_count").sum() - before) == pytest.approx(expected, rel=1e-6)
    # the added K+ has spread: the concentration is highest where the current entered
    conc = sim.get("K_conc")
    assert conc[current_nA > 0].mean() > conc[current_nA == 0].mean() > 3.0


def test_negative_values_are_clamped_and_reported(small_box):
    sim = StepsSim.from_settings(settings(), small_box, Parallel())
    values = sim.get("Na_conc")
    values[:3] = -1.0
    sim.set("Na_conc", values)
    assert sim.get("Na_conc").min() == 0.0
    report = sim.clamp_report()
    assert report.events == {"Na_conc": 3}
    assert report.molecules["Na_conc"] == pytest.approx(
        molecules_from_mM(1.0, small_box.volume_um3[:3]).sum()
    )


def test_add_accepts_concentrations(small_box):
    sim = StepsSim.from_settings(settings(), small_box, Parallel())
    sim.add("K_conc", np.full(len(small_box.tets), 0.5))
    np.testing.assert_allclose(sim.get("K_conc"), 3.5, rtol=1e-12)


def test_variables_and_errors(small_box):
    sim = StepsSim.from_settings(settings(), small_box, Parallel())
    variables = sim.variables()
    assert {"K_conc", "K_count", "Na_conc", "Na_count", "volume"} <= set(variables)
    assert all(v.space is Space.TET for v in variables.values())
    assert variables["K_conc"].unit == "mM"
    np.testing.assert_array_equal(sim.get("volume"), small_box.volume_um3)
    np.testing.assert_allclose(sim.get("K_conc"), 3.0, rtol=1e-12)
    with pytest.raises(KeyError, match="Ca_conc"):
        sim.get("Ca_conc")
    with pytest.raises(ValueError, match="expected"):
        sim.set("K_conc", np.zeros(3))
    with pytest.raises(ValueError, match="read-only"):
        sim.set("volume", small_box.volume_um3)
    assert sim.tet_geometry() is small_box


def _config(tmp_path, steps_section: dict) -> Config:
    data = {
        "run": {"tstop": 10.0, "dt": 0.025, "random_seed": 7},
        "network": "circuit_config.json",
        "multiscale_run": {"steps": steps_section},
    }
    return Config.from_dict(data, tmp_path / "simulation_config.json")


def test_adapter_from_config_generates_the_mesh_around_the_segments(tmp_path):
    config = _config(
        tmp_path,
        {
            "solver": "deterministic",
            "mesh_generation": {"margin_um": 10.0, "characteristic_length_um": 15.0},
            "species": {"K": {"diffusion_m2_per_s": 2e-9, "conc_0_mM": 3.0}},
        },
    )
    segments = SegmentGeometry(
        start_um=np.array([[0.0, 0.0, 0.0], [0.0, 100.0, 0.0]]),
        end_um=np.array([[0.0, 100.0, 0.0], [20.0, 150.0, 30.0]]),
        area_um2=np.ones(2),
        volume_um3=np.ones(2),
        neuron_index=np.zeros(2, dtype=int),
        gids=np.array([0]),
    )
    sim = StepsSim(config, Parallel(), segment_geometry=segments)
    assert (tmp_path / "mesh" / "extracellular.msh").is_file()
    geometry = sim.tet_geometry()
    np.testing.assert_allclose(geometry.vertices_um.min(axis=0), [-10.0, -10.0, -10.0])
    np.testing.assert_allclose(geometry.vertices_um.max(axis=0), [30.0, 160.0, 40.0])
    assert mesh.count_segments_outside(segments.start_um, segments.end_um, geometry) == 0
    assert sim.dt_ms == pytest.approx(40 * 0.025)
    assert sim.settings.seed == 7  # run.random_seed when the section has none
    assert set(sim.variables()) == {"K_conc", "K_count", "volume"}


def test_schema_defaults_and_errors(tmp_path):
    section = _config(tmp_path, {}).simulator("steps")
    assert section["solver"] == "TetOpSplit" and section["ndts"] == 40
    assert section["species"]["K"]["conc_0_mM"] == 3.0
    assert section["mesh_file"] == str(tmp_path / "mesh" / "extracellular.msh")
    with pytest.raises(ConfigError, match="solver"):
        _config(tmp_path, {"solver": "ODE"})
    with pytest.raises(ConfigError, match="mesh_size"):
        _config(tmp_path, {"mesh_size": 3})
    with pytest.raises(ConfigError, match="diffusion_m2_per_s"):
        _config(tmp_path, {"species": {"K": {"conc_0_mM": 3.0}}})
