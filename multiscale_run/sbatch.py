"""The SLURM batch script that runs one simulation (``srun msr compute <dir>``).

The template ``sbatch/simulation.sbatch`` ships with the package; :func:`write_sbatch` fills in the
``#SBATCH`` options (see https://slurm.schedmd.com/sbatch.html) and the environment to activate.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path

from multiscale_run.resources import data_path

SCRIPT_NAME = "simulation.sbatch"
TEMPLATE_NAME = "simulation.sbatch"

# SLURM's --time formats: "minutes", "minutes:seconds", "hours:minutes:seconds", "days-hours",
# "days-hours:minutes" and "days-hours:minutes:seconds"
_TIME = re.compile(r"^(\d+(:\d{1,2}){0,2}|\d+-\d{1,2}(:\d{1,2}){0,2})$")
_NAME = re.compile(r"^[A-Za-z0-9_.,+-]+$")
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def _check_name(what: str, value: str | None) -> None:
    if value is not None and not _NAME.match(value):
        raise ValueError(f"sbatch {what} {value!r} may only hold letters, digits and _ . , + -")


def default_job_name(directory: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.+-]", "_", Path(directory).resolve().name) or "simulation"
    return f"msr-{stem}"


def _environment_lines(environment: str | None) -> str:
    """Activate the virtual environment this package runs from, so ``msr`` is the same one."""
    if environment is not None:
        return environment.rstrip() + "\n"
    if sys.prefix != sys.base_prefix:  # inside a venv
        activate = Path(sys.prefix) / "bin" / "activate"
        return f"source {shlex.quote(str(activate))}\n"
    return ""


class SpacedPathError(ValueError):
    """The simulation folder's path has whitespace, which ``#SBATCH`` lines cannot hold."""


def render_sbatch(
    directory: str | os.PathLike,
    nodes: int = 1,
    ntasks: int | None = None,
    time: str = "01:00:00",
    account: str | None = None,
    partition: str | None = None,
    job_name: str | None = None,
    environment: str | None = None,
    signal_margin_s: int = 300,
    compute_args: list[str] | None = None,
) -> str:
    """The script's text. ``ntasks=None`` takes every core of the ``nodes`` allocated exclusively.

    ``signal_margin_s`` before the time limit SLURM sends SIGUSR1 to the ranks: they write a
    snapshot and exit with 75, on which the script requeues the job (``--requeue``); the next
    allocation resumes (``SLURM_RESTART_COUNT`` > 0), so a run longer than the limit completes
    over several allocations. The log is appended to across them. ``compute_args`` are extra
    ``msr compute`` options (a sweep point's warm start)."""
    directory = Path(directory).resolve()
    if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 1:
        raise ValueError(f"sbatch nodes must be an integer >= 1, got {nodes!r}")
    if ntasks is not None and (isinstance(ntasks, bool) or not isinstance(ntasks, int) or ntasks < nodes):
        raise ValueError(f"sbatch ntasks must be an integer >= nodes ({nodes}), got {ntasks!r}")
    if not _TIME.match(str(time)):
        raise ValueError(f"sbatch time {time!r} is not a SLURM time (e.g. 30, 01:00:00, 1-12:00:00)")
    if any(c.isspace() for c in str(directory)):
        # #SBATCH lines are not shell-parsed: a path with spaces cannot be quoted there
        raise SpacedPathError(f"sbatch needs a simulation folder without spaces in its path: {directory}")
    job_name = job_name if job_name is not None else default_job_name(directory)
    for what, value in (("job name", job_name), ("account", account), ("partition", partition)):
        _check_name(what, value)
    if (
        isinstance(signal_margin_s, bool)
        or not isinstance(signal_margin_s, int)
        or not 0 < signal_margin_s < 65536
    ):
        raise ValueError(
            f"sbatch signal margin must be 1..65535 s (SLURM's --signal), got {signal_margin_s!r}"
        )

    options = [
        f"#SBATCH --job-name={job_name}",
        f"#SBATCH --nodes={nodes}",
        *([f"#SBATCH --ntasks={ntasks}"] if ntasks is not None else []),
        f"#SBATCH --time={time}",
        *([f"#SBATCH --account={account}"] if account else []),
        *([f"#SBATCH --partition={partition}"] if partition else []),
        "#SBATCH --exclusive",
        # SIGUSR1 to the ranks before the time limit: snapshot, exit 75, requeue (see the script)
        f"#SBATCH --signal=USR1@{signal_margin_s}",
        "#SBATCH --requeue",
        "#SBATCH --open-mode=append",
        # %x is the job name, %j the job id (sbatch filename patterns)
        f"#SBATCH --output={directory / '%x-%j.log'}",
    ]
    values = {
        "sbatch_options": "\n".join(options),
        "environment": _environment_lines(environment),
        "directory": shlex.quote(str(directory)),
        "compute_args": "".join(f" {shlex.quote(a)}" for a in compute_args or []),
        "script_path": shlex.quote(str(directory / SCRIPT_NAME)),
    }
    template = (data_path("sbatch") / TEMPLATE_NAME).read_text(encoding="utf-8")
    missing = set(_PLACEHOLDER.findall(template)) - set(values)
    if missing:
        raise KeyError(f"sbatch template has unknown placeholders: {sorted(missing)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def write_sbatch(directory: str | os.PathLike, **options) -> Path:
    """Write ``<directory>/simulation.sbatch`` (executable) and return its path; ``options`` are
    those of :func:`render_sbatch` (``environment``: shell lines run before ``srun``, e.g.
    ``module load ...``; by default the virtual environment running this code is activated)."""
    text = render_sbatch(directory, **options)
    path = Path(directory) / SCRIPT_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
    return path
