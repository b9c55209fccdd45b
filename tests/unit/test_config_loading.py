"""Loading a config: substitution, path resolution, schema defaults, the generated reference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multiscale_run.config import Config, ConfigError, load
from multiscale_run.config.reference import render

REPO = Path(__file__).resolve().parents[2]


def minimal(**extra) -> dict:
    return {
        "run": {"tstop": 100.0, "dt": 0.025},
        "network": "circuit/circuit_config.json",
        "multiscale_run": {"metabolism": {"enabled": True}},
        **extra,
    }


def test_paths_are_resolved_relative_to_the_config_file(tmp_path):
    config = Config.from_dict(minimal(), tmp_path / "sim" / "simulation_config.json")
    assert config.circuit_config == tmp_path / "sim" / "circuit" / "circuit_config.json"
    assert config.output_dir == tmp_path / "sim" / "output"
    assert config.cache_dir == tmp_path / "sim" / "cache"
    assert config.spikes_file == tmp_path / "sim" / "output" / "spikes.h5"


def test_substitution_from_manifest_and_config_dir(tmp_path):
    data = minimal(manifest={"CIRCUIT": "/data/circuits/v1"})
    data["network"] = "${CIRCUIT}/circuit_config.json"
    data["output"] = {"output_dir": "${config_dir}/results"}
    config = Config.from_dict(data, tmp_path / "simulation_config.json")
    assert config.circuit_config == Path("/data/circuits/v1/circuit_config.json")
    assert config.output_dir == tmp_path / "results"


def test_schema_defaults_are_filled_in(tmp_path):
    config = Config.from_dict(minimal(), tmp_path / "simulation_config.json")
    assert config.run.random_seed == 1
    assert config.msr["order"] == ["neuron", "steps", "nvc", "bloodflow", "metabolism"]
    assert config.simulators == ["metabolism"]
    assert config.simulator("metabolism")["ndts"] >= 1
    assert config.enabled("neuron") is False


def test_config_is_not_changed_through_accessors(tmp_path):
    config = Config.from_dict(minimal(), tmp_path / "simulation_config.json")
    config.simulator("metabolism")["enabled"] = False
    config.msr["couplings"].append({})
    assert config.enabled("metabolism") and config.couplings == []


def test_every_schema_key_has_a_description():
    from multiscale_run.config.schema import _resolve, root_schema

    root = root_schema()
    missing = []

    def walk(schema, path):
        schema = _resolve(schema, root)
        for key, sub in schema.get("properties", {}).items():
            sub = _resolve(sub, root)
            if not sub.get("description"):
                missing.append(f"{path}.{key}")
            walk(sub, f"{path}.{key}")
            if isinstance(sub.get("items"), dict):
                walk(sub["items"], f"{path}.{key}[]")

    walk(root, "")
    assert not missing, missing


def test_config_reference_is_generated_from_the_schema():
    committed = (REPO / "docs" / "config-reference.md").read_text()
    assert committed == render(), "run: python -m multiscale_run.config.reference > docs/config-reference.md"


def test_load_reports_a_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load(tmp_path / "nope")


def test_load_reads_a_folder(tmp_path):
    (tmp_path / "simulation_config.json").write_text(json.dumps(minimal()))
    assert load(tmp_path).path == tmp_path / "simulation_config.json"
