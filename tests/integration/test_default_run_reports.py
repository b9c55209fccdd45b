"""Acceptance of issue #8 on the default run: its reports and spikes, read by readers nobody here wrote.

``msr init`` writes the default simulation (fewer neurons and a shorter tstop to stay fast) and
``msr compute`` runs it as a real subprocess, on one rank and under ``mpiexec -n 2``. Every report
file and the spike file must open with libsonata's ``ElementReportReader`` / ``SpikeReader`` and
give exactly what h5py reads; bluepysnap must open the simulation config (its top-level SONATA
``reports`` section, written by ``msr init``), the spikes and every report. A run killed with
``kill -9`` mid-way must leave readable reports whose ``valid_frames`` says how far the data go.
The post-processing notebook and ``msr post-processing`` must run on the real output.
"""

from __future__ import annotations

import json
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
from conftest import run_mpi

N_NEURONS = 8
TSTOP_MS = 200.0
#: docs/reports.md: a rank buffers up to 4 MiB of frames per report before writing them as one block
BUFFER_BYTES = 4 * 2**20

MSR = Path(sys.executable).with_name("msr")


def msr(*args: str) -> list[str]:
    """The command line of the installed ``msr`` (the module's CLI if the script is missing)."""
    return [str(MSR), *args] if MSR.is_file() else [sys.executable, "-m", "multiscale_run.cli", *args]


