"""Reports and spikes written by 1, 2 and 4 real MPI ranks, judged by libsonata and h5py.

A small fake-but-real run: 7 neurons distributed round-robin (rank-major columns, so the file's
node ids are unsorted under MPI), per-neuron and multi-element reports, a per-tet report over a
global space, frames written one simulated step at a time, spikes from every rank.
Every value is an analytic function of (node id, element, frame), so the reader's output is
checked exactly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import h5py
import libsonata
import numpy as np
import psutil
import pytest
from conftest import mpi_env, run_mpi_python

from multiscale_run.output import VALID_FRAMES_ATTR, h5py_has_mpi

NODE_IDS = np.array([0, 3, 4, 7, 8, 10, 12])
N_TETS = 11
START, END, DT = 0.5, 3.0, 0.25  # frames at 0.5, 0.75, ..., 2.75 (right-open)
SIM_DT = 0.125  # the orchestrator's step: every other step is a frame

SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    from multiscale_run.parallel import Parallel
    from multiscale_run.output import ReportWriter, write_spikes

    out, driver = sys.argv[1], sys.argv[2]
    par = Parallel()
    node_ids = np.array(NODE_IDS)
    local = par.local_cells(node_ids)
    segs = 1 + local % 3  # 1..3 elements per node
    soma = ReportWriter(f"{out}/soma.h5", "All", local, 1, START, END, DT, "mV", par,
                        driver=driver, buffer_bytes=8, attributes={"variable": "v"})
    comp = ReportWriter(f"{out}/comp.h5", "All", local, segs, START, END, DT, "mM", par,
                        driver=driver, buffer_bytes=64)
    tets = ReportWriter.for_global_space(f"{out}/tets.h5", "tets", N_TETS, START, END, DT, "mM",
                                         par, driver=driver)
    elem = np.concatenate([np.arange(s) for s in segs]) if local.size else np.zeros(0, int)
    owner = np.repeat(local, segs)
    for step in range(40):
        t = step * SIM_DT
        frame = round((t - START) / DT)
        if soma.due(t):
            soma.record(t, 1000.0 * local + frame)
        if comp.due(t):
            comp.record(t, 1000.0 * owner + 10.0 * elem + frame)
        if tets.due(t):
            tets.record(t, 0.5 * np.arange(N_TETS) + frame)  # the full global vector on every rank
    for w in (soma, comp, tets):
        w.close()
    spiking = local[local % 2 == 0]
    times = np.concatenate([0.1 * spiking + k for k in range(3)])
    ids = np.tile(spiking, 3)
    write_spikes(f"{out}/spikes.h5", {"All": (ids, times)}, par)
    drivers = par.comm.gather(soma.driver, root=0)
    if par.rank == 0:  # one line: ranks' outputs could interleave
        print("ok", len(drivers), *sorted(set(drivers)))
    """
).replace("NODE_IDS", repr(NODE_IDS.tolist()))
SCRIPT = f"START, END, DT, SIM_DT, N_TETS = {START}, {END}, {DT}, {SIM_DT}, {N_TETS}\n" + SCRIPT

FRAMES = np.arange(10)  # (3.0 - 0.5) / 0.25


def _drivers(auto: bool = True):
    if auto:
        yield "auto"
    yield "gather"
    yield pytest.param(
        "mpio", marks=pytest.mark.skipif(not h5py_has_mpi(), reason="h5py is built without parallel HDF5")
    )


