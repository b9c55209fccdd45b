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
        """Each activity's seconds over the ranks: ``min``, ``mean`` and ``max`` (``seconds`` is the
        max: the slowest rank sets the pace), so an imbalanced run shows who waits for whom; plus
        the total wall time (max over ranks). ``calls`` are rank 0's."""
        per_rank = parallel.allgather((dict(self.seconds), time.perf_counter() - self._start))
        names = sorted(set().union(*(seconds for seconds, _ in per_rank)))
        rows = {}
        for name in names:
            values = [seconds.get(name, 0.0) for seconds, _ in per_rank]
            rows[name] = {
                "seconds": max(values),
                "min": min(values),
                "mean": sum(values) / len(values),
                "max": max(values),
                "calls": self.calls.get(name, 0),
            }
        total = max(wall for _, wall in per_rank)
        return {"ranks": parallel.size, "total_seconds": total, "activities": rows}

    @staticmethod
    def table(summary: dict) -> str:
        """The activities, slowest first: min, mean and max seconds over ranks, the max's share of
        the wall time, and the call count."""
        total = summary["total_seconds"] or 1.0
        head = f"{'activity':<44} {'min s':>9} {'mean s':>9} {'max s':>9} {'share':>7} {'calls':>8}"
        lines = [head]
        for name, row in sorted(summary["activities"].items(), key=lambda kv: -kv[1]["seconds"]):
            lines.append(
                f"{name:<44} {row['min']:>9.3f} {row['mean']:>9.3f} {row['max']:>9.3f}"
                f" {100 * row['max'] / total:>6.1f}% {row['calls']:>8}"
            )
        lines.append(f"{'total (wall, max over ranks)':<44} {'':>9} {'':>9} {summary['total_seconds']:>9.3f}")
        return "\n".join(lines)

    @staticmethod
    def write(summary: dict, path: Path) -> None:
        path.write_text(json.dumps(summary, indent=2) + "\n")
