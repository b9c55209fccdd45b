"""Warm start: run the base simulation once to ``warm_start.t_ms``, then start every point from
that one snapshot ("run the coupled model to steady state once, branch many").

The warm-up run is a simulation folder of its own, ``SWEEP/warm_start/`` (the base config with
``run.tstop = t_ms``), run by the sweep's executor like a point and skipped once completed. Each
point then runs ``msr compute POINT --resume-from SNAPSHOT --allow-change <each varied path>``:
it continues the warm-up run's reports (its frames before ``t_ms`` are the warm-up's, the same
in every point) with its own parameter values from ``t_ms`` on; its ``run.json`` names the
snapshot (``resumed_from``). A varied value that would change what the snapshot holds (the cells,
the simulators, the time steps) is refused before anything runs.
"""

from __future__ import annotations

import re
from pathlib import Path

from multiscale_run.config import Config, Problem
from multiscale_run.errors import UserError

FOLDER = "warm_start"
#: config paths a warm-started point may not vary: they change what the snapshot's state is
STRUCTURAL = re.compile(
    r"(node_set|node_sets_file|network|components.*|run\.dt|run\.random_seed|multiscale_run\.order"
    r"|multiscale_run\.\w+\.(enabled|ndts|solver|backend|mesh_file|mod_dir)|multiscale_run\.checkpoints.*)"
)
#: initial values: the shared snapshot replaces them, so varying them would change nothing
INITIAL = re.compile(
    r"(conditions\.v_init|multiscale_run\.\w+\.(initial_state|initial_concentrations_mM)(\..*)?"
    r"|multiscale_run\.steps\.species\.\w+\.conc_0_mM)"
)


def parse(r, data) -> float | None:
    """``warm_start: {"t_ms": ...}`` of a sweep file (``r``: the sweep file's reader)."""
    warm = r.obj(data, "warm_start", ("t_ms",))
    t_ms = r.number(warm, "t_ms", "warm_start")
    if t_ms is None or t_ms <= 0:
        r.problem("warm_start.t_ms", "missing or not > 0", "the time (ms) of the shared snapshot")
        return None
    return t_ms


def problems(sweep, base: Config, candidates: list[dict]) -> list[Problem]:
    """What makes this sweep's warm start impossible, found before anything runs."""
    from multiscale_run.validation.checks import uncheckpointable

    if not sweep.warm_start_ms:
        return []
    file, t_ms, out = str(sweep.file), sweep.warm_start_ms, []
    from multiscale_run.metabolism.parameters import INPUTS

    inputs = {f"multiscale_run.metabolism.parameters.{name}" for name in INPUTS}
    # a spike input's events are queued at t = 0: the snapshot holds them (NEURON's event queue)
    spike_inputs = [f"inputs.{k}" for k, v in base.inputs.items() if v.get("input_type") == "spikes"]
    for p in sweep.parameters:
        if any(p.path == k or p.path.startswith(k + ".") for k in spike_inputs):
            out.append(
                Problem(
                    file,
                    f"parameters.{p.path}",
                    "cannot be varied with a warm start: the spike input's events are in the shared "
                    "snapshot's event queue",
                    "parameters that act after the snapshot, or no warm_start",
                )
            )
        elif INITIAL.fullmatch(p.path) or p.path in inputs:
            out.append(
                Problem(
                    file,
                    f"parameters.{p.path}",
                    "is an initial value or a coupled input, which a warm start takes from the shared "
                    "snapshot",
                    "parameters that act after the snapshot, or no warm_start",
                )
            )
        elif STRUCTURAL.fullmatch(p.path):
            out.append(
                Problem(
                    file,
                    f"parameters.{p.path}",
                    "cannot be varied with a warm start: it changes what the shared snapshot holds",
                    "parameters that act after the snapshot, or no warm_start",
                )
            )
    shortest = min((c.get("run.tstop", base.run.tstop_ms) for c in candidates), default=base.run.tstop_ms)
    if t_ms >= shortest:
        out.append(
            Problem(file, "warm_start.t_ms", f"{t_ms:g} ms is not before a point's tstop ({shortest:g} ms)")
        )
    if unable := uncheckpointable(base):
        out.append(Problem(file, "warm_start", f"simulator {unable[0]} cannot be checkpointed"))
    return out


def prepare(sweep, base: Config, executor) -> Path:
    """Run (or find, when it completed before) the warm-up and return its snapshot folder."""
    from multiscale_run.checkpoints.store import CHECKPOINT_DIR, newest_complete
    from multiscale_run.sweep.driver import run_batch
    from multiscale_run.sweep.points import COMPLETED, Point, write_point

    warm = Point(FOLDER, sweep.output / FOLDER, {"run.tstop": sweep.warm_start_ms})
    write_point(warm, base, sweep.executor)
    run_batch(executor, [warm], retry_failed=True, first_alone=False)
    if warm.status != COMPLETED:
        raise UserError(f"the warm-start run failed: {warm.state.get('error')}", str(warm.directory))
    root = warm.directory / "output" / CHECKPOINT_DIR
    snapshot = newest_complete(root)
    if snapshot is None or abs(snapshot.t_ms - sweep.warm_start_ms) > 1e-9:
        raise UserError(f"the warm-start run left no snapshot at {sweep.warm_start_ms:g} ms", str(root))
    return snapshot.path


def compute_args(sweep, snapshot: Path) -> list[str]:
    """The ``msr compute`` options of a point started from ``snapshot``."""
    allowed = [arg for p in sweep.parameters for arg in ("--allow-change", p.path)]
    return ["--resume-from", str(snapshot), *allowed]
