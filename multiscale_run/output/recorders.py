"""One recorder per report kind, built from the ``multiscale_run.<simulator>.reports`` entries.

* :class:`SampledRecorder` takes a simulator's values when a frame is due, maps them through the
  report's operator (summed over ranks onto a global space) and keeps the node set's columns;
* :class:`SomaRecorder` hands over the samples a :class:`~multiscale_run.simulators.base.SomaSampler`
  recorded itself every step, every ``SOMA_COLLECT_STEPS`` of its steps and at the end.

Both write through a :class:`~multiscale_run.output.element_report.ReportWriter` whose elements
follow :mod:`multiscale_run.output.report_spaces`: per neuron (one element each), per segment
(elements of their neuron, docs/reports.md) or per tet / vessel (global spaces).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from multiscale_run.output.element_report import ReportWriter
from multiscale_run.output.frames import report_window
from multiscale_run.output.report_spaces import GLOBAL_POPULATION, report_operator, report_space
from multiscale_run.simulators.base import SomaSampler
from multiscale_run.spaces import SegmentGeometry, Space

if TYPE_CHECKING:
    from multiscale_run.nodes import NeuronSelection

#: NEURON steps between two collections of a soma report's samples (NEURON records them
#: meanwhile): 100 steps of the default 0.1 ms are 10 ms of simulated time.
SOMA_COLLECT_STEPS = 100


class _Recorder:
    """A report's writer and the time of its next record (the hot loop skips it until then)."""

    def __init__(self, writer: ReportWriter):
        self.writer = writer
        self.next_ms = 0.0

    @property
    def next_frame_ms(self) -> float:
        clock, done = self.writer.clock, self.writer.frames_recorded
        return clock.time_ms(done) if done < clock.n_frames else math.inf

    def _schedule(self, next_ms: float) -> None:
        self.next_ms = next_ms - 1e-6 * self.writer.clock.dt_ms


class SampledRecorder(_Recorder):
    """Values read from the simulator when a frame is due."""

    def __init__(self, writer, source, variable, matrix=None, sum_over_ranks=None, columns=None):
        super().__init__(writer)
        self.source, self.variable = source, variable
        self.matrix, self.sum_over_ranks, self.columns = matrix, sum_over_ranks, columns

    def values(self) -> np.ndarray:
        values = self.source.get(self.variable)
        if self.matrix is not None:
            values = self.matrix @ values
            if self.sum_over_ranks is not None:
                values = self.sum_over_ranks(values)
        return values if self.columns is None else values[self.columns]

    def record(self, t_ms: float) -> None:
        if self.writer.due(t_ms):
            self.writer.record(t_ms, self.values())
        self._schedule(self.next_frame_ms)

    def close(self, t_ms: float) -> None:
        self.writer.close()


class SomaRecorder(_Recorder):
    """Frames taken from the simulator's own per-step soma record, collected every ``collect_ms``."""

    def __init__(self, writer, samples, collect_ms: float, columns=None):
        super().__init__(writer)
        self.samples, self.collect_ms, self.columns = samples, collect_ms, columns

    def record(self, t_ms: float) -> None:
        """Every frame up to ``t_ms``; then schedule the next collection (or the last frame)."""
        writer, clock = self.writer, self.writer.clock
        frames = np.arange(writer.frames_recorded, clock.last_frame_at(t_ms) + 1)
        upcoming = writer.frames_recorded + frames.size
        next_ms = clock.time_ms(upcoming) if upcoming < clock.n_frames else math.inf
        values = self.samples.take(clock.time_ms(frames), next_ms)
        writer.record_frames(values if self.columns is None else values[:, self.columns])
        nxt = self.next_frame_ms
        if nxt < math.inf:
            nxt = min(t_ms + self.collect_ms, clock.time_ms(clock.n_frames - 1))
        self._schedule(nxt)

    def close(self, t_ms: float) -> None:
        if self.next_frame_ms < math.inf:  # the sampler's latest frames
            self.record(t_ms)
        self.writer.close()


class Recorders:
    """Every report of the run, recorded when due (:meth:`record` after each base step)."""

    def __init__(self, recorders: list[_Recorder], entries: list[dict]):
        self.recorders = recorders
        self.entries = entries  # each recorder's config entry
        self.next_ms = 0.0

    def save_state(self) -> dict[str, np.ndarray]:
        """Flush every report (collective) and say, per report, how many frames it holds and
        what it was configured as (:func:`build_recorders` continues it when that is unchanged)."""
        state = {}
        for rec, entry in zip(self.recorders, self.entries, strict=True):
            rec.writer.flush()
            state[f"{entry['name']}/frames"] = np.int64(rec.writer.frames_written)
            state[f"{entry['name']}/entry"] = np.array(json.dumps(entry, sort_keys=True))
        return state

    def record(self, t_ms: float) -> None:
        for rec in self.recorders:
            if t_ms >= rec.next_ms:
                rec.record(t_ms)
        self.next_ms = min((rec.next_ms for rec in self.recorders), default=math.inf)

    def close(self, t_ms: float) -> None:
        for rec in self.recorders:
            rec.close(t_ms)


