"""A failure on one rank ends every rank quickly with a non-zero exit and one clear message."""

from __future__ import annotations

import json
import sys
import time

import pytest
from conftest import metabolism_only, run_mpi

from multiscale_run.init import init_simulation

pytestmark = pytest.mark.mpi


@pytest.fixture(scope="module")
def metabolism_sim(tmp_path_factory):
    """A small metabolism-only simulation with a coupling, so every stage can fail."""
    sim = tmp_path_factory.mktemp("safety") / "sim"
    init_simulation(sim, neurons=8)
    return metabolism_only(sim)


def compute(sim, ranks, fault=None):
    start = time.monotonic()
    proc = run_mpi(
        ranks,
        [sys.executable, "-m", "multiscale_run.cli", "compute", str(sim), "--overwrite"],
        timeout=180,
        env={"MSR_INJECT_FAULT": fault} if fault else None,
    )
    return proc, time.monotonic() - start


@pytest.mark.parametrize("ranks", [2, 4])
def test_clean_run_exits_zero(metabolism_sim, ranks):
    proc, _ = compute(metabolism_sim, ranks)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((metabolism_sim / "output" / "run.json").read_text())["status"] == "completed"


@pytest.mark.parametrize("ranks", [2, 4])
@pytest.mark.parametrize("stage", ["setup", "advance", "coupling"])
def test_fault_on_one_rank_ends_all_ranks(metabolism_sim, ranks, stage):
    proc, seconds = compute(metabolism_sim, ranks, fault=f"{stage}@1")
    assert proc.returncode != 0
    message = f"msr: error on rank 1: InjectedFault: fault injected at {stage} on rank 1 (aborting all ranks)"
    assert proc.stderr.count(message) == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert seconds < 120
