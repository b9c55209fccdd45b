"""A run says what it was (issue 16): run.json's provenance, timings over ranks, and STEPS missing.

The provenance is checked against what the libraries say of themselves (``h5py.version``,
``numpy.__version__``, ``neuron.__version__``, git, ``socket``, ``hashlib`` on the file), not
against the code that wrote it. The runs are metabolism-only and short, so each takes seconds.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy
from conftest import metabolism_only, run_mpi

MSR = [sys.executable, "-m", "multiscale_run.cli"]


def _compute(sim: Path, ranks: int = 1, *options: str) -> subprocess.CompletedProcess:
    cmd = [*MSR, "compute", str(sim), *options]
    if ranks == 1:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    else:
        proc = run_mpi(ranks, cmd, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def _run_json(sim: Path) -> dict:
    return json.loads((sim / "output" / "run.json").read_text())


@pytest.fixture
def two_rank_run(default_sim) -> Path:
    _compute(metabolism_only(default_sim, tstop_ms=300.0), ranks=2)
    return default_sim


def test_run_json_records_the_config_stack_command_and_machines(two_rank_run):
    import neuron

    sim = two_rank_run
    run = _run_json(sim)
    config_file = sim / "simulation_config.json"
    assert run["status"] == "completed"
    assert run["config"]["path"] == str(config_file.resolve())
    assert run["config"]["sha256"] == hashlib.sha256(config_file.read_bytes()).hexdigest()
    as_run = json.loads((sim / "output" / run["config"]["copy"]).read_text())
    assert as_run["run"]["tstop"] == 300.0 and as_run["multiscale_run"]["metabolism"]["enabled"] is True
    assert run["ranks"] == 2
    assert run["hosts"] == [socket.gethostname()]
    assert "compute" in run["command"] and str(sim) in run["command"]
    streams = ("stimulus_seed", "synapse_seed", "minis_seed")  # NEURON's (neurodamus's) streams
    neuron_on = as_run["multiscale_run"]["neuron"]["enabled"]
    stream_seeds = {f"run.{k}": as_run["run"][k] for k in streams} if neuron_on else {}
    assert run["seeds"] == {"run.random_seed": as_run["run"]["random_seed"], **stream_seeds}
    started, finished = (datetime.fromisoformat(run[k]) for k in ("started_at", "finished_at"))
    assert started <= finished
    versions = run["versions"]
    assert versions["h5py"] == h5py.__version__
    assert versions["hdf5"].startswith(h5py.version.hdf5_version)
    assert versions["numpy"] == np.__version__
    assert versions["scipy"] == scipy.__version__
    assert versions["neuron"] == neuron.__version__
    assert versions["mpi"] and "MPI" in versions["mpi"]
    for key in ("steps", "petsc", "petsc4py", "mpi4py", "python", "multiscale_run"):
        assert key in versions
    repo = Path(__file__).resolve().parents[2]
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        assert run["source"]["commit"] == head.stdout.strip()
        assert isinstance(run["source"]["dirty"], bool)


def test_one_byte_of_the_config_changes_the_hash(default_sim):
    sim = metabolism_only(default_sim, tstop_ms=100.0)
    _compute(sim)
    first = _run_json(sim)["config"]["sha256"]
    config_file = sim / "simulation_config.json"
    config_file.write_bytes(config_file.read_bytes() + b" ")  # still the same JSON
    _compute(sim, 1, "--overwrite")
    second = _run_json(sim)["config"]["sha256"]
    assert first != second
    assert second == hashlib.sha256(config_file.read_bytes()).hexdigest()


def test_timings_give_min_mean_max_over_ranks_and_the_report_shows_them(two_rank_run):
    sim = two_rank_run
    timings = json.loads((sim / "output" / "timings.json").read_text())
    assert timings["ranks"] == 2
    advance = timings["activities"]["advance:metabolism"]
    for row in timings["activities"].values():
        assert row["min"] <= row["mean"] <= row["max"] == row["seconds"]
    # each rank integrates its own 3 cells: the two ranks' times differ, so min < max
    assert advance["min"] < advance["max"]
    assert advance["mean"] == pytest.approx((advance["min"] + advance["max"]) / 2)
    proc = subprocess.run([*MSR, "post-processing", str(sim)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = (sim / "output" / "postproc.html").read_text()
    for header in ("min s", "mean s", "max s"):
        assert f"<th>{header}</th>" in page
    row = page[page.index("<td>advance:metabolism</td>") :].split("</tr>")[0]
    for key in ("min", "mean", "max"):
        assert f"<td>{advance[key]:.3f}</td>" in row


@pytest.mark.parametrize(
    ("simulator", "setting", "value", "module", "words"),
    [
        ("steps", "solver", "TetOpSplit", "steps", "install.sh --steps"),
        ("metabolism", "backend", "julia", "juliacall", "pip install juliacall"),
    ],
)
def test_a_solver_whose_library_is_missing_names_the_install_step(
    default_sim, simulator, setting, value, module, words
):
    """``msr check`` and ``msr compute`` in an environment where the library cannot be imported
    (``sys.modules`` blocks it, as when STEPS was never installed): exit 2, one line naming the
    setting and the install step, nothing run."""
    path = default_sim / "simulation_config.json"
    config = json.loads(path.read_text())
    config["multiscale_run"][simulator].update(enabled=True, **{setting: value})
    path.write_text(json.dumps(config))
    for command in ("check", "compute"):
        code = (
            f"import sys; sys.modules[{module!r}] = None; from multiscale_run.cli import main; "
            f"main([{command!r}, {str(default_sim)!r}])"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert f"multiscale_run.{simulator}.{setting}: {setting} {value!r}" in lines[0]
        assert f"Python module {module!r}" in lines[0] and words in lines[0]
        assert "Traceback" not in proc.stderr
    assert not (default_sim / "output" / "run.json").exists()


def test_the_deterministic_extracellular_solver_needs_no_steps(default_sim):
    """The finite-volume solver is ours: STEPS enabled with it passes check without STEPS."""
    path = default_sim / "simulation_config.json"
    config = json.loads(path.read_text())
    config["multiscale_run"]["steps"].update(enabled=True, solver="deterministic")
    path.write_text(json.dumps(config))
    code = (
        "import sys; sys.modules['steps'] = None; from multiscale_run.cli import main; "
        f"main(['check', {str(default_sim)!r}])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "OK" in proc.stdout
