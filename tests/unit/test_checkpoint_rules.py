"""When snapshots fall (``--checkpoint-every``, ``every_ms``) and what a resume may change."""

from __future__ import annotations

import itertools

import pytest

from multiscale_run.checkpoints import CheckpointSettings
from multiscale_run.checkpoints.compat import differences, portable, refused_changes
from multiscale_run.errors import UserError


@pytest.mark.parametrize(
    ("text", "every_ms", "every_minutes"),
    [
        ("500ms", 500.0, 30.0),
        ("2s", 2000.0, 30.0),
        ("10min", None, 10.0),
        ("1.5h", None, 90.0),
        ("1s,20min", 1000.0, 20.0),
    ],
)
def test_checkpoint_every_parses_simulated_and_wall_intervals(text, every_ms, every_minutes):
    settings = CheckpointSettings().with_every(text)
    assert (settings.every_ms, settings.every_minutes) == (every_ms, every_minutes)


@pytest.mark.parametrize("text", ["", "10", "5 days", "-1s", "0ms", "1s;2min"])
def test_checkpoint_every_refuses_what_it_cannot_read(text):
    with pytest.raises(UserError, match="--checkpoint-every"):
        CheckpointSettings().with_every(text)


def test_snapshots_fall_on_multiples_of_every_ms_whatever_the_step():
    settings = CheckpointSettings(every_ms=0.3)
    steps = [0.1 * k for k in range(31)]  # 0.1-ms steps with float noise (0.1 * 3 > 0.3)
    due = [t for prev, t in itertools.pairwise(steps) if settings.due_by_time(prev, t)]
    assert due == pytest.approx([0.3 * k for k in range(1, 11)])
    assert not CheckpointSettings(every_ms=None).due_by_time(0.0, 1e9)


def test_differences_name_every_changed_leaf_with_its_path():
    saved = {"run": {"tstop": 100.0, "dt": 0.025}, "list": [1, {"a": 2}], "gone": 1}
    current = {"run": {"tstop": 200.0, "dt": 0.025}, "list": [1, {"a": 3}], "new": 2}
    assert differences(saved, current) == [
        ("gone", 1, None),
        ("list[1].a", 2, 3),
        ("new", None, 2),
        ("run.tstop", 100.0, 200.0),
    ]


def test_a_resume_accepts_tstop_reports_and_swept_values_only():
    saved = {
        "run": {"tstop": 100.0, "dt": 0.025},
        "reports": {"soma": {"dt": 0.1}},
        "multiscale_run": {
            "neuron": {"reports": [{"name": "v"}], "ndts": 1},
            "metabolism": {"parameters": {"vATPasesn": 1.0}},
            "checkpoints": {"every_ms": 50.0},
        },
    }
    current = {
        "run": {"tstop": 300.0, "dt": 0.025},
        "reports": {"soma": {"dt": 1.0}},
        "multiscale_run": {
            "neuron": {"reports": [{"name": "v"}, {"name": "ik"}], "ndts": 2},
            "metabolism": {"parameters": {"vATPasesn": 1.2}},
            "checkpoints": {"every_ms": 20.0},
        },
    }
    refused = refused_changes(saved, current)
    assert [line.split(" ")[0] for line in refused] == [
        "multiscale_run.metabolism.parameters.vATPasesn",
        "multiscale_run.neuron.ndts",
    ]
    swept = ("multiscale_run.metabolism.parameters.vATPasesn",)
    assert [line.split(" ")[0] for line in refused_changes(saved, current, swept)] == [
        "multiscale_run.neuron.ndts"
    ]


def test_paths_inside_the_simulation_folder_compare_relative_to_it():
    saved = {"network": "/scratch/a/circuit/circuit_config.json", "other": "/data/x.h5"}
    moved = {"network": "/home/u/sim/circuit/circuit_config.json", "other": "/data/x.h5"}
    assert portable(saved, "/scratch/a") == portable(moved, "/home/u/sim")
    assert portable({"p": "/scratch/ab/c"}, "/scratch/a") == {"p": "/scratch/ab/c"}  # not inside it
