"""SONATA reports and spikes on one rank, judged by libsonata, h5py and bluepysnap."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import tracemalloc

import h5py
import libsonata
import numpy as np
import pytest

from multiscale_run.output import (
    VALID_FRAMES_ATTR,
    FrameClock,
    ReportWriter,
    read_valid_frames,
    write_spikes,
)


def test_frame_clock_is_right_open_like_libsonata():
    clock = FrameClock.from_window(0.0, 1.0, 0.1)
    assert clock.n_frames == 10 and clock.stop_ms == pytest.approx(1.0)
    # a window that is not a multiple of dt still ends before end_ms
    clock = FrameClock.from_window(0.0, 1.05, 0.1)
    assert clock.n_frames == 11 and clock.time_ms(10) < 1.05
    assert FrameClock.from_window(2.0, 2.0, 0.1).n_frames == 0
    assert clock.last_frame_at(0.3 - 1e-12) == 3  # float noise on the caller's clock
    assert clock.last_frame_at(-0.5) == -1


@pytest.mark.parametrize(
    ("start", "end", "dt", "message"),
    [
        (0.0, 1.0, 0.0, "dt_ms"),
        (0.0, 1.0, float("nan"), "dt_ms"),
        (1.0, 0.5, 0.1, "before start_ms"),
        (-1.0, 0.5, 0.1, "t >= 0"),
    ],
)
def test_frame_clock_rejects_bad_windows(start, end, dt, message):
    with pytest.raises(ValueError, match=message):
        FrameClock.from_window(start, end, dt)


def test_report_is_full_of_zeros_at_creation(tmp_path):
    path = tmp_path / "r.h5"
    w = ReportWriter(path, "All", [4, 1, 2], [2, 1, 3], 0.0, 5.0, 0.5, "mM")
    # readable by another library before any frame, with its final shape
    w._file.flush()
    pop = libsonata.ElementReportReader(str(path))["All"]
    data = np.asarray(pop.get().data)
    assert data.shape == (10, 6) and not data.any()
    assert read_valid_frames(path) == 0
    w.close()


def test_serial_report_values_as_libsonata_reads_them(tmp_path):
    path = tmp_path / "r.h5"
    node_ids = np.array([9, 2, 5])
    counts = np.array([1, 3, 2])
    with ReportWriter(path, "cells", node_ids, counts, 1.0, 2.0, 0.25, "mV", buffer_bytes=30) as w:
        assert w.n_frames == 4
        t, recorded = 0.0, []
        while t < 2.5:
            if w.due(t):
                assert w.record(t, np.arange(6) * 10.0 + t) == 1
                recorded.append(t)
            t += 0.125
        assert recorded == [1.0, 1.25, 1.5, 1.75]
        assert not w.due(2.0)  # right-open window: no frame at end_ms
    pop = libsonata.ElementReportReader(str(path))["cells"]
    assert pop.times == (1.0, 2.0, 0.25)
    df = pop.get(node_ids=[2, 9])
    np.testing.assert_array_equal(np.asarray(df.ids), [[2, 0], [2, 1], [2, 2], [9, 0]])
    want = np.array([[10.0 + t, 20.0 + t, 30.0 + t, t] for t in recorded], dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(df.data), want)
    with h5py.File(path) as f:
        assert f["report/cells/data"].attrs[VALID_FRAMES_ATTR] == 4
        assert f["report/cells/mapping/node_ids"].attrs["sorted"] == 0
        np.testing.assert_array_equal(f["report/cells/mapping/index_pointers"][...], [0, 1, 4, 6])
        np.testing.assert_array_equal(f["report/cells/mapping/element_ids"][...], [0, 0, 1, 2, 0, 1])


def test_skipped_frames_hold_the_latest_values(tmp_path, caplog):
    path = tmp_path / "r.h5"
    with ReportWriter(path, "All", [0], 1, 0.0, 1.0, 0.1, "mM") as w:
        assert w.record(0.0, [1.0]) == 1
        assert w.record(0.35, [2.0]) == 3  # frames 0.1, 0.2, 0.3
        assert w.record(0.35, [5.0]) == 0  # nothing new is due
    assert "hold the latest values" in caplog.text
    with h5py.File(path) as f:
        np.testing.assert_array_equal(f["report/All/data"][:5, 0], [1, 2, 2, 2, 0])
        assert f["report/All/data"].attrs[VALID_FRAMES_ATTR] == 4


def test_frames_recorded_in_batches_equal_frames_recorded_one_by_one(tmp_path):
    """Batches that straddle the buffer blocks (3 frames per block) land where single frames do."""
    node_ids, counts = np.array([3, 1]), np.array([2, 1])
    frames = np.arange(11 * 3, dtype=float).reshape(11, 3) ** 1.5
    paths = tmp_path / "single.h5", tmp_path / "batched.h5"
    for path in paths:
        with ReportWriter(path, "All", node_ids, counts, 0.0, 1.1, 0.1, "mV", buffer_bytes=36) as w:
            if path.name == "single.h5":
                for k, row in enumerate(frames):
                    w.record(0.1 * k, row)
            else:
                assert [w.record_frames(frames[a:b]) for a, b in ((0, 0), (0, 2), (2, 9), (9, 11))] == [
                    0,
                    2,
                    7,
                    2,
                ]
                with pytest.raises(ValueError, match=r"expected \(<= 0, 3\)"):
                    w.record_frames(frames[:1])
    readers = (libsonata.ElementReportReader(str(p))["All"] for p in paths)
    single, batched = (np.asarray(r.get(node_ids=[1, 3]).data) for r in readers)
    np.testing.assert_array_equal(batched, single)
    np.testing.assert_array_equal(batched, frames[:, [2, 0, 1]].astype(np.float32))  # node 1, then 3
    assert read_valid_frames(paths[1]) == 11


def test_bad_input_is_reported(tmp_path):
    with pytest.raises(ValueError, match="one count per node"):
        ReportWriter(tmp_path / "a.h5", "All", [0, 1], [1, 2, 3], 0, 1, 0.1, "mM")
    with pytest.raises(ValueError, match="at least one element"):
        ReportWriter(tmp_path / "b.h5", "All", [0, 1], [1, 0], 0, 1, 0.1, "mM")
    with pytest.raises(ValueError, match="reported twice"):
        ReportWriter(tmp_path / "c.h5", "All", [3, 3], 1, 0, 1, 0.1, "mM")
    with pytest.raises(ValueError, match="unknown report driver"):
        ReportWriter(tmp_path / "d.h5", "All", [3], 1, 0, 1, 0.1, "mM", driver="fast")
    w = ReportWriter(tmp_path / "e.h5", "All", [0, 1], 1, 0, 1, 0.1, "mM")
    with pytest.raises(ValueError, match=r"expected \(2,\)"):
        w.record(0.0, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"frames of shape \(2,\)"):
        w.record_frames(np.ones(2))
    w.close()
    with pytest.raises(RuntimeError, match="closed"):
        w.record_frames(np.ones((1, 2)))
    with pytest.raises(RuntimeError, match="closed"):
        w.record(0.1, [1.0, 2.0])


def test_global_space_report_accepts_the_full_vector(tmp_path):
    path = tmp_path / "tets.h5"
    with ReportWriter.for_global_space(path, "tets", 5, 0.0, 0.3, 0.1, "mM") as w:
        for k in range(3):
            w.record(0.1 * k, np.arange(5) + 10.0 * k)
    pop = libsonata.ElementReportReader(str(path))["tets"]
    assert pop.get_node_ids() == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(np.asarray(pop.get(node_ids=[3]).data)[:, 0], [3, 13, 23])


def test_buffer_memory_does_not_grow_with_run_length(tmp_path):
    def peak_bytes(n_frames):
        values = np.ones(2000)
        tracemalloc.start()
        with ReportWriter(
            tmp_path / f"m{n_frames}.h5",
            "All",
            np.arange(2000),
            1,
            0.0,
            n_frames * 1.0,
            1.0,
            "mV",
            buffer_bytes=2**20,
        ) as w:
            for i in range(n_frames):
                w.record(float(i), values)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    short, long = peak_bytes(200), peak_bytes(2000)  # 1.6 MB and 16 MB of frames
    assert long < 4 * 2**20, long
    assert long < 1.5 * short + 2**19


def test_spikes_are_sorted_by_time(tmp_path):
    path = write_spikes(
        tmp_path / "out" / "spikes.h5", {"All": ([3, 1, 2, 1, 0], [5.0, 1.0, 1.0, 0.5, 7.25])}
    )
    pop = libsonata.SpikeReader(str(path))["All"]
    assert pop.sorting == "by_time" and pop.times == (0.5, 7.25)
    assert pop.get() == [(1, 0.5), (1, 1.0), (2, 1.0), (3, 5.0), (0, 7.25)]
    assert pop.get(node_ids=[1]) == [(1, 0.5), (1, 1.0)]
    with h5py.File(path) as f:
        assert f["spikes/All/timestamps"].attrs["units"] == "ms"
        assert f["spikes/All/node_ids"].dtype == np.uint64


def test_no_spikes_is_a_valid_file(tmp_path):
    path = write_spikes(tmp_path / "spikes.h5", {"All": ([], [])})
    assert libsonata.SpikeReader(str(path))["All"].get() == []


def test_spikes_reject_mismatched_arrays(tmp_path):
    with pytest.raises(ValueError, match="pair up"):
        write_spikes(tmp_path / "s.h5", {"All": ([1, 2], [0.5])})
    with pytest.raises(ValueError, match="not finite"):
        write_spikes(tmp_path / "s.h5", {"All": ([1], [np.nan])})


def test_spikes_of_several_populations_each_in_its_group(tmp_path):
    path = write_spikes(
        tmp_path / "spikes.h5",
        {"v1": ([1, 0], [2.0, 1.0]), "v1b": ([1, 1, 0], [0.5, 3.0, 0.5]), "x": ([], [])},
    )
    reader = libsonata.SpikeReader(str(path))
    assert sorted(reader.get_population_names()) == ["v1", "v1b", "x"]
    assert reader["v1"].get() == [(0, 1.0), (1, 2.0)]
    assert reader["v1b"].get() == [(0, 0.5), (1, 0.5), (1, 3.0)] and reader["x"].get() == []


def test_a_report_over_two_populations_has_one_group_each(tmp_path):
    """Local nodes grouped by population: each population's nodes, elements and columns land in
    its own ``/report/<population>`` group, as libsonata reads them."""
    path = tmp_path / "r.h5"
    # nodes 3 and 5 of "a" (1 and 2 elements), node 3 of "b" (2 elements); "c" has none
    w = ReportWriter(
        path, ["a", "b", "c"], [3, 5, 3], [1, 2, 2], 0.0, 2.0, 1.0, "mV", node_population_local=[0, 0, 1]
    )
    w.record(0.0, np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    w.record(1.0, np.array([10.0, 20.0, 30.0, 40.0, 50.0]))
    w.close()
    reader = libsonata.ElementReportReader(str(path))
    assert sorted(reader.get_population_names()) == ["a", "b"]
    a, b = reader["a"].get(), reader["b"].get()
    assert [tuple(i) for i in a.ids] == [(3, 0), (5, 0), (5, 1)]
    np.testing.assert_array_equal(np.asarray(a.data), [[1, 2, 3], [10, 20, 30]])
    assert [tuple(i) for i in b.ids] == [(3, 0), (3, 1)]
    np.testing.assert_array_equal(np.asarray(b.data), [[4, 5], [40, 50]])
    assert read_valid_frames(path, "b") == 2
    with pytest.raises(ValueError, match="node_population_local"):
        ReportWriter(
            tmp_path / "s.h5", ["a", "b"], [0, 1], 1, 0.0, 1.0, 1.0, "mV", node_population_local=[1, 0]
        )


SLOW_WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from multiscale_run.output import ReportWriter
    w = ReportWriter(sys.argv[1], "All", np.arange(50), 3, 0.0, 1000.0, 1.0, "mM", flush_interval_s=0.0)
    for i in range(1000):
        w.record(float(i), np.full(150, i + 1.0))
        print(i + 1, flush=True)
        time.sleep(0.02)
    """
)


