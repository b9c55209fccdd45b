"""The ``msr`` command line: each command parses its options and calls the library."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path

import click

from multiscale_run import __version__
from multiscale_run.errors import OutputError, SimulationAborted, UserError
from multiscale_run.interrupt import RunInterrupted

log = logging.getLogger("multiscale_run")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s" if verbose else "%(message)s",
        stream=sys.stderr,
    )


def _is_root() -> bool:
    """Rank 0, or no MPI at all: the one process that reports errors every rank found alike."""
    mpi = sys.modules.get("mpi4py.MPI")
    return mpi is None or mpi.COMM_WORLD.Get_rank() == 0


class _Group(click.Group):
    """Turns user errors into one line per problem on stderr and exit code 2; an aborted run exits 3,
    an output failure 4, a run stopped by SIGINT/SIGTERM 130/143, other (internal) errors 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            if ctx.obj and ctx.obj.get("verbose"):
                traceback.print_exc()
            if _is_root():
                for line in str(exc).splitlines():
                    click.echo(f"msr: error: {line}", err=True)
            ctx.exit(2)
        except SimulationAborted as exc:
            if _is_root():
                click.echo(f"msr: run aborted: {exc} (results so far are flushed)", err=True)
            ctx.exit(3)
        except RunInterrupted as exc:
            if _is_root():
                click.echo(f"msr: run {exc} (results so far are flushed)", err=True)
            ctx.exit(exc.exit_code)
        except OutputError as exc:  # on one rank, or found alike by every rank (the folder's claim)
            if _is_root():
                click.echo(f"msr: output error: {exc}", err=True)
            # After a storage failure HDF5 retries its failed flushes at exit and can crash in
            # its own clean-up: leave now, what was flushed before is on disk.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(4)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:
            if ctx.obj and ctx.obj.get("verbose"):
                traceback.print_exc()
            click.echo(
                f"msr: internal error: {type(exc).__name__}: {exc} (run with --verbose for the traceback)",
                err=True,
            )
            ctx.exit(1)


