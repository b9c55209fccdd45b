"""The generated vasculature read by BlueBrain's vascpy (PyPI), a reader that keys diameters by
skeleton point: it must see the same radii, lengths and flows as our per-segment reader.

vascpy is installed in its own virtual environment (its pins differ from ours) under the pytest
cache; the test skips, naming the reason, when the package registry cannot be reached.
"""

from __future__ import annotations

import subprocess
import venv

import numpy as np
import pytest

from multiscale_run.bloodflow import BoundaryConditions, read_sonata_vasculature, solve_flow
from multiscale_run.circuit.vasculature import build_vasculature

BBOX = (np.array([-100.0, 0.0, 50.0]), np.array([200.0, 600.0, 250.0]))

READ_WITH_VASCPY = """
import json, sys
import numpy as np
from vascpy import PointVasculature
from vascpy.point_graph import features
v = PointVasculature.load_sonata(sys.argv[1])
np.savez(sys.argv[2], edges=v.edges, diameters=v.diameters, points=v.points,
         lengths=features.segment_lengths(v))
"""


@pytest.fixture(scope="module")
def vascpy_python(request):
    """The python of a virtual environment holding vascpy (created once, kept in the pytest cache)."""
    folder = request.config.cache.mkdir("vascpy-venv")
    python = folder / "bin" / "python"
    if python.exists() and subprocess.run([python, "-c", "import vascpy"], check=False).returncode == 0:
        return python
    venv.create(folder, with_pip=True, clear=True)
    result = subprocess.run(
        [python, "-m", "pip", "install", "-q", "vascpy"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.skip(f"cannot install vascpy from the package registry: {result.stderr.strip()[-300:]}")
    return python


@pytest.fixture(scope="module")
def read_by_both(tmp_path_factory, vascpy_python):
    directory = tmp_path_factory.mktemp("vasc")
    info = build_vasculature(directory, BBOX, seed=4)
    out = directory / "vascpy.npz"
    subprocess.run([vascpy_python, "-c", READ_WITH_VASCPY, info["nodes_file"], out], check=True)
    return info, read_sonata_vasculature(info["nodes_file"]), dict(np.load(out))


def test_vascpy_sees_our_segments_and_radii(read_by_both):
    _info, net, theirs = read_by_both
    np.testing.assert_array_equal(theirs["edges"][:, 0], net.start_node)
    np.testing.assert_array_equal(theirs["edges"][:, 1], net.end_node)
    # vascpy keeps one diameter per point: each segment's radius from its two points
    start_d, end_d = theirs["diameters"][theirs["edges"].T]
    np.testing.assert_allclose(0.25 * (start_d + end_d), net.radius_um, rtol=1e-6)
    np.testing.assert_allclose(theirs["points"][net.start_node], net.start_um, rtol=1e-6)
    np.testing.assert_allclose(theirs["lengths"], net.length_um, rtol=1e-5)


def test_vascpy_radii_carry_the_same_flow(read_by_both):
    info, net, theirs = read_by_both
    bc = BoundaryConditions(info["entry_nodes"], info["exit_nodes"], inlet_pressure_Pa=4000.0)
    start_d, end_d = theirs["diameters"][theirs["edges"].T]
    ours = solve_flow(net, bc, 1.2e-3)
    with_theirs = solve_flow(net, bc, 1.2e-3, radius_um=0.25 * (start_d + end_d))
    assert with_theirs.inflow_um3_s == pytest.approx(ours.inflow_um3_s, rel=1e-5)
