"""Whether a run finished: the ``status`` its ``run.json`` records.

A run writes ``run.json`` last, with ``status`` ``completed`` only once every result is flushed
(``interrupted`` or ``failed`` otherwise, see docs/reports.md). A launcher's exit code is not
enough: SLURM's ``srun`` can exit 0 after "task 0 launch failed" although the simulation never
ran. ``msr status`` and the sbatch script ``msr init`` writes read it here, as the sweep does.
"""

from __future__ import annotations

import json
from pathlib import Path

RUN_FILE = "run.json"
COMPLETED = "completed"


def recorded_status(output_dir: Path) -> str | None:
    """The status the run wrote in ``output_dir``'s ``run.json``, None if it wrote none (or one
    that is not JSON)."""
    try:
        record = json.loads((Path(output_dir) / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record.get("status") if isinstance(record, dict) else None


def describe(directory: Path) -> tuple[bool, str]:
    """(completed, one line) of the run of the simulation folder or config ``directory``."""
    from multiscale_run.config.model import load

    output_dir = load(directory).output_dir
    status = recorded_status(output_dir)
    where = output_dir / RUN_FILE
    if status is None:
        return False, f"{where}: no run record (the run did not start, or it died before writing one)"
    return status == COMPLETED, f"{where}: status {status}"
