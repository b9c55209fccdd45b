"""``msr init --bloodflow`` switches the neurovascular coupling on and generates its NGV fragment:
astrocytes around the neurons, each endfoot on one of the vessel segments nearest its astrocyte
and on that segment's wall, read back by the NGV reader and accepted by ``msr check``."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from multiscale_run.bloodflow import read_sonata_vasculature
from multiscale_run.circuit.ngv import read_astrocytes, read_endfeet
from multiscale_run.cli import main


def _init(sim, *flags):
    result = CliRunner().invoke(main, ["init", str(sim), "--neurons", "4", "--tstop", "10", *flags])
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads((sim / "simulation_config.json").read_text())["multiscale_run"]


def test_bloodflow_brings_the_loop_and_a_plausible_ngv_fragment(tmp_path):
    msr = _init(tmp_path / "sim", "--bloodflow")
    assert msr["nvc"]["enabled"]
    into_bloodflow = [c for c in msr["couplings"] if c["dest"] == "bloodflow"]
    assert [(c["src"], c["src_variable"], c["operator"]) for c in into_bloodflow] == [
        ("nvc", "radius", "endfoot_to_vessel")
    ]
    assert any(c["src"] == "neuron" and c["dest"] == "nvc" for c in msr["couplings"])
    circuit = tmp_path / "sim" / "circuit" / "circuit_config.json"
    astro, feet = read_astrocytes(circuit), read_endfeet(circuit)
    net = read_sonata_vasculature(tmp_path / "sim" / "circuit" / "vasculature.h5")
    assert len(astro.node_ids) >= 4 and set(feet.astrocyte.tolist()) == set(astro.node_ids.tolist())
    assert np.all(np.bincount(feet.astrocyte) <= 3)
    # each endfoot sits on one of the 3 segments whose axes pass closest to its astrocyte, on the wall
    d = net.end_um - net.start_um
    for i in range(len(feet.vessel_segment)):
        soma = astro.position_um[feet.astrocyte[i]]
        s = np.clip(np.einsum("ij,ij->i", soma - net.start_um, d) / np.einsum("ij,ij->i", d, d), 0, 1)
        axis_distance = np.linalg.norm(net.start_um + s[:, None] * d - soma, axis=1)
        # (segments meeting at the nearest node tie: compare distances, not ranks)
        assert axis_distance[feet.vessel_segment[i]] <= np.sort(axis_distance)[2] + 1e-3
        seg = feet.vessel_segment[i]
        t = np.clip(np.dot(feet.surface_um[i] - net.start_um[seg], d[seg]) / np.dot(d[seg], d[seg]), 0, 1)
        wall = np.linalg.norm(feet.surface_um[i] - (net.start_um[seg] + t * d[seg]))
        assert abs(wall - net.radius_um[seg]) < 1e-3 * net.radius_um[seg] + 1e-4
    assert CliRunner().invoke(main, ["check", str(tmp_path / "sim")]).exit_code == 0


def test_nvc_is_off_without_bloodflow_when_asked_and_for_a_circuit_without_endfeet(tmp_path):
    assert not _init(tmp_path / "plain")["nvc"]["enabled"]
    assert not (tmp_path / "plain" / "circuit" / "astrocytes.h5").exists()
    assert not _init(tmp_path / "off", "--bloodflow", "--no-nvc")["nvc"]["enabled"]
    circuit = tmp_path / "plain" / "circuit" / "circuit_config.json"
    msr = _init(tmp_path / "foreign", "--circuit", str(circuit), "--bloodflow")
    assert msr["bloodflow"]["enabled"] and not msr["nvc"]["enabled"]