def test_kill_9_leaves_a_readable_report_that_says_how_far_it_goes(tmp_path):
    path = tmp_path / "r.h5"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        printed = 0
        while printed < 25:
            line = proc.stdout.readline()
            assert line, "the writer died before it was killed"
            printed = int(line)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    valid = read_valid_frames(path)
    assert printed <= valid < 1000  # killed mid-run, and every printed frame is counted
    pop = libsonata.ElementReportReader(str(path))["All"]
    data = np.asarray(pop.get().data)
    assert data.shape == (1000, 150)
    # valid frames hold exactly what was written; frames are counted only once on disk, so at
    # most the one frame in flight at the kill may lie beyond valid_frames
    np.testing.assert_array_equal(data[:valid], np.repeat(np.arange(1, valid + 1.0)[:, None], 150, 1))
    assert not data[valid + 1 :].any()
    with h5py.File(path) as f:
        np.testing.assert_array_equal(f["report/All/data"][:valid], data[:valid])


def _minimal_circuit(root, node_ids):
    """A SONATA circuit bluepysnap accepts: one biophysical population with positions."""
    n = int(max(node_ids)) + 1
    with h5py.File(root / "nodes.h5", "w") as f:
        pop = f.create_group("nodes/All")
        pop["node_type_id"] = np.full(n, -1, dtype=np.int64)
        grp = pop.create_group("0")
        for axis in "xyz":
            grp[axis] = np.arange(n, dtype=np.float64)
        grp["model_type"] = np.array([b"biophysical"] * n)
        grp["morphology"] = np.array([b"cell"] * n)
        grp["model_template"] = np.array([b"hoc:cell"] * n)
    (root / "node_sets.json").write_text(json.dumps({"All": {"population": "All"}}))
    (root / "circuit_config.json").write_text(
        json.dumps(
            {
                "version": 2,
                "node_sets_file": "node_sets.json",
                "networks": {
                    "nodes": [
                        {
                            "nodes_file": "nodes.h5",
                            "populations": {
                                "All": {
                                    "type": "biophysical",
                                    "morphologies_dir": ".",
                                    "biophysical_neuron_models_dir": ".",
                                }
                            },
                        }
                    ],
                    "edges": [],
                },
            }
        )
    )


