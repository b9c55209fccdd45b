"""Wall-time accounting of a run: where the time goes (advances, couplings, operators, reports, I/O)."""

from __future__ import annotations

import contextlib
import json
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from multiscale_run.parallel import Parallel


class Timings:
    """Accumulated wall time per named activity on this rank."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._start = time.perf_counter()

    @contextlib.contextmanager
    def measure(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start
            self.calls[name] += 1

    def summary(self, parallel: Parallel) -> dict:
        """Max over ranks of each activity (the slowest rank sets the pace), plus the total."""
        names = sorted(set().union(*parallel.allgather(set(self.seconds))))
        rows = {}
        for name in names:
            seconds = parallel.max(self.seconds.get(name, 0.0))
            rows[name] = {"seconds": seconds, "calls": self.calls.get(name, 0)}
        total = parallel.max(time.perf_counter() - self._start)
        return {"ranks": parallel.size, "total_seconds": total, "activities": rows}

    @staticmethod
    def table(summary: dict) -> str:
        total = summary["total_seconds"] or 1.0
        lines = [f"{'activity':<48} {'seconds':>10} {'share':>7} {'calls':>8}"]
        for name, row in sorted(summary["activities"].items(), key=lambda kv: -kv[1]["seconds"]):
            lines.append(
                f"{name:<48} {row['seconds']:>10.3f} {100 * row['seconds'] / total:>6.1f}% {row['calls']:>8}"
            )
        lines.append(f"{'total (wall)':<48} {summary['total_seconds']:>10.3f}")
        return "\n".join(lines)

    @staticmethod
    def write(summary: dict, path: Path) -> None:
        path.write_text(json.dumps(summary, indent=2) + "\n")
