"""A testing hook of the run: inject a failure on one rank at one stage."""

from __future__ import annotations

import os

#: Testing hook: ``MSR_INJECT_FAULT="<stage>@<rank>"`` raises an error on that rank at the first
#: time it reaches ``<stage>`` (``setup``, ``advance`` or ``coupling``); the MPI safety tests use it
#: to prove that a failure on one rank ends every rank.
FAULT_ENV = "MSR_INJECT_FAULT"


class InjectedFault(RuntimeError):
    """The error raised by the fault-injection testing hook."""


def inject_fault(stage: str, rank: int) -> None:
    wanted = os.environ.get(FAULT_ENV, "")
    if wanted and wanted == f"{stage}@{rank}":
        raise InjectedFault(f"fault injected at {stage} on rank {rank}")
