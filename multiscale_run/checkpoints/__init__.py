"""Snapshots of a whole coupled run, and resuming from them (docs/checkpoints.md).

* :mod:`.settings`: when snapshots are taken (``multiscale_run.checkpoints``, ``--checkpoint-every``);
* :mod:`.store`: the snapshot folders, written atomically with a manifest, found and verified;
* :mod:`.compat`: what may differ between the snapshot's run and the resuming one;
* :mod:`.run_state`: the state of one rank's run (simulators, couplings, checks, reports, clock).
"""

from multiscale_run.checkpoints.settings import CheckpointSettings
from multiscale_run.checkpoints.store import CHECKPOINT_DIR, Snapshot

#: Exit code of a run stopped by SIGUSR1 after writing a snapshot (``EX_TEMPFAIL`` of
#: sysexits.h: "try again later"); the sbatch template requeues the job on it.
EXIT_RESUMABLE = 75

__all__ = ["CHECKPOINT_DIR", "EXIT_RESUMABLE", "CheckpointSettings", "Snapshot"]
