"""The sweep file: a bad one fails before any run with one line per problem naming the key; dotted
paths, grid and random designs, and resuming a folder made by another sweep."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from multiscale_run.cli import main
from multiscale_run.config import load
from multiscale_run.sweep import paths, space
from multiscale_run.sweep.spec import Method, Parameter, load_sweep
from multiscale_run.validation import semantic_problems

ATP = "multiscale_run.metabolism.parameters.vATPasesn"


def sweep_file(tmp_path, base, **overrides):
    spec = {
        "base": str(base),
        "parameters": {ATP: {"values": [0.1, 0.2]}, "inputs.thalamic_poisson.delay": {"values": [10.0]}},
        "metrics": {"atp": {"kind": "mean", "report": "ATP_n"}},
        **overrides,
    }
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(spec))
    return path


def test_bad_sweep_file_fails_before_any_run(tmp_path, default_template):
    path = sweep_file(
        tmp_path,
        default_template,
        parameters={
            "inputs.thalamic_poisson.dealy": {"values": [10.0]},  # unknown dotted path
            "multiscale_run.neuron.ndts": {"values": [4, 0]},  # the schema wants ndts >= 1
            "multiscale_run.metabolism.parameters.vATPasesN": {"values": [0.1]},  # no such J15 parameter
        },
        metrics={"atp": {"kind": "median", "report": "ATP_n"}, "na": {"kind": "max", "report": "Na"}},
    )
    result = CliRunner().invoke(main, ["sweep", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert all(line.startswith(f"msr: error: {path}: ") for line in lines), lines
    keys = sorted(line.split(": ")[3] for line in lines)
    assert keys == [
        "metrics.atp.kind",
        "metrics.na.report",
        "parameters.inputs.thalamic_poisson.dealy",
        "parameters.multiscale_run.metabolism.parameters.vATPasesN",
        "parameters.multiscale_run.neuron.ndts",
    ]
    text = result.output
    assert 'unknown metric "median"' in text and "has no key 'dealy'" in text
    assert "value 0 is rejected: 0 is less than the minimum of 1" in text
    assert "unknown J15 parameter 'vATPasesN'" in text
    assert "Traceback" not in text
    assert not (tmp_path / "sweep").exists()  # nothing was made, let alone run


def test_structure_problems_name_their_keys(tmp_path, default_template):
    path = sweep_file(
        tmp_path,
        default_template,
        parameters={
            ATP: {"low": 0.2, "high": 0.1},
            "run.tstop": {"low": 100.0, "high": 200.0},
            "conditions.celsius": {"values": [34.0, 35.0], "num": 3},
            "multiscale_run.neuron.ndts": {"low": 1, "high": 2, "num": 3, "integer": True},
        },
        method={"name": "grid", "trials": 3},
        executor={"name": "local", "workers": 0},
    )
    result = CliRunner().invoke(main, ["sweep", "--check-only", str(path)])
    assert result.exit_code == 2
    assert f"{path}: parameters.{ATP}.high: high 0.1 is below low 0.2" in result.output
    assert (
        f"{path}: parameters.run.tstop.num: a grid needs the number of points of an interval" in result.output
    )
    assert f"{path}: parameters.conditions.celsius.num: does not apply to a list of values" in result.output
    assert f"{path}: method.trials: unknown key (one of: name)" in result.output
    assert (
        f"{path}: parameters.multiscale_run.neuron.ndts.num: 3 integers from 1 to 2 would repeat"
        in result.output
    )
    assert f"{path}: executor.workers: invalid value 0 (an integer >= 1)" in result.output


def test_check_only_accepts_a_good_sweep_and_yaml_reads_the_same(tmp_path, default_template):
    path = sweep_file(tmp_path, default_template)
    result = CliRunner().invoke(main, ["sweep", "--check-only", str(path)])
    assert result.exit_code == 0, result.output
    yaml = pytest.importorskip("yaml")
    as_yaml = tmp_path / "sweep.yaml"
    as_yaml.write_text(yaml.safe_dump(json.loads(path.read_text()), sort_keys=False))
    assert load_sweep(as_yaml).parameters == load_sweep(path).parameters


def test_msr_check_rejects_unknown_j15_names(default_sim):
    path = default_sim / "simulation_config.json"
    config = json.loads(path.read_text())
    config["multiscale_run"]["metabolism"]["initial_state"] = {"ATP_x": 1.0}
    path.write_text(json.dumps(config))
    problems = semantic_problems(load(default_sim))
    assert [(p.path, p.message) for p in problems] == [
        ("multiscale_run.metabolism.initial_state.ATP_x", "unknown J15 state 'ATP_x'")
    ]


def test_dotted_paths(default_template):
    data = load(default_template).data
    assert paths.parse("multiscale_run.couplings[2].ndts") == ["multiscale_run", "couplings", 2, "ndts"]
    paths.check(data, "multiscale_run.couplings[2].action")
    paths.check(data, "run.tstop")
    paths.check(data, ATP)  # a typed map: the name itself is msr check's business
    for bad, message in [
        ("multiscale_run.couplings[9].ndts", "has 3 entries, so [9] names nothing"),
        ("run.tstopp", "run has no key 'tstopp'"),
        ("run.tstop.value", "run.tstop is not an object"),
        ("inputs.nothing.delay", "inputs has no key 'nothing'"),
        ("run..tstop", "malformed dotted path"),
    ]:
        with pytest.raises(paths.PathError, match=message.replace("[", r"\[").replace("]", r"\]")):
            paths.check(data, bad)
    paths.assign(data, "multiscale_run.couplings[2].ndts", 800)
    assert data["multiscale_run"]["couplings"][2]["ndts"] == 800


def test_grid_and_random_designs():
    a = Parameter("a", values=(1, 2))
    b = Parameter("b", low=1.0, high=100.0, num=3, log=True)
    c = Parameter("c", low=0.0, high=10.0, num=3, integer=True)
    points = space.design((a, b, c), Method("grid"))
    assert len(points) == 18 and points[0] == {"a": 1, "b": 1.0, "c": 0}
    assert [p["b"] for p in points[:9:3]] == pytest.approx([1.0, 10.0, 100.0])
    assert [p["c"] for p in points[:3]] == [0, 5, 10]

    n = Parameter("n", normal=(34.0, 0.5))
    u = Parameter("u", low=2.0, high=8.0, integer=True)
    first = space.design((a, n, u), Method("random", samples=200, seed=3))
    more = space.design((a, n, u), Method("random", samples=300, seed=3))
    assert more[:200] == first  # asking for more samples keeps the first ones
    draws = np.array([p["n"] for p in more])
    assert abs(draws.mean() - 34.0) < 4 * 0.5 / np.sqrt(300) and 0.4 < draws.std() < 0.6
    assert {p["u"] for p in more} == set(range(2, 9)) and {p["a"] for p in more} == {1, 2}


def test_a_folder_of_another_sweep_is_not_resumed(tmp_path, default_template):
    from multiscale_run.errors import UserError
    from multiscale_run.sweep.driver import _claim

    path = sweep_file(tmp_path, default_template)
    load_sweep(path).output.mkdir()
    _claim(load_sweep(path))
    spec = json.loads(path.read_text())
    spec["executor"] = {"workers": 2}  # how the points run may change
    spec["metrics"]["na"] = {"kind": "min", "report": "Na_n"}  # and what is measured
    path.write_text(json.dumps(spec))
    _claim(load_sweep(path))
    spec["parameters"][ATP]["values"] = [0.3]
    path.write_text(json.dumps(spec))
    with pytest.raises(UserError, match="holds another sweep: parameters changed"):
        _claim(load_sweep(path))