def _run(cmd: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc


def _edit_msr(sim: Path, **changes) -> dict:
    path = sim / "simulation_config.json"
    config = json.loads(path.read_text())
    config["multiscale_run"].update(changes)
    path.write_text(json.dumps(config, indent=2) + "\n")
    return config


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """``msr init`` of the default simulation, not computed; NEURON mechanisms built once for all."""
    root = tmp_path_factory.mktemp("default")
    sim = root / "template"
    _run(msr("init", str(sim), "--neurons", str(N_NEURONS), "--tstop", str(TSTOP_MS)))
    # cache_dir and progress are not report settings: the SONATA reports section stays as written
    _edit_msr(sim, cache_dir=str(root / "cache"), progress=False)
    return sim


def _computed(template: Path, name: str, ranks: int) -> Path:
    sim = template.parent / name
    shutil.copytree(template, sim)
    if ranks == 1:
        _run(msr("compute", str(sim)))
    else:
        proc = run_mpi(ranks, msr("compute", str(sim)), timeout=300)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert json.loads((sim / "output" / "run.json").read_text())["status"] == "completed"
    return sim


@pytest.fixture(scope="module")
def serial_run(template) -> Path:
    return _computed(template, "serial", 1)


@pytest.fixture(scope="module")
def mpi_run(template, serial_run) -> Path:  # after serial_run: the mechanisms are built by then
    return _computed(template, "mpi2", 2)


RUNS = [
    pytest.param("serial_run", id="1-rank"),
    pytest.param("mpi_run", id="mpiexec-2", marks=pytest.mark.mpi),
]


def _report_files(output: Path) -> list[Path]:
    out = []
    for path in sorted(output.glob("*.h5")):
        with h5py.File(path, "r") as f:
            if "report" in f:
                out.append(path)
    return out


def _h5_report(path: Path, population: str) -> dict:
    """Everything h5py reads of one report population."""
    with h5py.File(path, "r") as f:
        pop = f["report"][population]
        data = pop["data"]
        return {
            "data": data[...],
            "valid_frames": int(data.attrs["valid_frames"]),
            "units": str(data.attrs["units"]),
            "node_ids": pop["mapping/node_ids"][...],
            "index_pointers": pop["mapping/index_pointers"][...],
            "element_ids": pop["mapping/element_ids"][...],
            "time": pop["mapping/time"][...],
            "time_units": str(pop["mapping/time"].attrs["units"]),
        }


def _columns_by_element(h5: dict) -> dict[tuple[int, int], np.ndarray]:
    """(node id, element id) -> that column of data, from the mapping as h5py reads it."""
    out = {}
    ptr = h5["index_pointers"].astype(np.int64)
    for i, node in enumerate(h5["node_ids"]):  # per-node loop: a test-side reference, a few nodes
        for col in range(ptr[i], ptr[i + 1]):
            out[(int(node), int(h5["element_ids"][col]))] = h5["data"][:, col]
    return out


def _assert_libsonata_reads_what_h5py_reads(path: Path, population: str, h5: dict) -> None:
    pop = libsonata.ElementReportReader(str(path))[population]
    start, stop, dt = h5["time"]
    assert (pop.times, pop.time_units, pop.data_units) == ((start, stop, dt), h5["time_units"], h5["units"])
    assert sorted(pop.get_node_ids()) == sorted(h5["node_ids"].tolist())
    frame = pop.get()
    data = np.asarray(frame.data)
    ids = np.asarray(frame.ids)
    # libsonata counts times as t += dt: equal to start + k dt up to float rounding
    np.testing.assert_allclose(frame.times, start + dt * np.arange(h5["data"].shape[0]), rtol=0, atol=1e-9)
    assert data.shape == h5["data"].shape
    expected = _columns_by_element(h5)
    assert sorted(map(tuple, ids.tolist())) == sorted(expected)
    for col, (node, element) in enumerate(ids):
        np.testing.assert_array_equal(data[:, col], expected[(int(node), int(element))])
    # a selection of nodes and a time window give the same values too
    some = sorted(h5["node_ids"].tolist())[::3]
    part = pop.get(node_ids=some, tstart=start + dt, tstop=start + 3 * dt)
    part_ids = [tuple(map(int, x)) for x in np.asarray(part.ids)]
    assert {n for n, _ in part_ids} == set(some)
    np.testing.assert_allclose(part.times, start + dt * np.arange(1, 4), rtol=0, atol=1e-9)
    np.testing.assert_array_equal(
        np.asarray(part.data), np.stack([expected[k][1:4] for k in part_ids], axis=1)
    )


@pytest.mark.parametrize("run", RUNS)
def test_reports_read_the_same_in_libsonata_and_h5py(run, request):
    sim = request.getfixturevalue(run)
    config = json.loads((sim / "simulation_config.json").read_text())
    files = _report_files(sim / "output")
    # every configured report of the enabled simulators has its file
    configured = {
        rep["name"]
        for name in ("neuron", "metabolism", "steps", "bloodflow")
        if config["multiscale_run"].get(name, {}).get("enabled")
        for rep in config["multiscale_run"][name].get("reports", [])
    }
    assert {p.stem for p in files} == configured and len(configured) >= 5
    for path in files:
        with h5py.File(path, "r") as f:
            populations = list(f["report"])
        assert libsonata.ElementReportReader(str(path)).get_population_names() == populations
        for population in populations:
            h5 = _h5_report(path, population)
            n_frames = h5["data"].shape[0]
            assert h5["valid_frames"] == n_frames > 0, path.name
            # a finished run fills every frame (no state variable here is exactly 0)
            assert np.all(h5["data"] != 0), path.name
            assert sorted(h5["node_ids"].tolist()) == list(range(N_NEURONS))
            _assert_libsonata_reads_what_h5py_reads(path, population, h5)


@pytest.mark.parametrize("run", RUNS)
def test_spikes_read_the_same_in_libsonata_and_h5py(run, request):
    sim = request.getfixturevalue(run)
    path = sim / "output" / "spikes.h5"
    with h5py.File(path, "r") as f:
        populations = list(f["spikes"])
        assert populations == ["neurons"]
        times = f["spikes/neurons/timestamps"][...]
        ids = f["spikes/neurons/node_ids"][...]
        assert f["spikes/neurons/timestamps"].attrs["units"] == "ms"
    assert times.size > 0  # the default inputs make the column fire within 200 ms
    assert np.all(np.diff(times) >= 0)
    assert set(ids.tolist()) <= set(range(N_NEURONS))
    reader = libsonata.SpikeReader(str(path))
    assert reader.get_population_names() == populations
    pop = reader["neurons"]
    assert pop.sorting == "by_time"
    assert pop.get() == list(zip(ids.tolist(), times.tolist(), strict=True))
    got = pop.get_dict()
    np.testing.assert_array_equal(got["node_ids"], ids)
    np.testing.assert_array_equal(got["timestamps"], times)


@pytest.mark.parametrize("run", RUNS)
def test_bluepysnap_opens_the_simulation_its_spikes_and_reports(run, request):
    bluepysnap = pytest.importorskip("bluepysnap")
    sim_dir = request.getfixturevalue(run)
    sim = bluepysnap.Simulation(str(sim_dir / "simulation_config.json"))
    output = sim_dir / "output"
    assert set(sim.reports) == {p.stem for p in _report_files(output)}
    for name, report in sim.reports.items():
        path = output / f"{name}.h5"
        assert Path(report.to_libsonata.file_name) == path.resolve()
        h5 = _h5_report(path, "neurons")
        start, stop, dt = h5["time"]
        assert report.population_names == ["neurons"]
        assert (report.time_start, report.time_stop, report.dt) == pytest.approx((start, stop, dt))
        assert report.data_units == h5["units"] and report.time_units == "ms"
        frame = report["neurons"].get()
        np.testing.assert_allclose(frame.index, start + dt * np.arange(h5["data"].shape[0]), atol=1e-9)
        order = np.argsort(h5["node_ids"])  # per-neuron reports: one column per node
        np.testing.assert_array_equal(np.asarray(frame.columns), h5["node_ids"][order])
        np.testing.assert_array_equal(frame.to_numpy(), h5["data"][:, order])
    with h5py.File(output / "spikes.h5", "r") as f:
        times, ids = f["spikes/neurons/timestamps"][...], f["spikes/neurons/node_ids"][...]
    spikes = sim.spikes["neurons"].get()
    np.testing.assert_array_equal(spikes.index, times)
    np.testing.assert_array_equal(spikes.to_numpy(), ids)


def test_msr_check_accepts_the_reports_section_of_init(template):
    proc = _run(msr("check", str(template)))
    assert "OK" in proc.stdout and "7 report(s)" in proc.stdout


def test_postproc_notebook_runs_on_the_default_run(serial_run):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(serial_run / "postproc.ipynb", as_version=4)  # the copy msr init wrote
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(serial_run)}}
    )
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    reports = _report_files(serial_run / "output")
    for path in reports:
        n = h5py.File(path, "r")["report/neurons/data"].shape[0]
        assert (
            f"{path.name} / neurons: {N_NEURONS} nodes, {N_NEURONS} elements, valid frames: {n} of {n}"
            in text
        )
    n_spikes = h5py.File(serial_run / "output" / "spikes.h5", "r")["spikes/neurons/timestamps"].size
    assert f"spikes.h5 / neurons: {n_spikes} spikes" in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1 + len(reports)  # the raster and one figure per report


