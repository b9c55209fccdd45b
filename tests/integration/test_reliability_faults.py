"""Faults around a real ``msr compute``: a second run on the same folder, a lock held by another
process, a stale lock, SIGINT/SIGTERM on one or every rank, ``kill -9`` of one rank, a full,
read-only or vanished output folder, a transform that fails at run time.

Each asserts the exit code, the one line naming the path or key, no traceback, that everything
outside the simulation folder is unchanged, and that the reports are readable by libsonata with
``valid_frames`` matching their data. Runs are metabolism-only (fast); the long ones are stopped
by the fault.
"""

from __future__ import annotations

import contextlib
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
from conftest import metabolism_only, mpi_env, rank_pids

from multiscale_run.init import init_simulation
from multiscale_run.output import read_valid_frames

MSR = [sys.executable, "-m", "multiscale_run.cli"]
LONG_MS = 2_000_000.0  # far more than any test waits for: the fault ends the run


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    sim = tmp_path_factory.mktemp("faults") / "sim"
    init_simulation(sim, neurons=4)
    return metabolism_only(sim, tstop_ms=1000.0)


@pytest.fixture
def sim(template, tmp_path) -> Path:
    target = tmp_path / "sim"
    shutil.copytree(template, target)
    (tmp_path / "beside.txt").write_text("outside the simulation folder")
    return target


def set_tstop(sim: Path, tstop_ms: float) -> None:
    path = sim / "simulation_config.json"
    config = json.loads(path.read_text())
    config["run"]["tstop"] = tstop_ms
    path.write_text(json.dumps(config, indent=2))
    from multiscale_run.output.sonata_section import update_config_file

    update_config_file(sim)


def outside(sim: Path) -> dict[str, tuple[int, int]]:
    """Files beside the simulation folder (size, mtime): a run must not touch them."""
    out = {}
    for path in sim.parent.rglob("*"):
        if sim not in path.parents and path != sim and path.is_file():
            out[str(path)] = (path.stat().st_size, path.stat().st_mtime_ns)
    return out


def compute(sim: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*MSR, "compute", str(sim), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def one_error_line(stderr: str, prefix: str) -> str:
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]


def assert_reports_readable(output: Path, t_reached_ms: float | None = None) -> None:
    """Every report opens with libsonata; its first valid_frames frames hold data (ATP_n and
    the other J15 states are positive) and, when the time reached is known, valid_frames counts
    exactly the frames up to it."""
    reports = sorted(output.glob("*_n.h5"))
    assert reports
    for path in reports:
        reader = libsonata.ElementReportReader(str(path))
        (population,) = reader.get_population_names()
        pop = reader[population]
        start, stop, dt = pop.times
        valid = read_valid_frames(path)
        if t_reached_ms is not None:
            assert valid == min(
                int(np.floor((t_reached_ms - start) / dt + 1e-9)) + 1, round((stop - start) / dt)
            )
        if valid:
            data = np.asarray(pop.get(tstart=start, tstop=start + (valid - 1) * dt + dt / 2).data)
            assert data.shape[0] == valid and np.all(np.isfinite(data)) and np.all(data > 0), path


def wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def started(sim: Path) -> bool:
    """The run's reports exist: the set-up is over and the main loop runs."""
    return (sim / "output" / "ATP_n.h5").is_file()


# ----------------------------------------------------------------------------- output safety
def test_a_second_run_is_refused_and_overwrite_replaces_every_result(sim):
    before = outside(sim)
    assert compute(sim).returncode == 0
    output = sim / "output"
    first = {p.name: p.stat().st_mtime_ns for p in output.iterdir()}

    proc = compute(sim)
    assert proc.returncode == 2
    line = one_error_line(proc.stderr, "msr: error: ")
    assert str(output) in line and "earlier run (status 'completed')" in line and "--overwrite" in line
    assert {p.name: p.stat().st_mtime_ns for p in output.iterdir()} == first  # untouched

    # the next run drops one report: with --overwrite its old file must not stay beside the new ones
    path = sim / "simulation_config.json"
    config = json.loads(path.read_text())
    dropped = config["multiscale_run"]["metabolism"]["reports"].pop()["name"]
    path.write_text(json.dumps(config, indent=2))
    from multiscale_run.output.sonata_section import update_config_file

    update_config_file(sim)
    proc = compute(sim, "--overwrite")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not (output / f"{dropped}.h5").exists()
    assert all(p.stat().st_mtime_ns > first[p.name] for p in output.iterdir() if p.name in first)
    assert_reports_readable(output, json.loads((output / "run.json").read_text())["t_reached_ms"])
    assert not (output / ".msr.lock").exists()
    assert outside(sim) == before