def test_bluepysnap_opens_the_simulation_outputs(tmp_path):
    bluepysnap = pytest.importorskip("bluepysnap")
    node_ids = np.array([4, 0, 2])
    _minimal_circuit(tmp_path, node_ids)
    out = tmp_path / "output"
    with ReportWriter(out / "atp.h5", "All", node_ids, 1, 0.0, 1.0, 0.25, "mM") as w:
        for k in range(4):
            w.record(0.25 * k, 100.0 * node_ids + k)
    write_spikes(out / "spikes.h5", {"All": ([2, 4, 2], [0.75, 0.5, 0.25])})
    (tmp_path / "simulation_config.json").write_text(
        json.dumps(
            {
                "version": 2,
                "network": "circuit_config.json",
                "node_sets_file": "node_sets.json",
                "run": {"tstop": 1.0, "dt": 0.25, "random_seed": 1},
                "output": {"output_dir": "output", "spikes_file": "spikes.h5"},
                "reports": {
                    "atp": {
                        "type": "compartment",
                        "cells": "All",
                        "sections": "soma",
                        "variable_name": "ATP_n",
                        "unit": "mM",
                        "dt": 0.25,
                        "start_time": 0.0,
                        "end_time": 1.0,
                    }
                },
            }
        )
    )
    sim = bluepysnap.Simulation(str(tmp_path / "simulation_config.json"))
    spikes = sim.spikes["All"].get()
    assert list(spikes.index) == [0.25, 0.5, 0.75] and list(spikes.values) == [2, 4, 2]
    report = sim.reports["atp"]
    assert report.data_units == "mM" and report.dt == 0.25
    frame = report["All"].get([0, 4])
    np.testing.assert_array_equal(frame.index, [0.0, 0.25, 0.5, 0.75])
    np.testing.assert_array_equal(frame.to_numpy(), [[k, 400.0 + k] for k in range(4)])