def test_msr_post_processing_writes_the_html_of_the_default_run(serial_run):
    import base64
    import io
    import re

    import matplotlib.image

    _run(msr("post-processing", str(serial_run)))
    page = serial_run / "output" / "postproc.html"
    text = page.read_text()
    pngs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    images = [matplotlib.image.imread(io.BytesIO(base64.b64decode(b)), format="png") for b in pngs]
    reports = _report_files(serial_run / "output")
    # raster, timings and one figure per report, each a real picture
    assert len(images) == 2 + len(reports)
    assert all(img.ndim == 3 and img.shape[0] > 50 and img[..., :3].std() > 0.01 for img in images)
    assert not re.search(r"(src|href)=\"(?!data:)", text)
    n_spikes = h5py.File(serial_run / "output" / "spikes.h5", "r")["spikes/neurons/timestamps"].size
    assert f"<th>spikes</th><td>{n_spikes}</td>" in text
    for path in reports:
        assert path.name in text
    assert "completed" in text


# ---------------------------------------------------------------------------------------- kill -9
def _valid_frames_now(path: Path) -> int:
    """valid_frames of a report another process is writing (0 if it cannot be read yet)."""
    try:
        with h5py.File(path, "r", locking=False) as f:
            return int(f["report/neurons/data"].attrs["valid_frames"])
    except (OSError, KeyError):
        return 0


