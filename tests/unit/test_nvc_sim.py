"""NvcSim and its operators on the hand-made NGV fragment of test_ngv_reader (written with h5py
from the SONATA NGV spec, judged by libsonata): endfeet mapped to the vessel segments they
target, K+ near each endfoot taken from the tet holding its wall point (located independently by
:func:`multiscale_run.mesh.locate_points`), and a dilation that raises flow in the vessels of the
stimulated astrocyte more than elsewhere, through the real blood-flow simulator."""

from __future__ import annotations

import numpy as np
import pytest
from test_ngv_reader import BBOX, ENDFEET_PER_ASTROCYTE, N_ASTROCYTES, write_fragment

from multiscale_run import mesh
from multiscale_run.config import Config
from multiscale_run.coupling.geometry import Geometry, structured_box_mesh
from multiscale_run.coupling.manager import ConnectionManager, Coupling
from multiscale_run.coupling.operators import build_operator
from multiscale_run.errors import UserError
from multiscale_run.parallel import Parallel
from multiscale_run.simulators.bloodflow import BloodflowSim
from multiscale_run.simulators.nvc import NvcSim
from multiscale_run.spaces import SegmentGeometry, Space


@pytest.fixture(scope="module")
def fragment(tmp_path_factory):
    directory = tmp_path_factory.mktemp("ngv")
    _, net, soma, targets, surface = write_fragment(directory)
    return directory, net, soma, targets, surface


def make_config(directory, **nvc) -> Config:
    data = {
        "run": {"tstop": 1000.0, "dt": 0.025},
        "network": "circuit_config.json",
        "multiscale_run": {
            "nvc": {"enabled": True, "ndts": 40, **nvc},
            "bloodflow": {"enabled": True, "solver": "scipy"},
        },
    }
    return Config.from_dict(data, directory / "simulation_config.json")


def test_endfeet_sit_on_their_vessels(fragment):
    directory, net, soma, targets, _ = fragment
    sim = NvcSim(make_config(directory), Parallel())
    feet = sim.endfoot_geometry()
    np.testing.assert_array_equal(feet.vessel_segment, targets)
    np.testing.assert_allclose(feet.astrocyte_um, np.repeat(soma, ENDFEET_PER_ASTROCYTE, axis=0), rtol=1e-6)
    np.testing.assert_allclose(sim.get("resting_radius"), net.radius_um[targets])
    assert sim.variables()["radius"].space is Space.ENDFOOT
    # at rest every endfoot leaves its vessel's radius as it is
    np.testing.assert_allclose(sim.get("radius"), net.radius_um[targets], rtol=1e-15)

    to_vessel = build_operator("endfoot_to_vessel", Geometry(endfeet=feet))
    assert to_vessel.shape == (net.n_segments, targets.size)
    per_foot = np.arange(1.0, targets.size + 1)
    mapped = to_vessel @ per_foot
    for segment in range(net.n_segments):
        mine = per_foot[targets == segment]
        if mine.size:
            assert mapped[segment] == pytest.approx(mine.mean())
        else:
            assert to_vessel[segment].nnz == 0  # no endfoot: the vessel keeps its own radius


def test_k_near_each_endfoot_comes_from_the_tet_holding_its_wall_point(fragment):
    directory = fragment[0]
    feet = NvcSim(make_config(directory), Parallel()).endfoot_geometry()
    vertices, tets = structured_box_mesh((8, 12, 8), 25.0, origin_um=tuple(BBOX[0]))
    tet_geometry = mesh.tet_geometry(vertices, tets)
    op = build_operator("tet_to_endfoot", Geometry(tets=tet_geometry, endfeet=feet))
    located = mesh.locate_points(feet.surface_um, tet_geometry)
    assert np.all(located >= 0)
    values = np.random.default_rng(3).uniform(2.0, 8.0, len(tets))
    np.testing.assert_allclose(op @ values, values[located], rtol=1e-12)


