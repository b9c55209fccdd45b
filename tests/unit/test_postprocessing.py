"""The HTML post-processing report and the notebook, on a small run written with the real writers."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess

import matplotlib.image
import numpy as np
import pytest

from multiscale_run.output import ReportWriter, write_spikes
from multiscale_run.postprocessing import read_results, resolve_output_dir, write_html_report
from multiscale_run.resources import data_path

NODE_IDS = np.array([0, 1, 2, 3, 5])
DT, N_FRAMES = 0.5, 20


def make_run(sim_dir, crashed_after: int | None = None):
    """A simulation folder with config, reports (ATP per neuron, K+ per tet), spikes, summaries."""
    out = sim_dir / "output"
    out.mkdir(parents=True)
    config = {
        "version": 2,
        "manifest": {"$OUTPUT_DIR": "./output"},
        "network": "circuit_config.json",
        "run": {"tstop": N_FRAMES * DT, "dt": 0.025, "random_seed": 1},
        "output": {"output_dir": "${OUTPUT_DIR}", "spikes_file": "spikes.h5"},
    }
    (sim_dir / "simulation_config.json").write_text(json.dumps(config))
    frames = N_FRAMES if crashed_after is None else crashed_after
    atp = ReportWriter(
        out / "atp.h5",
        "All",
        NODE_IDS,
        1,
        0.0,
        N_FRAMES * DT,
        DT,
        "mM",
        attributes={"variable": "ATP_n", "simulator": "metabolism"},
    )
    ko = ReportWriter.for_global_space(
        out / "ko.h5", "tets", 8, 0.0, N_FRAMES * DT, DT, "mM", attributes={"variable": "KK_conc"}
    )
    for k in range(frames):
        atp.record(k * DT, 2.0 - 0.01 * k + 0.1 * NODE_IDS)  # mean 2.0 - 0.01 k + 0.22
        ko.record(k * DT, np.full(8, 3.0 + 0.1 * k))
    atp.flush()
    ko.flush()
    if crashed_after is None:
        atp.close()
        ko.close()
    write_spikes(out / "spikes.h5", {"All": ([0, 2, 5, 2], [1.0, 2.5, 3.0, 7.5])})
    (out / "run.json").write_text(
        json.dumps({"ranks": 2, "status": "finished", "config": "simulation_config.json"})
    )
    (out / "timings.json").write_text(
        json.dumps(
            {
                "ranks": 2,
                "total_seconds": 5.0,
                "activities": {
                    "advance:neuron": {"seconds": 1.25, "calls": 40},
                    "advance:metabolism": {"seconds": 3.5, "calls": 4},
                },
            }
        )
    )
    (out / "excluded_neurons.csv").write_text(
        "node_id,time_ms,simulator,variable,value,reason\n3,4.5,metabolism,ATP_n,-0.1,below lb 0\n"
    )
    return out, (atp, ko)


def test_output_dir_comes_from_the_config(tmp_path):
    out, _ = make_run(tmp_path)
    assert resolve_output_dir(tmp_path) == (out.resolve(), (tmp_path / "simulation_config.json").resolve())
    assert resolve_output_dir(out)[0] == out.resolve()
    with pytest.raises(FileNotFoundError, match="neither"):
        resolve_output_dir(tmp_path / "missing")


def test_results_summaries_match_the_written_values(tmp_path):
    make_run(tmp_path)
    res = read_results(tmp_path)
    assert res.run["ranks"] == 2 and set(res.spikes) == {"All"}
    np.testing.assert_array_equal(res.spikes["All"][1], [1.0, 2.5, 3.0, 7.5])
    atp = next(r for r in res.reports if r.file == "atp.h5")
    k = np.arange(N_FRAMES)
    np.testing.assert_allclose(atp.mean, 2.0 - 0.01 * k + 0.1 * NODE_IDS.mean(), rtol=1e-6)
    np.testing.assert_allclose(atp.maximum - atp.minimum, 0.5, rtol=1e-5)
    np.testing.assert_allclose(atp.times_ms, DT * k)
    assert atp.units == "mM" and atp.attributes["variable"] == "ATP_n"
    assert res.excluded == [
        {
            "node_id": "3",
            "time_ms": "4.5",
            "simulator": "metabolism",
            "variable": "ATP_n",
            "value": "-0.1",
            "reason": "below lb 0",
        }
    ]


def _embedded_pngs(text):
    return [
        matplotlib.image.imread(io.BytesIO(base64.b64decode(b64)), format="png")
        for b64 in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    ]


def test_html_report_is_self_contained(tmp_path):
    out, _ = make_run(tmp_path)
    page = write_html_report(tmp_path)
    assert page == out.resolve() / "postproc.html"
    text = page.read_text()
    # raster, timings, two reports: real PNG images that decode
    images = _embedded_pngs(text)
    assert len(images) == 4 and all(img.ndim == 3 and img.shape[0] > 50 for img in images)
    assert not re.search(r"(src|href)=\"(?!data:)", text)  # nothing fetched from elsewhere
    assert "ATP_n" in text and "KK_conc" in text and "below lb 0" in text
    assert "<th>spikes</th><td>4</td>" in text and "<th>spiking nodes</th><td>3</td>" in text
    # timings: slowest first, with the share of the total wall time
    assert text.index("advance:metabolism") < text.index("advance:neuron") and "70.0 %" in text


def test_crashed_run_report_says_how_far_data_go(tmp_path):
    _, writers = make_run(tmp_path, crashed_after=7)
    res = read_results(tmp_path)
    atp = next(r for r in res.reports if r.file == "atp.h5")
    assert atp.valid_frames == 7 and atp.n_frames == N_FRAMES and atp.times_ms.size == 7
    text = write_html_report(tmp_path).read_text()
    assert "only 7 of 20 frames were written" in text
    for w in writers:
        w.close()


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium is not installed (apt-get install -y chromium)")


def _render(html_path, tmp_path):
    """Load a page in headless Chromium; returns (screenshot path, console error lines)."""
    shot = tmp_path / f"{html_path.stem}.png"
    profile = tmp_path / f"profile-{html_path.stem}"
    proc = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1100,1600",
            f"--screenshot={shot}",
            html_path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln]
    errors = [ln for ln in console if "ERROR" in ln or "Uncaught" in ln or "Failed to load" in ln]
    return shot, errors


def test_html_report_renders_in_chromium_without_console_errors(tmp_path):
    make_run(tmp_path / "sim")
    page = write_html_report(tmp_path / "sim")
    # the capture works: a page that logs an error is caught
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>console.error('deliberate');undefinedCall();</script></body></html>")
    _, bad_errors = _render(bad, tmp_path)
    assert bad_errors, "console errors are not captured"

    shot, errors = _render(page, tmp_path)
    assert errors == []
    img = matplotlib.image.imread(shot)
    assert img.shape[0] >= 1000 and img[..., :3].std() > 0.05  # text and figures, not a blank page


def test_postproc_notebook_runs_top_to_bottom(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    make_run(tmp_path)
    nb_path = data_path("templates") / "postproc.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # raster and one figure per report
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "atp.h5" in text and "valid frames: 20 of 20" in text


def test_report_of_a_run_that_wrote_nothing(tmp_path):
    out = tmp_path / "output"
    out.mkdir()
    text = write_html_report(out).read_text()
    assert "no run.json" in text and "no spike file" in text and "no reports" in text
    with pytest.raises(FileNotFoundError, match="does not exist"):
        (tmp_path / "sim").mkdir()
        (tmp_path / "sim" / "simulation_config.json").write_text('{"output": {"output_dir": "nowhere"}}')
        write_html_report(tmp_path / "sim")