def _rows_with_data(data: np.ndarray) -> int:
    """1 + the index of the last frame holding any non-zero value (0 for an all-zero report)."""
    nonzero = np.flatnonzero(np.any(data != 0, axis=1))
    return int(nonzero[-1]) + 1 if nonzero.size else 0


def test_kill_9_mid_run_leaves_readable_reports(template):
    """A real ``msr compute`` killed with SIGKILL: every report opens, ``valid_frames`` frames are
    data, and nothing lies beyond them but the block that was being written at the kill."""
    sim = template.parent / "killed"
    shutil.copytree(template, sim)
    path = sim / "simulation_config.json"
    config = json.loads(path.read_text())
    config["run"]["tstop"] = 2000.0
    # a per-segment voltage report fills its 4 MiB buffer every few tens of ms simulated, so
    # blocks reach the file while the run goes on; the small reports flush only at the end
    config["multiscale_run"]["neuron"]["reports"].append(
        {"name": "v_segments", "variable": "v", "operator": "identity", "dt_ms": 0.1}
    )
    path.write_text(json.dumps(config, indent=2) + "\n")
    from multiscale_run.output.sonata_section import update_config_file

    assert update_config_file(sim)["v_segments"]["sections"] == "all"
    log = (sim / "compute.log").open("w")
    proc = subprocess.Popen(msr("compute", str(sim)), stdout=log, stderr=subprocess.STDOUT)
    watched = sim / "output" / "v_segments.h5"
    deadline = time.monotonic() + 120
    try:
        while _valid_frames_now(watched) == 0:
            assert proc.poll() is None, (sim / "compute.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no block of v_segments was written in 120 s"
            time.sleep(0.05)
        time.sleep(0.3)  # land somewhere between two blocks, not right after one
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        log.close()
    assert proc.returncode == -signal.SIGKILL
    output = sim / "output"
    assert not (output / "run.json").exists()  # killed mid-run, not finished

    files = _report_files(output)
    segments = None
    assert {p.stem for p in files} == {"v_segments", *config_reports(template)}
    for report in files:
        h5 = _h5_report(report, "neurons")
        data, valid = h5["data"], h5["valid_frames"]
        n_frames, n_columns = data.shape
        assert n_frames == round((h5["time"][1] - h5["time"][0]) / h5["time"][2])
        # the frames valid_frames counts are all data; beyond them only the block being written
        # when the kill came can hold values (its valid_frames update had not happened yet)
        block = max(1, min(n_frames, BUFFER_BYTES // (4 * n_columns)))
        written = _rows_with_data(data)
        assert np.all(data[:valid] != 0), report.name
        assert valid <= written <= valid + block, (report.name, valid, written, block)
        assert valid < n_frames, report.name
        _assert_libsonata_reads_what_h5py_reads(report, "neurons", h5)
        if report.stem == "v_segments":
            assert valid > 0 and n_columns > N_NEURONS  # several segments per neuron
            # membrane potentials in mV: a physiological range, not garbage
            assert data[:valid].min() > -120 and data[:valid].max() < 100
            segments = h5

    # bluepysnap opens the killed run's per-segment report as a compartment report
    bluepysnap = pytest.importorskip("bluepysnap")
    report = bluepysnap.Simulation(str(path)).reports["v_segments"]
    assert type(report).__name__ == "CompartmentReport"
    valid = segments["valid_frames"]
    frame = report["neurons"].get(t_stop=segments["time"][0] + (valid - 1) * segments["time"][2])
    assert frame.shape == (valid, segments["data"].shape[1])
    expected = _columns_by_element(segments)
    for (node, element), column in frame.items():
        np.testing.assert_array_equal(column.to_numpy(), expected[(node, element)][:valid])


def config_reports(template: Path) -> set[str]:
    msr_section = json.loads((template / "simulation_config.json").read_text())["multiscale_run"]
    return {
        rep["name"]
        for name in ("neuron", "metabolism")
        if msr_section[name].get("enabled")
        for rep in msr_section[name]["reports"]
    }


@pytest.mark.mpi
def test_per_segment_report_on_two_ranks(template, serial_run):
    """A NEURON variable with ``operator: identity`` is reported per segment: node = the owning
    neuron, one element per segment, the columns of both ranks in one file that libsonata and
    bluepysnap read; each neuron's soma column is the soma_v report of the same run."""
    sim = template.parent / "segments2"
    shutil.copytree(template, sim)
    path = sim / "simulation_config.json"
    config = json.loads(path.read_text())
    config["run"]["tstop"] = 80.0  # past the start of the inputs (50 ms): spikes in the data
    config["multiscale_run"]["neuron"]["reports"] += [
        {"name": "v_segments", "variable": "v", "operator": "identity", "dt_ms": 0.1},
        {"name": "ik_segments", "variable": "ik_nA", "operator": "identity", "dt_ms": 0.1},
        # frames between NEURON steps hold the last step's value; a node set picks columns
        {
            "name": "ik_soma_exc",
            "variable": "ik_nA",
            "node_set": "Excitatory",
            "start_ms": 10.05,
            "dt_ms": 0.3,
        },
    ]
    path.write_text(json.dumps(config, indent=2) + "\n")
    from multiscale_run.output.sonata_section import update_config_file

    update_config_file(sim)
    proc = run_mpi(2, msr("compute", str(sim)), timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    output = sim / "output"
    segments = _h5_report(output / "v_segments.h5", "neurons")
    soma = _h5_report(output / "soma_v.h5", "neurons")
    assert segments["valid_frames"] == segments["data"].shape[0] == soma["data"].shape[0]
    ptr = segments["index_pointers"].astype(np.int64)
    assert sorted(segments["node_ids"].tolist()) == list(range(N_NEURONS))
    assert np.all(np.diff(ptr) > 1)  # several segments per neuron
    _assert_libsonata_reads_what_h5py_reads(output / "v_segments.h5", "neurons", segments)
    by_element = _columns_by_element(segments)
    soma_by_node = _columns_by_element(soma)
    for node in range(N_NEURONS):
        columns = [v for (n, _), v in by_element.items() if n == node]
        assert any(np.array_equal(c, soma_by_node[(node, 0)]) for c in columns), node
    assert soma["data"].max() > 0  # at least one spike crossed 0 mV
    # NEURON's soma record of a current, from 10.05 ms every 0.3 ms: the soma segment's column of
    # the per-segment report at 10.0, 10.3, ... ms, for the excitatory cells only
    ik_segments, ik_soma = (
        _h5_report(output / "ik_segments.h5", "neurons"),
        _h5_report(output / "ik_soma_exc.h5", "neurons"),
    )
    ik_by_element = _columns_by_element(ik_segments)
    excitatory = libsonata.NodeStorage(str(sim / "circuit" / "nodes.h5")).open_population("neurons")
    exc_ids = excitatory.match_values("synapse_class", "EXC").flatten()
    assert sorted(ik_soma["node_ids"].tolist()) == sorted(exc_ids.tolist())
    assert 0 < len(exc_ids) < N_NEURONS
    np.testing.assert_allclose(ik_soma["time"], [10.05, 10.05 + 0.3 * ik_soma["data"].shape[0], 0.3])
    rows = 100 + 3 * np.arange(ik_soma["data"].shape[0])
    for (node, _), column in _columns_by_element(ik_soma).items():
        matches = [c[rows] for (n, _), c in ik_by_element.items() if n == node]
        assert any(np.array_equal(column, c) for c in matches), node
    assert np.abs(ik_soma["data"]).max() > 0
    bluepysnap = pytest.importorskip("bluepysnap")
    frame = bluepysnap.Simulation(str(path)).reports["v_segments"]["neurons"].get()
    assert frame.shape == segments["data"].shape
    for (node, element), column in frame.items():
        np.testing.assert_array_equal(column.to_numpy(), by_element[(node, element)])