def test_segments_in_an_astrocyte_territory_feed_its_endfeet(fragment):
    directory, _, soma, *_ = fragment
    sim = NvcSim(make_config(directory, territory_radius_um=20.0), Parallel())
    feet = sim.endfoot_geometry()
    # one 2-µm segment 10 µm from astrocyte 0, one far from every astrocyte
    start = np.array([soma[0] + [10.0, 0, 0], [1e4, 1e4, 1e4]])
    segments = SegmentGeometry(
        start_um=start,
        end_um=start + np.array([0.0, 2.0, 0.0]),
        area_um2=np.ones(2),
        volume_um3=np.ones(2),
        neuron_index=np.zeros(2, dtype=int),
        gids=np.array([0]),
    )
    op = build_operator("segment_to_endfoot", Geometry(segments=segments, endfeet=feet)).toarray()
    others = np.linalg.norm(soma[1:] - start[0], axis=1) > 20.0
    expected = np.zeros((N_ASTROCYTES * ENDFEET_PER_ASTROCYTE, 2))
    expected[:ENDFEET_PER_ASTROCYTE, 0] = 1.0
    for a in np.flatnonzero(~others) + 1:  # another astrocyte close enough shares the segment
        expected[a * ENDFEET_PER_ASTROCYTE : (a + 1) * ENDFEET_PER_ASTROCYTE, 0] = 1.0
    np.testing.assert_array_equal(op, expected)


def band_changes(net, rest, new, centre_um, bands_um):
    """Per distance band from ``centre_um`` (vessel midpoints): the change of the summed |flow|
    and the mean |relative change| of the vessels that carry flow at rest."""
    distance = np.linalg.norm(0.5 * (net.start_um + net.end_um) - centre_um, axis=1)
    carrying = rest > 1e-9 * rest.max()
    out = []
    for lo, hi in bands_um:
        sel = carrying & (distance >= lo) & (distance < hi)
        out.append((new[sel].sum() / rest[sel].sum() - 1, np.mean(np.abs(new[sel] / rest[sel] - 1))))
    return out


@pytest.mark.parametrize("astrocyte", range(N_ASTROCYTES))
def test_activity_of_one_astrocyte_raises_flow_near_it_more_than_far(fragment, astrocyte):
    directory, net, soma, targets, _ = fragment
    config = make_config(directory)
    parallel = Parallel()
    nvc, flow = NvcSim(config, parallel), BloodflowSim(config, parallel)
    feet = Geometry(endfeet=nvc.endfoot_geometry())
    operators = {"endfoot_to_vessel": build_operator("endfoot_to_vessel", feet)}
    radius = Coupling("r", "nvc", "bloodflow", "radius", "radius", "endfoot_to_vessel", "set")
    manager = ConnectionManager([radius], {"nvc": nvc, "bloodflow": flow}, operators, parallel)
    rest = flow.get("abs_flow")
    mine = slice(astrocyte * ENDFEET_PER_ASTROCYTE, (astrocyte + 1) * ENDFEET_PER_ASTROCYTE)
    activity = np.zeros(targets.size)
    activity[mine] = 1.0
    nvc.set("activity", activity)
    nvc.advance(2000.0)  # 2 s of activity
    manager.run(manager.due("bloodflow", 0)[0], flow.dt_ms)
    flow.advance(2000.0)
    r = flow.get("radius")
    untouched = np.setdiff1d(np.arange(net.n_segments), targets[mine])
    np.testing.assert_array_equal(r[untouched], net.radius_um[untouched])
    np.testing.assert_allclose(r[targets[mine]], net.radius_um[targets[mine]] * nvc.get("flow")[mine] ** 0.25)
    (near_total, near_mean), (_, far_mean) = band_changes(
        net, rest, flow.get("abs_flow"), soma[astrocyte], [(0.0, 50.0), (100.0, np.inf)]
    )
    # the dilated segments draw flow from their neighbours (some lose), but the vessels within
    # 50 µm carry more in total, and change more than those beyond 100 µm
    assert near_total > 0.003
    assert near_mean > 1.5 * far_mean


def test_a_circuit_without_endfeet_is_an_error_naming_it(tmp_path):
    from multiscale_run.circuit.vasculature import build_vasculature

    build_vasculature(tmp_path, BBOX, seed=2)
    with pytest.raises(UserError, match="endfoot") as err:
        NvcSim(make_config(tmp_path), Parallel())
    assert "circuit_config.json" in str(err.value)


def test_an_inflow_driven_to_zero_is_an_error_not_a_radius(fragment):
    sim = NvcSim(make_config(fragment[0]), Parallel())
    flow = sim.get("flow")
    flow[3] = -0.2
    sim.set("flow", flow)
    with pytest.raises(RuntimeError, match="inflow of 1 endfeet fell to <= 0 \\(endfoot 3"):
        sim.get("radius")
