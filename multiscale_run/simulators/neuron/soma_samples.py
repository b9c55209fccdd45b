"""NEURON's own record of one variable at every local soma, one sample per NEURON step.

Soma reports sample every step (the default ``soma_v`` report takes 10 000 frames per simulated
second). Gathering the somata through a PtrVector after each step and handing the frame to the
report writer cost ~28 µs per step, 1.4 % of the default run, mostly cache misses: after a step,
NEURON's values are no longer in cache when Python reads them. ``Vector.record`` (continuous, one
sample at the end of each fixed step, from ``finitialize`` on) copies each value while NEURON
still holds it; the orchestrator collects the samples in blocks (:meth:`SomaSamples.take`).

Collecting goes through one hoc procedure (:data:`_HOC_TAKE`): it joins the vectors into one and
empties them in ~45 µs for 50 somata, where a Python loop of ``as_numpy`` and ``resize`` calls
takes ~490 µs.

Recording must start before ``finitialize``: NeuronSim creates one :class:`SomaSamples` per
soma report its settings list (``NeuronSettings.soma_reports``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

Convert = Callable[[np.ndarray], np.ndarray]

#: hoc: append every vector of the List $o1 to the Vector $o2 (emptied first), then empty them
_HOC_TAKE = """
proc msr_take_samples() { local i
    $o2.resize(0)
    for i = 0, $o1.count() - 1 {
        $o2.append($o1.o(i))
        $o1.o(i).resize(0)
    }
}
"""


class SomaSamples:
    """Samples ``k = 0, 1, ...`` hold the values at ``t = k * dt_ms`` (``t = 0`` is finitialize).

    ``refs`` are NEURON references (``seg._ref_v``), one per local soma; ``convert`` maps the
    samples (steps x somata) to the reported values (e.g. a current density to a current).
    One report reads one SomaSamples: :meth:`take` releases what that report no longer needs.
    """

    def __init__(self, h, refs: list, dt_ms: float, convert: Convert | None = None):
        self.dt_ms = float(dt_ms)
        if not h.name_declared("msr_take_samples"):
            h(_HOC_TAKE)
        self._h, self._refs, self._stopped = h, refs, False
        self._take = h.msr_take_samples
        self._vectors, self._list, self._joined = [], h.List(), h.Vector()
        for ref in refs:
            vec = h.Vector()
            vec.record(ref)
            self._vectors.append(vec)
            self._list.append(vec)
        self._convert = convert
        self._kept = np.zeros((0, len(refs)))  # samples collected from NEURON, not yet released
        self._first = 0  # sample index of _kept[0]

    def _index(self, times_ms) -> np.ndarray:
        """The sample each time reads: the latest step at or before it."""
        return np.floor(np.asarray(times_ms, dtype=float) / self.dt_ms + 1e-6).astype(np.int64)

    def take(self, times_ms: np.ndarray, next_ms: float) -> np.ndarray:
        """Values at each soma as of each time (ascending, NEURON has stepped past the last), one
        row per time; then releases the samples before ``next_ms``, the earliest time asked
        later (``inf``: none, recording stops)."""
        if not self._vectors:
            return np.zeros((len(times_ms), 0))
        self._collect()
        rows = self._index(times_ms) - self._first
        if rows.size and (rows[0] < 0 or rows[-1] >= len(self._kept)):
            held = f"{self._first}..{self._first + len(self._kept) - 1}"
            raise RuntimeError(
                f"soma samples {rows[0] + self._first}..{rows[-1] + self._first} asked, {held} held"
            )
        values = self._kept[rows]
        if math.isinf(next_ms):
            self.stop()
            return values
        keep = min(int(self._index(next_ms)), self._first + len(self._kept))
        self._kept = self._kept[keep - self._first :]
        self._first = keep
        return values

    def stop(self) -> None:
        """Stop recording and drop every sample (the report is complete)."""
        for vec in self._vectors:
            vec.play_remove()
            vec.resize(0)
        self._kept = self._kept[:0]
        self._stopped = True

    def save_state(self) -> dict[str, np.ndarray]:
        """The samples held for the report (collected first) and the index of the first. Once
        the report is complete, the values now (what a run extended past it records first)."""
        if self._stopped:
            now = np.array([[ref[0] for ref in self._refs]], dtype=float).reshape(1, len(self._refs))
            kept = self._convert(now) if self._convert is not None else now
            return {"kept": kept, "first": np.int64(self._index(float(self._h.t)))}
        if self._vectors:
            self._collect()
        return {"kept": self._kept.copy(), "first": np.int64(self._first)}

    def restore_state(self, state: dict[str, np.ndarray]) -> None:
        """Hold the saved samples; NEURON's vectors (which recorded the set-up's ``finitialize``)
        are emptied, so the next sample is the one after the restored time. Without a saved
        state (a report added on resume) the record starts with that next sample."""
        for vec in self._vectors:
            vec.resize(0)
        if "kept" in state:
            self._kept, self._first = state["kept"].copy(), int(state["first"])
        else:
            self._kept, self._first = self._kept[:0], int(self._index(float(self._h.t))) + 1

    def _collect(self) -> None:
        """Move NEURON's new samples into numpy (NEURON keeps appending to the emptied vectors)."""
        self._take(self._list, self._joined)
        new = self._joined.as_numpy().reshape(len(self._vectors), -1).T.copy()  # (samples, somata)
        if self._convert is not None:
            new = self._convert(new)
        self._kept = np.concatenate([self._kept, new]) if len(self._kept) else new