@click.group(
    cls=_Group, context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True
)
@click.option(
    "--version", "show_version", is_flag=True, help="Print the version (with --verbose: the whole stack's)."
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging and full tracebacks.")
@click.pass_context
def main(ctx: click.Context, show_version: bool, verbose: bool) -> None:
    """multiscale-run: co-simulate NEURON, STEPS, blood flow and metabolism on a SONATA circuit.

    Typical use: `msr init sim && msr check sim && msr compute sim && msr post-processing sim`,
    or `srun -n 4 msr compute sim` on a cluster.
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    if show_version:
        click.echo(f"multiscale-run, version {__version__}")
        if verbose:
            _echo_stack()
        ctx.exit(0)
    _setup_logging(verbose)
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
        ctx.exit(0)


def _echo_stack() -> None:
    from multiscale_run.provenance import source_revision, stack_versions

    for name, version in stack_versions().items():
        click.echo(f"  {name:<15} {version or 'not installed'}")
    rev = source_revision()
    if rev:
        click.echo(f"  {'source':<15} {rev['commit']}{' (modified)' if rev['dirty'] else ''}")


_DIR = click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
#: a simulation folder, or its config file
_SIM = click.argument("directory", type=click.Path(path_type=Path), default=".")


def _switchable() -> dict[str, object]:
    """The simulators ``msr init`` can switch on or off, from the registry."""
    from multiscale_run.simulators import catalogue

    return {spec.name: spec for spec in catalogue.specs() if spec.init_default is not None}


def _simulator_switches(command):
    """One ``--<name>/--no-<name>`` option per switchable simulator of the registry."""
    for name, spec in reversed(_switchable().items()):
        command = click.option(
            f"--{name}/--no-{name}",
            f"enable_{name}",
            default=None if spec.init_follows else spec.init_default,
            show_default=not spec.init_follows,
            help=f"Enable {spec.description}."
            + (f" Default: on with --{spec.init_follows}." if spec.init_follows else ""),
        )(command)
    return command


@main.command()
@_DIR
@click.option(
    "--neurons",
    type=click.IntRange(1),
    default=50,
    show_default=True,
    help="Number of neurons of the generated default circuit.",
)
@click.option(
    "--circuit",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Use this SONATA circuit config (or a SONATA simulation config: its network, run, "
    "conditions and inputs) instead of generating a circuit.",
)
@click.option(
    "--circuit-mod-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The circuit's own .mod folder, compiled with msr's (when its config names no mechanisms_dir).",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the generated circuit.")
@click.option("--force", is_flag=True, help="Overwrite an existing simulation in DIRECTORY.")
@_simulator_switches
@click.option("--tstop", type=click.FloatRange(min=0, min_open=True), help="Simulated time in ms.")
@click.option("--nodes", type=click.IntRange(1), default=1, show_default=True, help="sbatch: nodes.")
@click.option("--ntasks", type=click.IntRange(1), default=4, show_default=True, help="sbatch: MPI tasks.")
@click.option("--time", "time_limit", default="01:00:00", show_default=True, help="sbatch: time limit.")
@click.option("--account", default=None, help="sbatch: account.")
@click.option("--partition", default=None, help="sbatch: partition.")
def init(directory: Path, **options) -> None:
    """Write a complete runnable simulation into DIRECTORY (circuit, config, mods, sbatch, notebook)."""
    from multiscale_run.config import load
    from multiscale_run.init import init_simulation
    from multiscale_run.simulators.catalogue import missing_library

    enable = {name: options.pop(f"enable_{name}") for name in _switchable()}
    path = init_simulation(directory, enable=enable, **options)
    click.echo(f"wrote {path}; next: msr check {directory} && msr compute {directory}")
    config = load(path)
    for name in config.simulators:
        missing = missing_library(name, config.simulator(name))
        if missing:
            click.echo(f"msr: note: {missing[1]}", err=True)


@main.command()
@_SIM
@click.option(
    "--ranks", type=int, default=None, help="Check for this MPI rank count (default: the current one)."
)
def check(directory: Path, ranks: int | None) -> None:
    """Validate the simulation config in DIRECTORY: the schema, then the semantics. Exit 2 on problems."""
    from multiscale_run.validation import check_simulation

    summary = check_simulation(directory, ranks=ranks)
    click.echo(summary)


@main.command()
@_SIM
@click.option("--no-cache", is_flag=True, help="Rebuild coupling operators instead of loading cached ones.")
@click.option("--progress/--no-progress", default=None, help="Show the progress bar (default: the config's).")
@click.option("--overwrite", is_flag=True, help="Replace the results of an earlier run in the output folder.")
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the earlier run from its newest snapshot (to a larger run.tstop: extend it).",
)
@click.option(
    "--checkpoint-every",
    metavar="INTERVAL",
    help="Take snapshots every INTERVAL of simulated (500ms, 2s) and/or wall time (30min, 1h; "
    "both: 1s,30min), instead of the config's multiscale_run.checkpoints.",
)
@click.option(
    "--resume-from",
    type=click.Path(path_type=Path, file_okay=False),
    help="Start from this snapshot folder of another run (a sweep's warm start).",
)
@click.option(
    "--allow-change",
    "allow_change",
    multiple=True,
    metavar="PATH",
    help="A dotted config path that may differ from the snapshot's run (repeatable).",
)
@click.pass_context
def compute(
    ctx: click.Context,
    directory: Path,
    no_cache: bool,
    progress: bool | None,
    overwrite: bool,
    resume: bool,
    checkpoint_every: str | None,
    resume_from: Path | None,
    allow_change: tuple[str, ...],
) -> None:
    """Run the simulation in DIRECTORY (under MPI: srun -n N msr compute DIRECTORY)."""
    from multiscale_run.launch import run_simulation

    if (resume or resume_from) and overwrite:
        raise click.UsageError("--resume continues the earlier results, --overwrite replaces them: pick one")
    run_simulation(
        directory,
        use_cache=not no_cache,
        progress=progress,
        verbose=ctx.obj["verbose"],
        overwrite=overwrite,
        resume=resume,
        checkpoint_every=checkpoint_every,
        resume_from=resume_from,
        may_change=allow_change,
    )


@main.command()
@_SIM
def status(directory: Path) -> None:
    """Say whether the run in DIRECTORY completed (its run.json's status); exit 0 if it did, 1 if not."""
    from multiscale_run.run_status import describe

    completed, line = describe(directory)
    click.echo(line)
    if not completed:
        raise SystemExit(1)


@main.command("post-processing")
@_SIM
def post_processing(directory: Path) -> None:
    """Write the HTML report of the results in DIRECTORY's output folder (of a sweep folder: its
    results.csv and results.html)."""
    from multiscale_run.sweep.results import is_sweep_folder, write_results

    if is_sweep_folder(directory):
        click.echo(f"wrote {write_results(directory)}")
        return
    from multiscale_run.postprocessing import write_html_report

    click.echo(f"wrote {write_html_report(directory)}")


@main.command()
@click.argument("sweep_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--retry-failed", is_flag=True, help="Run the points that failed before again.")
@click.option("--executor", type=click.Choice(["local", "slurm"]), help="Override the sweep file's executor.")
@click.option("--workers", type=click.IntRange(1), help="local: points run at once.")
@click.option("--max-concurrent", type=click.IntRange(0), help="slurm: the job array's concurrency limit.")
@click.option("--check-only", is_flag=True, help="Check the sweep and every point's config, run nothing.")
def sweep(
    sweep_file: Path,
    retry_failed: bool,
    executor: str | None,
    workers: int | None,
    max_concurrent: int | None,
    check_only: bool,
) -> None:
    """Run (or resume) the parameter sweep or search of SWEEP_FILE (JSON or YAML; see docs/sweep.md)."""
    from multiscale_run.sweep.driver import run_sweep, validate

    options = {"name": executor, "workers": workers, "max_concurrent": max_concurrent}
    overrides = {k: v for k, v in options.items() if v is not None}
    if check_only:
        validate(sweep_file, overrides)
        click.echo(f"{sweep_file}: OK")
        return
    try:
        page = run_sweep(sweep_file, retry_failed=retry_failed, executor_overrides=overrides)
    except KeyboardInterrupt:
        click.echo(f"msr: sweep interrupted; `msr sweep {sweep_file}` resumes it", err=True)
        sys.exit(130)
    click.echo(f"wrote {page}")


@main.command("edit-mod-files")
@_DIR
def edit_mod_files(directory: Path) -> None:
    """Copy the NEURON mechanisms into DIRECTORY/mod for editing; the next compute recompiles them."""
    from multiscale_run.mod_files import copy_mod_files

    click.echo(f"copied the mechanisms to {copy_mod_files(directory)}")


@main.command()
@_DIR
@click.option("--neurons", type=click.IntRange(1), default=50, show_default=True, help="Number of neurons.")
@click.pass_context
def demo(ctx: click.Context, directory: Path, neurons: int) -> None:
    """Init, check, compute and post-process the embedded default simulation in DIRECTORY."""
    ctx.invoke(init, directory=directory, neurons=neurons, force=True)
    ctx.invoke(check, directory=directory)
    ctx.invoke(compute, directory=directory, overwrite=True)
    ctx.invoke(post_processing, directory=directory)


if __name__ == "__main__":
    main()
