"""The pieces msr needs to run bmtk's ``bio_14cells`` as shipped, each against a source nobody
here wrote: bmtk's own spike files (h5 and CSV written by the same BioNet run), the IClamp
current a BioNet config asks for, bmtk's documented weight rule, and ``msr init``/``msr check``
on the shipped files (read in place)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from multiscale_run.circuit.spikes import read_spikes
from multiscale_run.cli import main
from multiscale_run.errors import UserError
from multiscale_run.mod_files import mod_files
from multiscale_run.simulators.neuron.synapse_models import edge_weights

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "circuits"
BMTK = DATA / "bmtk_bio_14cells"
pytestmark = pytest.mark.skipif(not BMTK.is_dir(), reason="the shared circuits are not installed")


def test_bmtk_spike_files_h5_and_csv_agree():
    """BioNet wrote spikes.h5 (string ``sorting``, which libsonata cannot read) and spikes.csv."""
    ref = BMTK / "reference" / "bionet_shipped"
    h5_ids, h5_t = read_spikes(ref / "spikes.h5", "v1", "h5")
    csv_ids, csv_t = read_spikes(ref / "spikes.csv", "v1", "csv")
    assert len(h5_ids) == 223  # the README's total
    a, b = np.lexsort((h5_t, h5_ids)), np.lexsort((csv_t, csv_ids))
    assert h5_ids[a].tolist() == csv_ids[b].tolist()
    np.testing.assert_allclose(h5_t[a], csv_t[b], atol=1e-3)
    lgn_ids, lgn_t = read_spikes(BMTK / "inputs" / "lgn_spikes.h5", "lgn")
    assert len(lgn_ids) == len(lgn_t) > 0 and lgn_ids.max() < 90
    with pytest.raises(UserError, match="no spikes of population 'tw'"):
        read_spikes(BMTK / "inputs" / "lgn_spikes.h5", "tw")


def test_gaussian_ll_weight_as_bmtk_documents_it():
    edges = {
        "syn_weight": np.array([2.0, 2.0, 1.0]),
        "weight_function": np.array(["gaussianLL", "gaussianLL", "wmax"], dtype=object),
        "weight_sigma": np.array([50.0, 50.0, None], dtype=object),
    }
    source = {"tuning_angle": np.array([10.0, 350.0, 0.0])}
    target = {"tuning_angle": np.array([40.0, 20.0, 0.0])}
    w = edge_weights(edges, lambda a, m: source[a][m], lambda a, m: target[a][m], "types.csv")
    # |10-40| = 30 deg; 350 vs 20 wraps to 30 deg; wmax keeps syn_weight
    np.testing.assert_allclose(w, [2 * np.exp(-((30 / 50) ** 2)), 2 * np.exp(-((30 / 50) ** 2)), 1.0])
    with pytest.raises(UserError, match="weight_function 'cubic' unsupported"):
        edges["weight_function"][2] = "cubic"
        edge_weights(edges, lambda a, m: source[a][m], lambda a, m: target[a][m], "types.csv")


def test_mod_folders_compiled_together_refuse_a_file_twice(tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "x.mod").write_text("NEURON { SUFFIX x }\n")
    with pytest.raises(UserError, match=r"x\.mod is both in"):
        mod_files([tmp_path / "a", tmp_path / "b"])


def _init(sim: Path, *args: str) -> dict:
    result = CliRunner().invoke(main, ["init", str(sim), *args])
    assert result.exit_code == 0, result.output
    return json.loads((sim / "simulation_config.json").read_text())


def test_init_from_a_bmtk_simulation_config_adopts_its_protocol(tmp_path):
    config = _init(
        tmp_path / "sim", "--circuit", str(BMTK / "reference" / "config.iclamp.json"), "--no-metabolism"
    )
    assert config["network"] == str((BMTK / "reference" / "config.circuit.noedges.json").resolve())
    neuron_dt = config["run"]["dt"] * config["multiscale_run"]["neuron"]["ndts"]
    assert neuron_dt == pytest.approx(0.1)
    assert config["run"]["tstop"] == 600.0 and config["run"]["spike_threshold"] == -15
    assert config["run"]["dL"] == 20.0 and config["conditions"] == {"celsius": 34.0, "v_init": -80}
    assert config["inputs"]["iclamp"]["amp"] == 0.25
    result = CliRunner().invoke(main, ["check", str(tmp_path / "sim")])
    assert result.exit_code == 0, result.output


def test_init_couples_allen_cells_to_metabolism_through_msr_homeostasis(tmp_path, caplog):
    """With metabolism on, ``msr init --circuit`` inserts msr's homeostasis into the Allen cells
    (they insert none) and keeps the atpi/nai couplings, which ``msr check`` then accepts."""
    sim = tmp_path / "sim"
    result = CliRunner().invoke(main, ["init", str(sim), "--circuit", str(BMTK / "config.circuit.json")])
    assert result.exit_code == 0, result.output
    config = json.loads((sim / "simulation_config.json").read_text())
    assert config["multiscale_run"]["neuron"]["homeostasis"] is True
    variables = {c["src_variable"] for c in config["multiscale_run"]["couplings"] if c["src"] == "neuron"}
    assert {"atpi", "nai"} <= variables
    assert "homeostasis" in caplog.text + result.output
    result = CliRunner().invoke(main, ["check", str(sim)])
    assert result.exit_code == 0, result.output


def test_check_names_the_coupling_the_cells_cannot_serve(tmp_path):
    sim = tmp_path / "sim"
    config = _init(sim)  # the default simulation couples atpi and nai to metabolism
    couplings = config["multiscale_run"]["couplings"]
    config["network"] = str(BMTK / "config.circuit.json")
    for key in ("node_set", "node_sets_file"):
        config.pop(key)
    config["inputs"] = {}
    (sim / "simulation_config.json").write_text(json.dumps(config))
    result = CliRunner().invoke(main, ["check", str(sim)])
    assert result.exit_code == 2
    i = next(i for i, c in enumerate(couplings) if c["src"] == "neuron" and c["src_variable"] == "atpi")
    line = next(x for x in result.output.splitlines() if f"couplings[{i}].src_variable" in x)
    assert "no mechanism of population v1 node 0 (ctdb:Biophys1.hoc)" in line and "atp ion" in line
    assert "multiscale_run.neuron.homeostasis: true" in line


def test_check_finds_an_unknown_template_and_an_unsupported_input(tmp_path):
    net = tmp_path / "network"
    shutil.copytree(BMTK / "network", net)
    csv = net / "v1_node_types.csv"
    csv.write_text(
        csv.read_text().replace("nrn:IntFire1", "nrn:IntFire9", 1).replace("ctdb:Biophys1.hoc", "xyz:C", 1)
    )
    circuit = json.loads((BMTK / "config.circuit.json").read_text())
    circuit["manifest"] = {"$NETWORK_DIR": str(net), "$COMPONENT_DIR": str(DATA / "bio_components")}
    (tmp_path / "circuit.json").write_text(json.dumps(circuit))
    sim = tmp_path / "sim"
    config = _init(sim, "--circuit", str(tmp_path / "circuit.json"), "--no-metabolism")
    config["inputs"] = {
        "wave": {
            "input_type": "extracellular_stimulation",
            "module": "spatially_uniform_e_field",
            "node_set": "v1",
        }
    }
    (sim / "simulation_config.json").write_text(json.dumps(config))
    result = CliRunner().invoke(main, ["check", str(sim)])
    assert result.exit_code == 2
    assert (
        "population v1 node 0: unsupported model_type/model_template 'biophysical'/'xyz:C'" in result.output
    )
    assert "IntFire9" in result.output and "population v1 node 10" in result.output
    assert (
        "inputs.wave" in result.output
        and "('extracellular_stimulation', 'spatially_uniform_e_field')" in result.output
    )


@pytest.mark.parametrize(
    ("node", "words"),
    [(11, "node 11: a point_neuron node has no compartments"),
     (20, "node 20: not a node of the population (it has 14)")],
)  # fmt: skip
def test_check_refuses_compartments_of_a_point_neuron_or_of_no_node(tmp_path, node, words):
    """bio_14cells' nodes 10-13 are IntFire1 point neurons: a compartment set cannot name them."""
    sim = tmp_path / "sim"
    args = ["init", str(sim), "--circuit", str(BMTK / "config.circuit.json"), "--no-metabolism"]
    assert CliRunner().invoke(main, args).exit_code == 0
    sets = tmp_path / "compartment_sets.json"
    sets.write_text(
        json.dumps({"spots": {"population": "v1", "compartment_set": [[0, 0, 0.5], [node, 0, 0.5]]}})
    )
    config = json.loads((sim / "simulation_config.json").read_text())
    config["compartment_sets_file"] = str(sets)
    config["conditions"]["modifications"] = [
        {"name": "m", "type": "compartment_set", "compartment_set": "spots", "section_configure": "cm = 2"}
    ]
    (sim / "simulation_config.json").write_text(json.dumps(config))
    result = CliRunner().invoke(main, ["check", str(sim)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    where = f"{sim / 'simulation_config.json'}: conditions.modifications[0].compartment_set: "
    assert any(where in line and words in line for line in result.output.splitlines()), result.output
