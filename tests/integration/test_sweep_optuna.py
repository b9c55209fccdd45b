"""An Optuna search of 8 trials finds a known optimum within 5 %, and resumes from its storage
after the sweep is killed (SIGKILL: nothing is cleaned up)."""

from __future__ import annotations

import json
import signal

import optuna
import pytest
from sweep_helpers import msr, read_csv, run_and_kill, states, write_sweep
from sweep_objective import TARGET_MM, atp0

from multiscale_run.init import init_simulation

ATP0 = "multiscale_run.metabolism.initial_state.ATP_n"


def metabolism_only(sim):
    """J15 alone (no NEURON), one 100 ms step per 100 ms: a run takes seconds."""
    path = sim / "simulation_config.json"
    config = json.loads(path.read_text())
    msr_section = config["multiscale_run"]
    msr_section["neuron"]["enabled"] = False
    msr_section["metabolism"]["ndts"] = 4000
    for report in msr_section["metabolism"]["reports"]:
        report.pop("dt_ms", None)
    msr_section["couplings"], msr_section["checks"] = [], []
    config["run"]["tstop"] = 200.0
    path.write_text(json.dumps(config))


def search(tmp_path, trials: int, seed: int, startup_trials: int) -> dict:
    """A metabolism-only base in ``tmp_path/base`` and the spec of an Optuna search of ATP0."""
    init_simulation(tmp_path / "base", neurons=4)
    metabolism_only(tmp_path / "base")
    return {
        "base": "base",
        "parameters": {ATP0: {"low": 1.0, "high": 2.1}},
        "method": {
            "name": "optuna",
            "trials": trials,
            "objective": "err",
            "seed": seed,
            "startup_trials": startup_trials,
        },
        "metrics": {
            "err": {"kind": "python", "function": "sweep_objective:atp0_error"},
            "atp0": {"kind": "python", "function": "sweep_objective:atp0"},
        },
        "executor": {"name": "local", "workers": 1},
    }


def test_search_finds_the_optimum_and_resumes(tmp_path):
    spec = search(tmp_path, trials=8, seed=1, startup_trials=3)
    sweep_file = write_sweep(tmp_path / "search.json", spec)
    sweep_dir = tmp_path / "search"
    before, _ = run_and_kill(["sweep", str(sweep_file)], sweep_dir, completed=3, sig=signal.SIGKILL)
    done_before = {n for n, s in before.items() if s["status"] == "completed"}
    assert 3 <= len(done_before) < 8

    result = msr("sweep", str(sweep_file))
    assert result.returncode == 0, result.stderr
    after = states(sweep_dir)
    for name in done_before:
        assert after[name]["started_at"] == before[name]["started_at"]  # not run again
    study = optuna.load_study(study_name="msr-sweep", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    trials = study.get_trials()
    assert len(trials) == 8 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert sorted(after) == [f"t{t.number:04d}" for t in trials]
    for t in trials:  # the value told to Optuna is the metric of the trial's own outputs
        point = sweep_dir / "points" / f"t{t.number:04d}"
        assert after[point.name]["parameters"] == {ATP0: t.params[ATP0]}
        assert atp0(point) == pytest.approx(t.params[ATP0], rel=1e-6)
        assert t.value == pytest.approx((atp0(point) - TARGET_MM) ** 2, rel=1e-9, abs=1e-15)
    assert abs(study.best_params[ATP0] - TARGET_MM) <= 0.05 * TARGET_MM

    rows = {r["point"]: r for r in read_csv(sweep_dir / "results.csv")}
    assert len(rows) == 8
    best = min(rows.values(), key=lambda r: float(r["err"]))
    assert float(best[ATP0]) == pytest.approx(study.best_params[ATP0])
    html = (sweep_dir / "results.html").read_text()
    assert "Best trials (minimize err)" in html and 'alt="err by trial"' in html


def test_a_trial_killed_before_its_values_were_drawn_is_given_them_on_resume(tmp_path):
    """A sweep killed between Optuna's ``ask`` and the draw of the values leaves a RUNNING trial
    without parameters in the storage; the resumed sweep draws them and runs it, not the base."""
    spec = search(tmp_path, trials=2, seed=3, startup_trials=2)
    sweep_file = write_sweep(tmp_path / "search.json", spec)
    sweep_dir = tmp_path / "search"
    sweep_dir.mkdir()
    storage = f"sqlite:///{sweep_dir / 'optuna.db'}"
    optuna.create_study(study_name="msr-sweep", storage=storage, direction="minimize").ask()

    result = msr("sweep", str(sweep_file))
    assert result.returncode == 0, result.stderr
    trials = optuna.load_study(study_name="msr-sweep", storage=storage).get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2
    for t in trials:
        point = sweep_dir / "points" / f"t{t.number:04d}"
        assert 1.0 <= t.params[ATP0] <= 2.1
        assert atp0(point) == pytest.approx(t.params[ATP0], rel=1e-6)
