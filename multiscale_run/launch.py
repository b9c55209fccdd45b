"""``msr compute``: check the config, claim the output folder, resume if asked, run on every rank."""

from __future__ import annotations

import logging
from pathlib import Path

from multiscale_run.checkpoints import CHECKPOINT_DIR, CheckpointSettings
from multiscale_run.checkpoints.compat import check_resumable
from multiscale_run.checkpoints.store import newest_valid
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
) -> str:
    """Check the config, then run the simulation in ``directory`` on every rank of MPI_COMM_WORLD.

    The output folder is locked for the run and must not hold an earlier run's results unless
    ``overwrite`` (:mod:`multiscale_run.output_lock`) or ``resume``: then the run continues from
    the newest valid snapshot in ``<output_dir>/checkpoints`` into the same files, provided
    nothing but what :mod:`multiscale_run.checkpoints.compat` allows (and the config paths in
    ``may_change``) changed. ``checkpoint_every`` overrides the config's snapshot intervals
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
    snapshot = None
    if resume:
        snapshot = newest_valid(out / CHECKPOINT_DIR, parallel)
        if snapshot is None:
            where = out / CHECKPOINT_DIR
            raise UserError(f"no complete snapshot in {where} to resume from", str(config.path))
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
        sim = Simulation(
            config, parallel, use_cache=use_cache, progress=progress, stop=stop, checkpoints=settings
        )
        if snapshot is not None:
            if parallel.is_root:
                log.info("resuming from %s (t=%g ms)", snapshot.path, snapshot.t_ms)
            sim.record.resumed_from = {"snapshot": str(snapshot.path), "t_ms": snapshot.t_ms}
        sim.setup(resume=None if snapshot is None else snapshot.rank_state(parallel.rank))
        return sim.run()
