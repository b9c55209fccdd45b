"""``msr compute``: check the config, claim the output folder, resume if asked, run on every rank."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from multiscale_run.checkpoints import CHECKPOINT_DIR, CheckpointSettings
from multiscale_run.checkpoints.compat import check_resumable
from multiscale_run.checkpoints.store import Snapshot, newest_valid, verify
from multiscale_run.config import ConfigError, load
from multiscale_run.errors import UserError
from multiscale_run.interrupt import StopRequest
from multiscale_run.output_errors import output_errors
from multiscale_run.output_lock import claimed_output
from multiscale_run.parallel import Parallel, abort_on_error
from multiscale_run.simulation import Simulation
from multiscale_run.validation import semantic_problems, semantic_warnings
from multiscale_run.validation.checks import uncheckpointable

log = logging.getLogger(__name__)


def run_simulation(
    directory: Path | str,
    use_cache: bool = True,
    progress: bool | None = None,
    verbose: bool = False,
    overwrite: bool = False,
    resume: bool = False,
    checkpoint_every: str | None = None,
    may_change: tuple[str, ...] = (),
    resume_from: Path | None = None,
) -> str:
    """Check the config, then run the simulation in ``directory`` on every rank of MPI_COMM_WORLD.

    The output folder is locked for the run and must not hold an earlier run's results unless
    ``overwrite`` (:mod:`multiscale_run.output_lock`) or ``resume``: then the run continues from
    the newest valid snapshot in ``<output_dir>/checkpoints`` into the same files, provided
    nothing but what :mod:`multiscale_run.checkpoints.compat` allows (and the config paths in
    ``may_change``) changed. ``resume_from`` starts the run from another run's snapshot folder
    (a sweep's warm start: :func:`start_from`), unless ``resume`` finds one of its own.
    ``checkpoint_every`` overrides the config's snapshot intervals
    (``--checkpoint-every``). Storage failures end the run as an
    :class:`~multiscale_run.errors.OutputError`, SIGINT/SIGTERM/SIGUSR1 as a clean
    :class:`~multiscale_run.interrupt.RunInterrupted`."""
    parallel = Parallel()
    # Config problems are found identically on every rank before any collective: raise normally.
    config = load(directory)
    problems = semantic_problems(config, ranks=parallel.size)
    if problems:
        raise ConfigError(problems)
    if parallel.is_root:
        for warning in semantic_warnings(config):
            log.warning("warning: %s", warning)
    settings = CheckpointSettings.from_config(config)
    if checkpoint_every:
        settings = settings.with_every(checkpoint_every)
        if unable := uncheckpointable(config):
            raise UserError(
                f"--checkpoint-every: simulator {unable[0]} cannot be checkpointed", str(config.path)
            )
    out = config.output_dir
    snapshot = newest_valid(out / CHECKPOINT_DIR, parallel) if resume else None
    copied = None  # a snapshot of another run, whose reports the run continues
    if snapshot is None and resume_from is not None:
        snapshot = start_from(Path(resume_from), parallel, str(config.path))
        resume, copied = True, snapshot
    elif resume and snapshot is None:
        where = out / CHECKPOINT_DIR
        raise UserError(f"no complete snapshot in {where} to resume from", str(config.path))
    if snapshot is not None:
        refusal = None
        if parallel.is_root:
            try:
                check_resumable(snapshot.manifest, snapshot.config, config, parallel.size, may_change)
            except UserError as exc:
                refusal = str(exc)
        refusal = parallel.bcast(refusal)
        if refusal is not None:
            raise UserError(refusal)
    # Claiming the folder is collective and its refusals are alike on every rank: raised normally.
    with (
        claimed_output(out, parallel, overwrite, resume=resume),
        abort_on_error(parallel, verbose),
        output_errors(out),
        StopRequest(parallel) as stop,
    ):
        if copied is not None:
            copy_reports(copied, out, parallel)
        sim = Simulation(
            config, parallel, use_cache=use_cache, progress=progress, stop=stop, checkpoints=settings
        )
        if snapshot is not None:
            if parallel.is_root:
                log.info("resuming from %s (t=%g ms)", snapshot.path, snapshot.t_ms)
            sim.record.resumed_from = {"snapshot": str(snapshot.path), "t_ms": snapshot.t_ms}
        sim.setup(resume=None if snapshot is None else snapshot.rank_state(parallel.rank))
        return sim.run()


def start_from(folder: Path, parallel: Parallel, config_file: str) -> Snapshot:
    """Another run's snapshot ``folder``, verified (rank 0; every rank gets the answer)."""
    manifest, why = verify(folder) if parallel.is_root else (None, "")
    manifest, why = parallel.bcast((manifest, why))
    if manifest is None:
        raise UserError(f"--resume-from {folder}: not a complete snapshot ({why})", config_file)
    return Snapshot(folder, manifest)


def copy_reports(snapshot: Snapshot, out: Path, parallel: Parallel) -> None:
    """The report files of the run that took ``snapshot``, copied into ``out``: the reports of a
    run started from it continue them (the frames before the snapshot are that run's)."""
    if parallel.is_root:
        source = snapshot.path.parent.parent  # <output_dir>/checkpoints/step-...
        for report in source.glob("*.h5"):
            if report.name != "spikes.h5":
                shutil.copyfile(report, out / report.name)
    parallel.barrier()