def _run(tmp_path, n, driver):
    script = tmp_path / "write_reports.py"
    script.write_text(SCRIPT)
    out = tmp_path / "out"
    proc = run_mpi_python(n, [str(script), str(out), driver], timeout=120, cwd=tmp_path.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ok, ranks, *used = proc.stdout.split()
    assert ok == "ok" and int(ranks) == n, proc.stdout
    if n == 1:
        expected = "mpio" if driver == "mpio" else "serial"
    elif driver == "auto":
        expected = "mpio" if h5py_has_mpi() else "gather"  # the fallback when h5py is serial
    else:
        expected = driver
    assert used == [expected]
    return out


def _check_report(path, population, expected_elements, units):
    """libsonata's frames equal h5py's raw data and the analytic values, node by node."""
    reader = libsonata.ElementReportReader(str(path))
    assert reader.get_population_names() == [population]
    pop = reader[population]
    assert pop.times == (START, END, DT)
    assert pop.data_units == units and pop.time_units == "ms"
    assert sorted(pop.get_node_ids()) == sorted(expected_elements)

    with h5py.File(path, "r") as f:
        grp = f["report"][population]
        raw = grp["data"][...]
        assert raw.dtype == np.float32
        assert grp["data"].attrs[VALID_FRAMES_ATTR] == FRAMES.size
        node_ids = grp["mapping/node_ids"][...]
        ptr = grp["mapping/index_pointers"][...]
        elem = grp["mapping/element_ids"][...]
        assert ptr.size == node_ids.size + 1 and ptr[-1] == raw.shape[1] == elem.size
        np.testing.assert_array_equal(grp["mapping/time"][...], [START, END, DT])
        assert grp["mapping/time"].attrs["units"] == "ms"

    df = pop.get()
    np.testing.assert_allclose(df.times, START + DT * FRAMES)
    data = np.asarray(df.data)
    assert data.shape == (FRAMES.size, sum(len(v) for v in expected_elements.values()))
    for node, values_fn in expected_elements.items():
        sel = pop.get(node_ids=[int(node)])
        got = np.asarray(sel.data)
        ids = np.asarray(sel.ids)
        assert (ids[:, 0] == node).all()
        np.testing.assert_array_equal(ids[:, 1], np.arange(len(values_fn)))
        want = np.array([[fn(frame) for fn in values_fn] for frame in FRAMES], dtype=np.float32)
        np.testing.assert_array_equal(got, want)
        i = int(np.flatnonzero(node_ids == node)[0])
        np.testing.assert_array_equal(raw[:, ptr[i] : ptr[i + 1]], got)  # h5py agrees with libsonata
    return pop


@pytest.mark.mpi
@pytest.mark.parametrize("driver", list(_drivers()))
@pytest.mark.parametrize("n", [1, 2, 4])
def test_reports_on_ranks(tmp_path, n, driver):
    out = _run(tmp_path, n, driver)

    soma = {int(g): [lambda fr, g=g: 1000.0 * g + fr] for g in NODE_IDS}
    _check_report(out / "soma.h5", "All", soma, "mV")
    with h5py.File(out / "soma.h5") as f:
        assert f["report/All"].attrs["variable"] == "v"
        # rank-major columns: rank r's nodes are the round-robin share NODE_IDS[r::n]
        expected_order = np.concatenate([NODE_IDS[r::n] for r in range(n)])
        np.testing.assert_array_equal(f["report/All/mapping/node_ids"][...], expected_order)

    comp = {
        int(g): [lambda fr, g=g, e=e: 1000.0 * g + 10.0 * e + fr for e in range(1 + g % 3)] for g in NODE_IDS
    }
    _check_report(out / "comp.h5", "All", comp, "mM")

    tets = {k: [lambda fr, k=k: 0.5 * k + fr] for k in range(N_TETS)}
    _check_report(out / "tets.h5", "tets", tets, "mM")

    spikes = libsonata.SpikeReader(str(out / "spikes.h5"))["All"]
    assert spikes.sorting == "by_time"
    spiking = NODE_IDS[NODE_IDS % 2 == 0]
    want = sorted((float(0.1 * g + k), int(g)) for g in spiking for k in range(3))
    got = [(t, g) for g, t in spikes.get()]
    assert [g for _, g in got] == [g for _, g in want]
    np.testing.assert_allclose([t for t, _ in got], [t for t, _ in want])
    with h5py.File(out / "spikes.h5") as f:
        ts = f["spikes/All/timestamps"][...]
        assert np.all(np.diff(ts) >= 0) and f["spikes/All/timestamps"].attrs["units"] == "ms"
        np.testing.assert_array_equal(f["spikes/All/node_ids"][...], [g for _, g in got])


SLOW_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from multiscale_run.parallel import Parallel
    from multiscale_run.output import ReportWriter

    out, driver = sys.argv[1], sys.argv[2]
    par = Parallel()
    local = par.local_cells(np.arange(40))
    w = ReportWriter(f"{out}/slow.h5", "All", local, 2, 0.0, 500.0, 1.0, "mM", par, driver=driver,
                     flush_interval_s=0.0)
    for i in range(500):
        w.record(float(i), np.repeat(1000.0 * local + i + 1.0, 2))
        if par.rank == 0:
            print(i + 1, flush=True)
        time.sleep(0.02)
    """
)


@pytest.mark.mpi
@pytest.mark.parametrize("driver", list(_drivers(auto=False)))
def test_kill_9_under_mpi_leaves_readable_reports(tmp_path, driver):
    """Every process of a 2-rank run killed at once: the report is readable up to valid_frames."""
    script = tmp_path / "slow.py"
    script.write_text(SLOW_SCRIPT)
    out = tmp_path / "out"
    mpiexec = shutil.which("mpiexec") or pytest.skip("mpiexec is not installed")
    proc = subprocess.Popen(
        [mpiexec, "-n", "2", "--oversubscribe", sys.executable, str(script), str(out), driver],
        stdout=subprocess.PIPE,
        text=True,
        env=mpi_env(),
    )
    try:
        printed = 0
        while printed < 20:
            line = proc.stdout.readline()
            assert line, "the run ended before it was killed"
            printed = int(line)
    finally:
        # mpiexec puts the ranks in their own process groups: kill each process by its id, at once
        family = [*psutil.Process(proc.pid).children(recursive=True), psutil.Process(proc.pid)]
        for p in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                os.kill(p.pid, signal.SIGKILL)
        psutil.wait_procs(family, timeout=30)
        proc.wait(timeout=30)

    path = out / "slow.h5"
    with h5py.File(path, "r") as f:
        valid = int(f["report/All/data"].attrs[VALID_FRAMES_ATTR])
        raw = f["report/All/data"][...]
        node_ids = f["report/All/mapping/node_ids"][...]
    assert printed <= valid < 500  # killed mid-run, and every printed frame is counted
    pop = libsonata.ElementReportReader(str(path))["All"]
    data = np.asarray(pop.get(node_ids=list(range(40))).data)
    assert data.shape == (500, 80)
    frames = np.arange(1.0, valid + 1.0)[:, None]
    want = np.repeat(1000.0 * np.arange(40), 2)[None, :] + frames
    np.testing.assert_array_equal(data[:valid], want)
    assert not data[valid + 1 :].any()  # at most the frame in flight lies beyond valid_frames
    np.testing.assert_array_equal(np.sort(node_ids), np.arange(40))
    assert raw.shape == (500, 80)
