"""Shared test fixtures: real MPI runs through mpiexec, paths to shared real data."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

#: the one-node SLURM cluster fixture (``slurm_cluster``) of the sweep and sbatch tests
pytest_plugins = ("slurm_cluster",)

REPO = Path(__file__).resolve().parents[1]
#: Real reconstructed morphologies (Allen Cell Types) shipped beside the project for tests.
ALLEN_MORPHOLOGIES = REPO.parent / "shared" / "data" / "allen-morphologies"

#: For tests that run STEPS: skipped after the core install (``./install.sh``), run after
#: ``./install.sh --steps`` (what CI installs).
needs_steps = pytest.mark.skipif(
    importlib.util.find_spec("steps") is None, reason="STEPS is not installed (./install.sh --steps)"
)


def mpi_env() -> dict[str, str]:
    """Environment for Open MPI as root, on a machine with fewer cores than ranks."""
    env = dict(os.environ)
    env.update(
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        OMPI_MCA_rmaps_base_oversubscribe="1",
        # Ranks waiting in a collective give the core away instead of spinning: more ranks than cores.
        OMPI_MCA_mpi_yield_when_idle="1",
        OMPI_MCA_btl_vader_single_copy_mechanism="none",
        PRTE_MCA_rmaps_default_mapping_policy=":oversubscribe",
    )
    return env


def run_mpi(
    n: int, args: list[str], timeout: float = 300, cwd: Path | None = None, env: dict[str, str] | None = None
):
    """Run ``args`` (a command) under ``mpiexec -n n``; returns the CompletedProcess."""
    mpiexec = shutil.which("mpiexec")
    if mpiexec is None:
        pytest.skip("mpiexec is not installed")
    cmd = [mpiexec, "-n", str(n), "--oversubscribe", *args]
    return subprocess.run(
        cmd,
        env={**mpi_env(), **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def rank_pids(mpiexec_pid: int) -> list[int]:
    """The Python ranks started by mpiexec (its descendants running multiscale_run.cli)."""
    out = subprocess.run(["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True, check=True).stdout
    rows = [line.split(None, 2) for line in out.splitlines()[1:]]
    children: dict[int, list[int]] = {}
    for pid, ppid, _ in rows:
        children.setdefault(int(ppid), []).append(int(pid))
    args = {int(pid): cmd for pid, _, cmd in rows}
    todo, found = [mpiexec_pid], []
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            todo.append(child)
            if "multiscale_run.cli" in args[child] and "mpiexec" not in args[child]:
                found.append(child)
    return sorted(found)


def msr_command(*args: str) -> list[str]:
    """``msr ARGS`` with this interpreter's msr (the console script beside it, else ``-m``)."""
    script = Path(sys.executable).with_name("msr")
    return [str(script), *args] if script.is_file() else [sys.executable, "-m", "multiscale_run.cli", *args]


def run_checked(cmd: list[str], ranks: int = 1, timeout: float = 600) -> None:
    """Run ``cmd`` (under mpiexec for several ranks) and fail with its output unless it succeeds."""
    if ranks == 1:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    else:
        proc = run_mpi(ranks, cmd, timeout=timeout)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"


def msr_compute(directory: Path, ranks: int = 1) -> Path:
    """``msr compute DIRECTORY --overwrite`` on ``ranks`` ranks; returns its output folder."""
    run_checked(msr_command("compute", str(directory), "--overwrite"), ranks, timeout=900)
    return directory / "output"


def report_frames(path: Path, population: str | None = None):
    """(frame times ms, data (frames, elements) as float64 with columns in node id order) of a
    SONATA report, read with h5py."""
    import h5py
    import numpy as np

    with h5py.File(path, "r") as f:
        pop = f["report"][population or next(iter(f["report"]))]
        data, ids = pop["data"][:].astype(np.float64), pop["mapping/node_ids"][:]
        start, _, step = pop["mapping/time"][:]
    return start + step * np.arange(len(data)), data[:, np.argsort(ids, kind="stable")]


