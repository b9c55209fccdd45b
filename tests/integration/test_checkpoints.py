"""Snapshots and resume on real runs (``msr compute`` in a subprocess, under mpiexec for 2 ranks).

The oracle is the uninterrupted run: a run killed (``kill -9``, SIGTERM) after a snapshot and
resumed, or run to T and extended to 2T, must give the same reports and spikes, every dataset and
attribute compared with h5py. Runs are NEURON + metabolism on 4 cells of the default circuit;
the all-simulator runs use STEPS's deterministic backend.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import libsonata
import numpy as np
import pytest
from conftest import mpi_env, needs_steps, rank_pids

from multiscale_run.init import init_simulation
from multiscale_run.output.sonata_section import update_config_file

MSR = [sys.executable, "-m", "multiscale_run.cli"]
T_MS = 400.0  # the reference run's length; snapshots at T/2


def msr(args: list[str], ranks: int = 1, env: dict | None = None, wait: bool = True, timeout: float = 600):
    cmd = MSR + args
    if ranks > 1:
        cmd = [shutil.which("mpiexec"), "-n", str(ranks), "--oversubscribe", *cmd]
    full_env = {**mpi_env(), **(env or {})}
    if not wait:
        return subprocess.Popen(
            cmd,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    return subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False)


def edit_config(sim: Path, change) -> None:
    path = sim / "simulation_config.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config, indent=2))
    update_config_file(sim)


def set_tstop(sim: Path, tstop_ms: float) -> None:
    edit_config(sim, lambda c: c["run"].update(tstop=tstop_ms))


def differences(a: Path, b: Path) -> list[str]:
    """Every dataset or attribute of the result files of output folder ``a`` that differs in ``b``."""
    out = []
    names = sorted(p.name for p in a.glob("*.h5"))
    if names != sorted(p.name for p in b.glob("*.h5")):
        return [f"files {names} vs {sorted(p.name for p in b.glob('*.h5'))}"]
    for name in names:
        with h5py.File(a / name, "r") as fa, h5py.File(b / name, "r") as fb:

            def visit(key, obj, fa=fa, fb=fb, name=name):
                if key not in fb:
                    out.append(f"{name}:{key} missing")
                    return
                other = fb[key]
                if isinstance(obj, h5py.Dataset) and not (
                    obj.shape == other.shape and np.array_equal(obj[()], other[()])
                ):
                    out.append(f"{name}:{key} differs")
                for attr, value in obj.attrs.items():
                    if not np.array_equal(value, other.attrs.get(attr)):
                        out.append(f"{name}:{key}@{attr} {value} vs {other.attrs.get(attr)}")

            fa.visititems(visit)
    return out


def snapshots(sim: Path) -> list[Path]:
    root = sim / "output" / "checkpoints"
    return sorted(root.glob("step-*")) if root.is_dir() else []


def kill_after_snapshot(sim: Path, ranks: int, sig: int = signal.SIGKILL) -> subprocess.Popen:
    """Start the run, and send ``sig`` to its whole process group once its first snapshot is there."""
    proc = msr(["compute", str(sim), "--no-progress"], ranks=ranks, wait=False)
    deadline = time.monotonic() + 300
    while not snapshots(sim):
        assert proc.poll() is None, f"the run ended before its first snapshot: {proc.communicate()}"
        assert time.monotonic() < deadline, "no snapshot after 300 s"
        time.sleep(0.02)
    os.killpg(proc.pid, sig)
    proc.wait(timeout=120)
    return proc


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """4 cells, NEURON + metabolism, snapshots every T/2; run once so that the copies reuse the
    compiled mechanisms and cached operators."""
    sim = tmp_path_factory.mktemp("checkpoints") / "sim"
    init_simulation(sim, neurons=4, tstop=T_MS)
    edit_config(sim, lambda c: c["multiscale_run"].update(checkpoints={"every_ms": T_MS / 2}))
    done = msr(["compute", str(sim), "--no-progress"])
    assert done.returncode == 0, done.stderr
    shutil.rmtree(sim / "output")
    return sim


@pytest.fixture(scope="module")
def reference(template, tmp_path_factory) -> dict[int, Path]:
    """The uninterrupted run to T on 1 and 2 ranks (output folders)."""
    out = {}
    for ranks in (1, 2):
        sim = tmp_path_factory.mktemp(f"reference{ranks}") / "sim"
        shutil.copytree(template, sim)
        done = msr(["compute", str(sim), "--no-progress"], ranks=ranks)
        assert done.returncode == 0, done.stderr
        out[ranks] = sim / "output"
    return out


def copy_of(template: Path, tmp_path: Path) -> Path:
    sim = tmp_path / "sim"
    shutil.copytree(template, sim)
    return sim


@pytest.mark.parametrize("ranks", [1, 2])
def test_kill_9_after_the_half_way_snapshot_then_resume_is_bit_identical(
    template, reference, tmp_path, ranks
):
    sim = copy_of(template, tmp_path)
    kill_after_snapshot(sim, ranks)
    assert not (sim / "output" / "run.json").exists(), "the run finished before it was killed"
    [snap] = snapshots(sim)
    assert json.loads((snap / "manifest.json").read_text())["t_ms"] == T_MS / 2
    done = msr(["compute", str(sim), "--no-progress", "--resume"], ranks=ranks)
    assert done.returncode == 0, done.stderr
    assert differences(reference[ranks], sim / "output") == []
    run = json.loads((sim / "output" / "run.json").read_text())
    assert run["status"] == "completed" and run["resumed_from"]["t_ms"] == T_MS / 2


@pytest.mark.parametrize("ranks", [1, 2])
def test_run_to_half_then_extend_equals_one_run(template, reference, tmp_path, ranks):
    sim = copy_of(template, tmp_path)
    set_tstop(sim, T_MS / 2)
    first = msr(["compute", str(sim), "--no-progress"], ranks=ranks)
    assert first.returncode == 0, first.stderr
    with h5py.File(sim / "output" / "soma_v.h5", "r") as f:  # the short run's report is complete
        assert f["report/neurons/data"].attrs["valid_frames"] == f["report/neurons/data"].shape[0]
    set_tstop(sim, T_MS)
    extended = msr(["compute", str(sim), "--no-progress", "--resume"], ranks=ranks)
    assert extended.returncode == 0, extended.stderr
    assert differences(reference[ranks], sim / "output") == []


def test_sigterm_on_two_ranks_snapshots_and_the_resume_completes_the_run(template, reference, tmp_path):
    sim = copy_of(template, tmp_path)
    edit_config(sim, lambda c: c["multiscale_run"]["checkpoints"].update(every_ms=None))
    proc = msr(["compute", str(sim), "--no-progress"], ranks=2, wait=False)
    soma = sim / "output" / "soma_v.h5"
    deadline = time.monotonic() + 300
    while not (soma.exists() and h5py.is_hdf5(soma) and len(rank_pids(proc.pid)) == 2):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    os.kill(rank_pids(proc.pid)[-1], signal.SIGTERM)  # one rank only: all must stop together
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    [snap] = snapshots(sim)
    t_ms = json.loads((snap / "manifest.json").read_text())["t_ms"]
    assert 0 <= t_ms < T_MS and "continue with msr compute --resume" in err
    done = msr(["compute", str(sim), "--no-progress", "--resume"], ranks=2)
    assert done.returncode == 0, done.stderr
    assert differences(reference[2], sim / "output") == []


def test_a_half_written_or_corrupted_snapshot_is_never_loaded(template, reference, tmp_path):
    sim = copy_of(template, tmp_path)
    edit_config(sim, lambda c: c["multiscale_run"]["checkpoints"].update(every_ms=T_MS / 4, keep=3))
    # the 3rd snapshot (t = 3T/4) fails after its data are written, before it is published
    crashed = msr(["compute", str(sim), "--no-progress"], env={"MSR_INJECT_FAULT": "snapshot@0#3"})
    assert crashed.returncode == 1 and "fault injected at snapshot" in crashed.stderr
    root = sim / "output" / "checkpoints"
    assert [p.name for p in root.glob(".partial-*")] == [".partial-step-000000003000"]
    assert [json.loads((s / "manifest.json").read_text())["t_ms"] for s in snapshots(sim)] == [100.0, 200.0]
    # the newest published one then loses data: its checksum no longer matches
    newest = snapshots(sim)[-1] / "rank00000.npz"
    newest.write_bytes(newest.read_bytes()[:-100])
    done = msr(["compute", str(sim), "--no-progress", "--resume"])
    assert done.returncode == 0, done.stderr
    assert "skipping snapshot" in done.stderr and "checksum mismatch" in done.stderr
    assert json.loads((sim / "output" / "run.json").read_text())["resumed_from"]["t_ms"] == 100.0
    assert differences(reference[1], sim / "output") == []


@pytest.fixture(scope="module")
def finished(template, tmp_path_factory) -> Path:
    sim = tmp_path_factory.mktemp("finished") / "sim"
    shutil.copytree(template, sim)
    set_tstop(sim, T_MS / 4)
    done = msr(["compute", str(sim), "--no-progress"])
    assert done.returncode == 0, done.stderr
    return sim


def _drop_metabolism(config: dict) -> None:
    config["multiscale_run"]["metabolism"]["enabled"] = False
    config["multiscale_run"]["couplings"] = [
        c for c in config["multiscale_run"]["couplings"] if "metabolism" not in (c["src"], c["dest"])
    ]
    config["multiscale_run"]["checks"] = [
        c for c in config["multiscale_run"]["checks"] if c["simulator"] != "metabolism"
    ]


def _change_coupling(config: dict) -> None:
    config["multiscale_run"]["couplings"][0]["ndts"] = 2000


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (_drop_metabolism, "the simulators changed since the snapshot (were metabolism, neuron; now neuron)"),
        (_change_coupling, "multiscale_run.couplings[0].ndts changed since the snapshot (was"),
        (lambda c: c.update(node_set="Excitatory"), "node_set changed since the snapshot"),
    ],
    ids=["simulator set", "coupling", "circuit node set"],
)
def test_resume_under_a_changed_config_is_refused_naming_the_change(finished, tmp_path, change, named):
    sim = copy_of(finished, tmp_path)
    before = {p: p.read_bytes() for p in (sim / "output").rglob("*") if p.is_file()}
    edit_config(sim, change)
    refused = msr(["compute", str(sim), "--resume"])
    assert refused.returncode == 2
    [line] = refused.stderr.strip().splitlines()
    assert named in line and "simulation_config.json" in line and "Traceback" not in refused.stderr
    assert {p: p.read_bytes() for p in (sim / "output").rglob("*") if p.is_file()} == before


def test_resume_with_a_changed_circuit_file_or_rank_count_is_refused(finished, tmp_path):
    sim = copy_of(finished, tmp_path)
    ranks = msr(["compute", str(sim), "--resume"], ranks=2)
    assert ranks.returncode == 2 and "taken on 1 rank(s), this run has 2: resume on 1" in ranks.stderr
    with h5py.File(sim / "circuit" / "nodes.h5", "r+") as f:
        pop = next(iter(f["nodes"]))
        f[f"nodes/{pop}/0/x"][0] += 1.0
    moved = msr(["compute", str(sim), "--resume"])
    assert moved.returncode == 2
    assert "circuit file $BASE/circuit/nodes.h5 changed since the snapshot" in moved.stderr


def test_resume_without_a_snapshot_and_a_plain_rerun_are_refused(finished, tmp_path):
    sim = copy_of(finished, tmp_path)
    again = msr(["compute", str(sim)])
    assert again.returncode == 2 and "--resume to continue" in again.stderr
    shutil.rmtree(sim / "output" / "checkpoints")
    none = msr(["compute", str(sim), "--resume"])
    assert none.returncode == 2 and "no complete snapshot in" in none.stderr


@needs_steps
@pytest.mark.parametrize("ranks", [1, 2])
def test_all_four_simulators_resume_bit_identically(tmp_path_factory, ranks):
    """NEURON, STEPS (deterministic backend), blood flow and metabolism, killed after T/2."""
    base = tmp_path_factory.mktemp(f"four{ranks}")
    sim = base / "sim"
    init_simulation(sim, neurons=4, tstop=100.0, enable={"steps": True, "bloodflow": True})

    def deterministic(c):
        c["multiscale_run"]["steps"]["solver"] = "deterministic"
        c["multiscale_run"]["checkpoints"] = {"every_ms": 50.0}

    edit_config(sim, deterministic)
    whole = msr(["compute", str(sim), "--no-progress"], ranks=ranks)
    assert whole.returncode == 0, whole.stderr
    killed = base / "killed"  # a copy with the mesh, mechanisms and operators the first run built
    shutil.copytree(sim, killed, ignore=lambda d, names: ["output"] if Path(d) == sim else [])
    kill_after_snapshot(killed, ranks)
    assert not (killed / "output" / "run.json").exists(), "the run finished before it was killed"
    done = msr(["compute", str(killed), "--no-progress", "--resume"], ranks=ranks)
    assert done.returncode == 0, done.stderr
    assert differences(sim / "output", killed / "output") == []


@needs_steps
def test_tetopsplit_resumes_within_its_stochastic_spread(tmp_path_factory):
    """STEPS's Python API does not expose TetOpSplit's generator state, so a resumed stochastic
    run draws a new stream (seeded from the seed, the rank and the resume step): its K+ is the
    same within the spread of K+ over the mesh, not bit-identical (docs/checkpoints.md)."""
    base = tmp_path_factory.mktemp("tetopsplit")
    sim = base / "sim"
    init_simulation(sim, neurons=4, tstop=100.0, enable={"steps": True})
    edit_config(sim, lambda c: c["multiscale_run"].update(checkpoints={"every_ms": 50.0}))
    whole = msr(["compute", str(sim), "--no-progress"], ranks=2)
    assert whole.returncode == 0, whole.stderr
    killed = base / "killed"
    shutil.copytree(sim, killed, ignore=lambda d, names: ["output"] if Path(d) == sim else [])
    kill_after_snapshot(killed, 2)
    done = msr(["compute", str(killed), "--no-progress", "--resume"], ranks=2)
    assert done.returncode == 0, done.stderr
    with h5py.File(sim / "output/K_e_tets.h5") as a, h5py.File(killed / "output/K_e_tets.h5") as b:
        ka, kb = a["report/tets/data"][()], b["report/tets/data"][()]
    half = ka.shape[0] // 2
    np.testing.assert_array_equal(ka[: half + 1], kb[: half + 1])  # up to the snapshot: the same run
    spread = ka[-1].std() / np.sqrt(ka.shape[1])  # standard error of the mesh mean
    assert abs(ka[-1].mean() - kb[-1].mean()) < 4 * spread, (ka[-1].mean(), kb[-1].mean(), spread)
    assert not np.array_equal(ka[-1], kb[-1])  # a new stream indeed


def test_a_report_added_on_resume_starts_after_the_snapshot(finished, tmp_path):
    sim = copy_of(finished, tmp_path)

    def extend_with_a_report(config):
        config["run"]["tstop"] = T_MS / 2
        reports = config["multiscale_run"]["neuron"]["reports"]
        reports.append({**reports[0], "name": "soma_v_late"})

    edit_config(sim, extend_with_a_report)
    done = msr(["compute", str(sim), "--no-progress", "--resume"])
    assert done.returncode == 0, done.stderr
    late = libsonata.ElementReportReader(str(sim / "output" / "soma_v_late.h5"))["neurons"]
    start, stop, dt = late.times
    assert start == pytest.approx(T_MS / 4 + dt) and stop == pytest.approx(T_MS / 2)
    whole = libsonata.ElementReportReader(str(sim / "output" / "soma_v.h5"))["neurons"]
    a = whole.get(tstart=start, tstop=stop - dt / 2).data
    b = late.get(tstart=start, tstop=stop - dt / 2).data
    np.testing.assert_array_equal(a, b)  # the same values as the report that ran from t = 0