def _report_schema():
    jsonschema = pytest.importorskip("jsonschema")
    from multiscale_run.resources import _PACKAGE

    schema = json.loads((_PACKAGE / "config" / "schema" / "report.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema), schema


def test_report_schema_has_a_default_and_description_for_every_key():
    _, schema = _report_schema()
    assert schema["additionalProperties"] is False
    for key, prop in schema["properties"].items():
        assert "default" in prop and prop.get("description"), key


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "atp", "variable": "ATP_n", "dt_ms": 1.0, "operator": "soma"}, None),
        ({"name": "ko", "variable": "KK_conc", "population": "tets", "end_ms": 100}, None),
        ({"variable": "ATP_n"}, "'name' is a required property"),
        ({"name": "a/b", "variable": "ATP_n"}, "does not match"),
        ({"name": "atp", "variable": "ATP_n", "dt": 1.0}, "Additional properties"),
        ({"name": "atp", "variable": "ATP_n", "start_ms": -1}, "less than the minimum"),
    ],
)
def test_report_schema_judges_entries(entry, message):
    validator, _ = _report_schema()
    errors = [e.message for e in validator.iter_errors(entry)]
    if message is None:
        assert errors == []
    else:
        assert any(message in e for e in errors), errors


def test_report_window_from_config_entries():
    from multiscale_run.output import report_window

    assert report_window({"name": "a", "variable": "v"}, 0.025, 100.0) == (0.0, 100.0, 0.025)
    assert report_window({"dt_ms": 0, "end_ms": -1}, 10.0, 300.0) == (0.0, 300.0, 10.0)
    assert report_window({"dt_ms": 5.0, "start_ms": 20, "end_ms": 1e9}, 1.0, 300.0) == (20.0, 300.0, 5.0)
    # a window that starts after tstop has no frame
    start, end, dt = report_window({"start_ms": 500}, 1.0, 300.0)
    assert FrameClock.from_window(start, end, dt).n_frames == 0


def test_empty_window_gives_an_empty_readable_report(tmp_path):
    path = tmp_path / "r.h5"
    with ReportWriter(path, "All", [0, 1], 1, 5.0, 5.0, 0.1, "mM") as w:
        assert w.n_frames == 0 and not w.due(5.0)
        assert w.record(5.0, [1.0, 2.0]) == 0
    pop = libsonata.ElementReportReader(str(path))["All"]
    assert pop.get_node_ids() == [0, 1] and read_valid_frames(path) == 0