def write_cortex_nodes(f, names: list[str], template: str, spacing_um: float) -> object:
    """A ``cortex`` node population in the open h5py file ``f``: one cell per morphology name,
    on the x axis every ``spacing_um``, all with ``model_template`` = ``template``; returns the
    attribute group for more attributes."""
    import h5py
    import numpy as np

    n = len(names)
    g = f.create_group("nodes/cortex")
    g["node_type_id"] = np.full(n, -1, dtype=np.int64)
    g["node_group_id"] = np.zeros(n, dtype=np.uint32)
    g["node_group_index"] = np.arange(n, dtype=np.uint64)
    a = g.create_group("0")
    a["x"], a["y"], a["z"] = np.arange(n) * spacing_um, np.zeros(n), np.zeros(n)
    a.create_dataset("morphology", data=[s.encode() for s in names], dtype=h5py.string_dtype())
    a.create_dataset("model_template", data=[template.encode()] * n, dtype=h5py.string_dtype())
    return a


def write_cortex_edges(path, weight: float, n_nodes: int) -> None:
    """A ``cortex__cortex`` edge file at ``path``: 0 -> 1, 0 -> 2, 1 -> 2, each with ``syn_weight``
    ``weight`` and delay 2 ms, indexed by libsonata for ``n_nodes`` nodes."""
    import h5py
    import libsonata
    import numpy as np

    with h5py.File(path, "w") as f:
        g = f.create_group("edges/cortex__cortex")
        for key, ids in (("source_node_id", [0, 0, 1]), ("target_node_id", [1, 2, 2])):
            g.create_dataset(key, data=np.array(ids, dtype=np.uint64)).attrs["node_population"] = "cortex"
        g["edge_type_id"] = np.full(3, -1, dtype=np.int64)
        g["edge_group_id"] = np.zeros(3, dtype=np.uint32)
        g["edge_group_index"] = np.arange(3, dtype=np.uint64)
        g["0/syn_weight"], g["0/delay"] = np.full(3, weight), np.full(3, 2.0)
    libsonata.EdgePopulation.write_indices(str(path), "cortex__cortex", n_nodes, n_nodes)


def run_mpi_python(n: int, script: list[str] | str, **kwargs):
    """Run a Python script (path or ``-c`` code) under mpiexec with this interpreter."""
    args = [sys.executable, *([script] if isinstance(script, str) else script)]
    return run_mpi(n, args, **kwargs)


@pytest.fixture
def allen_morphologies() -> Path:
    if not ALLEN_MORPHOLOGIES.is_dir():
        pytest.skip(f"real morphologies not found at {ALLEN_MORPHOLOGIES}")
    return ALLEN_MORPHOLOGIES


def metabolism_only(sim: Path, checks: list[dict] | None = None, tstop_ms: float = 500.0) -> Path:
    """Turn the simulation ``msr init`` wrote in ``sim`` into a fast metabolism-only run (no
    NEURON) with one coupling (ATP_n -> K_e, identity) and the given value checks."""
    import json

    path = sim / "simulation_config.json"
    config = json.loads(path.read_text())
    config["run"]["tstop"] = tstop_ms
    msr = config["multiscale_run"]
    msr["neuron"]["enabled"] = False
    msr["progress"] = False
    msr["metabolism"]["ndts"] = 4000  # 100 ms
    for report in msr["metabolism"]["reports"]:
        report.pop("dt_ms", None)  # every metabolism step
    msr["couplings"] = [
        {
            "src": "metabolism",
            "src_variable": "ATP_n",
            "dest": "metabolism",
            "dest_variable": "K_e",
            "operator": "identity",
            "action": "set",
        }
    ]
    msr["checks"] = checks or []
    path.write_text(json.dumps(config, indent=2))
    return sim


@pytest.fixture(scope="session", autouse=True)
def mechanisms_cache(tmp_path_factory) -> Path:
    """One mechanisms cache for the session (every test and the runs it starts inherit it), so
    each set of .mod files is compiled once per session and never from the user's cache. The
    pytest-xdist workers share it (their temporary folders have one parent; the cache's file
    lock serialises their builds)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        folder = tmp_path_factory.getbasetemp().parent / "mechanisms"
        folder.mkdir(exist_ok=True)
    else:
        folder = tmp_path_factory.mktemp("mechanisms")
    os.environ["MSR_MECHANISMS_CACHE"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def default_template(tmp_path_factory) -> Path:
    """The embedded default simulation (6 neurons, 300 ms), written once per test session."""
    from multiscale_run.init import init_simulation

    directory = tmp_path_factory.mktemp("template") / "sim"
    init_simulation(directory, neurons=6, tstop=300.0)
    return directory


@pytest.fixture
def default_sim(default_template, tmp_path) -> Path:
    """A private copy of :func:`default_template` that a test may edit."""
    target = tmp_path / "sim"
    shutil.copytree(default_template, target)
    return target