def build_recorders(
    config,
    simulators: Mapping,
    operators: Mapping,
    node_ids: np.ndarray,
    segments: SegmentGeometry | None,
    cells: NeuronSelection,
    parallel,
    resume: tuple[float, dict[str, np.ndarray]] | None = None,
) -> Recorders:
    """The recorders of every configured report (collective: the writers create their files).

    ``node_ids``: this rank's cells (gids of ``cells``); a report on them holds one group per
    population, each naming its cells by their node ids in it.

    ``resume``: ``(t_ms, Recorders.save_state() of a snapshot)``. A report configured as in the
    snapshot continues its file; a new or changed one starts at the first of its frames after
    ``t_ms`` (its earlier frames were never taken)."""
    from multiscale_run.coupling.operator_specs import OPERATORS
    from multiscale_run.nodes import node_set_members

    populations = cells.populations
    local_ids = cells.locate(node_ids)[1]
    population_index = cells.population_index(node_ids)

    def members(entry) -> np.ndarray | None:
        """The local cells of the report's node set (None: all)."""
        node_set = entry.get("node_set")
        if not node_set:
            return None
        chosen = [cells.to_gids(p, node_set_members(config, node_set, p)) for p in populations]
        return np.isin(node_ids, np.concatenate(chosen))

    several = len(populations) > 1

    def cell_writer(path, keep, counts, window, unit, labels, frames) -> ReportWriter:
        """A report on the local cells ``keep`` (a mask), ``counts`` elements each."""
        return ReportWriter(
            path,
            populations if several else populations[0],
            local_ids[keep],
            counts,
            *window,
            unit,
            parallel,
            attributes=labels,
            resume_frames=frames,
            node_population_local=population_index[keep] if several else None,
        )

    out: list[_Recorder] = []
    entries: list[dict] = []
    for sim_name in config.simulators:
        sim = simulators[sim_name]
        for rep in config.simulator(sim_name).get("reports", []):
            var = sim.variables()[rep["variable"]]
            operator = report_operator(rep, var.space)
            space = report_space(operator, var.space)
            window = report_window(rep, sim.dt_ms, config.run.tstop_ms)
            frames = None
            if resume is not None:
                frames, window = resumed_window(rep, window, *resume)
            unit = rep.get("unit") or var.unit
            path = config.output_dir / f"{rep['name']}.h5"
            labels = {"variable": rep["variable"], "simulator": sim_name}
            columns = None
            if space is Space.NEURON:
                keep = members(rep)
                columns = None if keep is None else np.flatnonzero(keep)
                keep = np.ones(len(node_ids), dtype=bool) if keep is None else keep
                writer = cell_writer(path, keep, 1, window, unit, labels, frames)
            elif space is Space.SEGMENT:
                # Segments are elements of their neuron (docs/reports.md): node = the owning
                # neuron, element id = the segment's rank within it, columns node after node.
                owner = segments.neuron_index
                keep = members(rep)
                keep = np.ones(len(node_ids), dtype=bool) if keep is None else keep
                columns = np.flatnonzero(keep[owner])
                columns = columns[np.argsort(owner[columns], kind="stable")]
                counts = np.bincount(owner[columns], minlength=len(node_ids))[keep]
                writer = cell_writer(path, keep, counts, window, unit, labels, frames)
            else:
                size = (
                    len(sim.get(rep["variable"])) if operator == "identity" else operators[operator].shape[0]
                )
                writer = ReportWriter.for_global_space(
                    path,
                    rep.get("population") or GLOBAL_POPULATION[space],
                    size,
                    *window,
                    unit,
                    parallel,
                    attributes=labels,
                    resume_frames=frames,
                )
            if operator == "soma":  # the simulator records it itself, every step
                if not isinstance(sim, SomaSampler):
                    raise TypeError(f"{sim_name} cannot record soma reports")
                samples = sim.soma_samples(rep["name"])
                out.append(SomaRecorder(writer, samples, SOMA_COLLECT_STEPS * sim.dt_ms, columns))
                entries.append(rep)
                continue
            matrix, summed = None, None
            if operator != "identity":
                matrix, spec = operators[operator], OPERATORS[operator]
                summed = parallel.sum if spec.dest.is_global and not spec.src.is_global else None
            out.append(SampledRecorder(writer, sim, rep["variable"], matrix, summed, columns))
            entries.append(rep)
    return Recorders(out, entries)


def resumed_window(rep: dict, window: tuple, t_ms: float, saved: dict[str, np.ndarray]):
    """``(frames kept, window)`` of a report in a resumed run: the snapshot's frame count if the
    report is configured as it was then, else ``None`` and the window from the first frame after
    ``t_ms`` on (a report added or changed on resume)."""
    key = rep["name"]
    if f"{key}/entry" in saved and str(saved[f"{key}/entry"]) == json.dumps(rep, sort_keys=True):
        return int(saved[f"{key}/frames"]), window
    start, end, dt = window
    first = start if t_ms < start else start + (math.floor((t_ms - start) / dt + 1e-6) + 1) * dt
    return None, (first, max(end, first), dt)
