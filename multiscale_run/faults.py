"""A testing hook of the run: inject a failure on one rank at one stage."""

from __future__ import annotations

import os

#: Testing hook: ``MSR_INJECT_FAULT="<stage>@<rank>"`` raises an error on that rank the first
#: time it reaches ``<stage>`` (``setup``, ``advance``, ``coupling`` or ``snapshot``: after the
#: snapshot's data, before it is published), ``"<stage>@<rank>#<n>"`` the n-th time; the MPI
#: safety and checkpoint tests use it to prove that a failure on one rank ends every rank and
#: that a half-written snapshot is never loaded.
FAULT_ENV = "MSR_INJECT_FAULT"
_reached: dict[str, int] = {}


class InjectedFault(RuntimeError):
    """The error raised by the fault-injection testing hook."""


def inject_fault(stage: str, rank: int) -> None:
    wanted = os.environ.get(FAULT_ENV, "")
    if not wanted:
        return
    where, _, nth = wanted.partition("#")
    if where != f"{stage}@{rank}":
        return
    _reached[where] = _reached.get(where, 0) + 1
    if _reached[where] == int(nth or 1):
        raise InjectedFault(f"fault injected at {stage} on rank {rank}")
