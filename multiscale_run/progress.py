"""The progress bar of a run (rank 0 only): simulated ms, and the simulated ms per wall second."""

from __future__ import annotations

import time

#: wall seconds between two updates of the bar (tqdm redraws at most this often anyway; the
#: run's loop calls :meth:`Progress.update` every base step, thousands of times a second)
UPDATE_EVERY_S = 0.1


class Progress:
    """A tqdm bar over ``total_ms`` of simulated time; does nothing when not ``shown``."""

    def __init__(self, total_ms: float, shown: bool, start_ms: float = 0.0):
        self.total_ms = total_ms
        self.start_ms = start_ms  # a resumed run starts there
        self._wall0 = time.perf_counter()
        self._shown_at = self._wall0
        self._t_ms = start_ms
        self._bar = None
        if shown:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total_ms,
                initial=start_ms,
                unit="ms",
                unit_scale=False,
                desc="simulated",
                dynamic_ncols=True,
                bar_format="{desc}: {n:.1f}/{total:.0f} ms |{bar}| {elapsed}<{remaining} {postfix}",
            )

    def update(self, t_ms: float) -> None:
        if self._bar is None:
            return
        self._t_ms = t_ms
        now = time.perf_counter()
        if now - self._shown_at >= UPDATE_EVERY_S or t_ms >= self.total_ms:
            self._show(now)

    def _show(self, now: float) -> None:
        self._shown_at = now
        rate = (self._t_ms - self.start_ms) / max(now - self._wall0, 1e-9)
        self._bar.set_postfix_str(f"{rate:.1f} ms/s", refresh=False)
        self._bar.update(min(self._t_ms, self.total_ms) - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._show(time.perf_counter())  # the bar ends at the time reached
            self._bar.close()