def test_a_folder_in_use_is_refused_naming_the_holder(sim):
    before = outside(sim)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from multiscale_run.output_lock import OutputLock;"
            "lock = OutputLock(Path(sys.argv[1])); lock.acquire(); print('locked', flush=True);"
            "time.sleep(60)",
            str(sim / "output"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        proc = compute(sim)
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 2
    line = one_error_line(proc.stderr, "msr: error: ")
    assert f"in use by msr compute pid {holder.pid} on host" in line and str(sim / "output") in line
    assert not (sim / "output" / "run.json").exists()
    assert outside(sim) == before


def test_a_stale_lock_is_detected_and_taken_over(sim):
    before = outside(sim)
    (sim / "output").mkdir()
    (sim / "output" / ".msr.lock").write_text("msr compute pid 999999 on host gone since 2020-01-01T00:00:00")
    proc = compute(sim)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "stale lock" in proc.stderr and "pid 999999" in proc.stderr
    assert not (sim / "output" / ".msr.lock").exists()
    assert outside(sim) == before


# ----------------------------------------------------------------------------- signals
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_run_cleanly(sim, signum, code):
    set_tstop(sim, LONG_MS)
    before = outside(sim)
    proc = subprocess.Popen([*MSR, "compute", str(sim)], stderr=subprocess.PIPE, text=True)
    wait_for(lambda: started(sim))
    time.sleep(1.0)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code
    line = one_error_line(stderr, "msr: run interrupted")
    assert signal.Signals(signum).name in line and "results so far are flushed" in line
    run = json.loads((sim / "output" / "run.json").read_text())
    assert run["status"] == "interrupted" and 0 < run["t_reached_ms"] < LONG_MS
    assert_reports_readable(sim / "output", run["t_reached_ms"])
    assert outside(sim) == before
    status = subprocess.run([*MSR, "status", str(sim)], capture_output=True, text=True, check=False)
    assert status.returncode == 1 and status.stdout.strip().endswith("run.json: status interrupted")


def test_status_says_whether_the_run_completed(sim, tmp_path):
    """``msr status`` (what the sbatch script asks after srun): exit 0 only for a completed run."""

    def status(folder: Path) -> subprocess.CompletedProcess:
        return subprocess.run([*MSR, "status", str(folder)], capture_output=True, text=True, check=False)

    never = status(sim)
    assert never.returncode == 1 and "no run record" in never.stdout, never
    assert compute(sim).returncode == 0
    done = status(sim)
    assert done.returncode == 0 and done.stdout.strip() == f"{sim / 'output' / 'run.json'}: status completed"
    missing = status(tmp_path / "nowhere")
    assert missing.returncode == 2 and "simulation_config.json" in missing.stderr
    assert "Traceback" not in missing.stderr


def _mpi_compute(sim: Path, ranks: int = 2) -> subprocess.Popen:
    mpiexec = shutil.which("mpiexec")
    if mpiexec is None:
        pytest.skip("mpiexec is not installed")
    return subprocess.Popen(
        [mpiexec, "-n", str(ranks), "--oversubscribe", *MSR, "compute", str(sim)],
        env=mpi_env(),
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.mark.mpi
@pytest.mark.parametrize("ranks", [2, 4])
def test_sigterm_on_one_rank_stops_every_rank_cleanly(sim, ranks):
    set_tstop(sim, LONG_MS)
    before = outside(sim)
    proc = _mpi_compute(sim, ranks)
    wait_for(lambda: started(sim) and len(rank_pids(proc.pid)) == ranks)
    time.sleep(1.5)
    os.kill(rank_pids(proc.pid)[-1], signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr[-3000:]
    line = one_error_line(stderr, "msr: run interrupted")
    assert "SIGTERM" in line
    run = json.loads((sim / "output" / "run.json").read_text())
    assert run["status"] == "interrupted" and run["ranks"] == ranks
    assert_reports_readable(sim / "output", run["t_reached_ms"])
    assert outside(sim) == before


@pytest.mark.mpi
def test_kill_9_of_one_rank_ends_the_other_within_10_s(sim):
    set_tstop(sim, LONG_MS)
    before = outside(sim)
    proc = _mpi_compute(sim)
    wait_for(lambda: started(sim) and len(rank_pids(proc.pid)) == 2)
    time.sleep(1.5)
    os.kill(rank_pids(proc.pid)[1], signal.SIGKILL)
    killed = time.monotonic()
    proc.communicate(timeout=60)
    assert time.monotonic() - killed < 10
    assert proc.returncode != 0
    assert not rank_pids(proc.pid)
    assert not (sim / "output" / "run.json").exists()  # killed, not finished
    assert_reports_readable(sim / "output")
    assert outside(sim) == before


# ----------------------------------------------------------------------------- storage
@contextlib.contextmanager
def tmpfs(path: Path, options: str):
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.parametrize("size", ["20k", "200k"], ids=["full at set-up", "full mid-run"])
def test_a_full_disk_is_one_line_and_what_was_written_stays_readable(sim, size):
    # set-up writes ~130 kB (4 report files, config_as_run.json); 1000 s at one frame per 100 ms
    # is ~640 kB of frames more, so 200 kB fills up mid-run
    set_tstop(sim, 1_000_000.0)
    before = outside(sim)
    with tmpfs(sim / "output", f"size={size}"):
        proc = compute(sim)
        assert proc.returncode == 4, proc.stderr[-3000:]
        line = one_error_line(proc.stderr, "msr: output error: ")
        assert str(sim / "output") in line and "No space left on device" in line
        assert "Segmentation fault" not in proc.stderr
        reports = sorted((sim / "output").glob("*.h5"))
        assert reports
        for path in reports:
            if path.name in line and size == "20k":
                continue  # the file whose creation failed
            with h5py.File(path, "r") as f:
                (population,) = f["report"]
                data = f[f"report/{population}/data"]
                valid = int(data.attrs["valid_frames"])
                assert np.all(np.asarray(data[:valid]) > 0), path
    assert outside(sim) == before


def test_a_read_only_output_folder_is_one_line_before_the_run(sim):
    before = outside(sim)
    with tmpfs(sim / "output", "ro,size=1m"):
        proc = compute(sim)
        assert proc.returncode == 4, proc.stderr[-3000:]
        line = one_error_line(proc.stderr, "msr: output error: ")
        assert str(sim / "output") in line and "Read-only file system" in line
        assert "building metabolism" not in proc.stderr  # refused before any set-up
    assert outside(sim) == before


def test_a_vanished_output_folder_is_one_line(sim):
    set_tstop(sim, 300_000.0)  # ~15 s: open files stay writable, the end of the run finds the folder gone
    before = outside(sim)
    proc = subprocess.Popen([*MSR, "compute", str(sim)], stderr=subprocess.PIPE, text=True)
    wait_for(lambda: started(sim))
    # renamed away in one step, then deleted: a plain rmtree races the files the run still creates
    gone = sim.parent / "gone"
    (sim / "output").rename(gone)
    shutil.rmtree(gone)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 4, stderr[-3000:]
    line = one_error_line(stderr, "msr: output error: ")
    assert str(sim / "output") in line and "vanished" in line
    assert outside(sim) == before


# ----------------------------------------------------------------------------- transforms
def test_a_transform_failing_at_run_time_names_the_coupling(sim):
    """It passes check (finite on the initial ATP_n) and fails once ATP_n has risen above its
    resting value (coupled mode without NEURON's pump)."""
    path = sim / "simulation_config.json"
    config = json.loads(path.read_text())
    config["multiscale_run"]["couplings"][0].update(
        name="atp-to-ko", transform="vals if mean(vals) < 2.1974 else 1/0"
    )
    path.write_text(json.dumps(config, indent=2))
    before = outside(sim)
    assert subprocess.run([*MSR, "check", str(sim)], capture_output=True, check=False).returncode == 0
    proc = compute(sim)
    assert proc.returncode == 2, proc.stderr[-3000:]
    line = one_error_line(proc.stderr, "msr: error: ")
    assert (
        f"{path}: multiscale_run.couplings[0].transform: coupling 'atp-to-ko'" in line
        and "non-finite" in line
    )
    run = json.loads((sim / "output" / "run.json").read_text())
    assert run["status"].startswith("failed: ")
    assert_reports_readable(sim / "output", run["t_reached_ms"])
    assert outside(sim) == before


# ----------------------------------------------------------------------------- paths
def test_spaces_and_non_ascii_folders_run_with_neuron(tmp_path):
    """Simulation folders with spaces and with non-ASCII characters pass check and run (NEURON
    loads the compiled mechanisms from the user's mechanisms cache, not from them); a non-ASCII
    mechanisms cache is refused by check (tests/unit/test_reliability_corpus.py)."""
    spaced = tmp_path / "my runs" / "sim one"
    init_simulation(spaced, neurons=2, tstop=1.0)
    accented = tmp_path / "expériences" / "sim"
    init_simulation(accented, neurons=2, tstop=1.0)
    for sim in (spaced, accented):
        assert subprocess.run([*MSR, "check", str(sim)], capture_output=True, check=False).returncode == 0
        proc = compute(sim, "--no-progress", timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert json.loads((sim / "output" / "run.json").read_text())["status"] == "completed"
        assert_reports_readable(sim / "output")
