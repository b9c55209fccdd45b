"""When a run takes snapshots: ``multiscale_run.checkpoints`` in the config, or ``--checkpoint-every``."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from multiscale_run.errors import UserError

_INTERVAL = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s|min|h)\s*$")
#: unit -> (field, factor to that field's unit): simulated time in ms, wall time in minutes
_UNITS = {
    "ms": ("every_ms", 1.0),
    "s": ("every_ms", 1e3),
    "min": ("every_minutes", 1.0),
    "h": ("every_minutes", 60.0),
}


@dataclass(frozen=True)
class CheckpointSettings:
    """``every_ms`` of simulated time and/or ``every_minutes`` of wall time (``None``: not by
    that clock); ``at_end``: one at tstop (what ``--resume`` with a larger tstop extends from);
    ``on_signal``: one when SIGINT, SIGTERM or SIGUSR1 stops the run; ``keep``: how many of the
    newest snapshots stay on disk."""

    every_ms: float | None = None
    every_minutes: float | None = 30.0
    at_end: bool = True
    on_signal: bool = True
    keep: int = 2

    @classmethod
    def from_config(cls, config) -> CheckpointSettings:
        section = config.msr["checkpoints"]  # every key filled from the schema's defaults
        return cls(
            every_ms=section["every_ms"],
            every_minutes=section["every_minutes"],
            at_end=bool(section["at_end"]),
            on_signal=bool(section["on_signal"]),
            keep=int(section["keep"]),
        )

    def with_every(self, text: str) -> CheckpointSettings:
        """Override the intervals from ``--checkpoint-every``: ``500ms``, ``2s``, ``30min``,
        ``1h``, or one of each clock separated by a comma (``1s,20min``)."""
        changes: dict[str, float] = {}
        for part in text.split(","):
            match = _INTERVAL.match(part)
            if not match or float(match.group(1)) <= 0:
                raise UserError(
                    f"--checkpoint-every {text!r}: expected an interval > 0 such as 500ms, 2s, 30min or 1h"
                )
            field, factor = _UNITS[match.group(2)]
            changes[field] = float(match.group(1)) * factor
        return replace(self, **changes)

    def due_by_time(self, t_prev_ms: float, t_ms: float) -> bool:
        """Whether a multiple of ``every_ms`` lies in ``(t_prev_ms, t_ms]`` (the same on every rank)."""
        if not self.every_ms:
            return False
        eps = 1e-9 * self.every_ms
        return math.floor((t_ms + eps) / self.every_ms) > math.floor((t_prev_ms + eps) / self.every_ms)
