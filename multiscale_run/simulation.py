"""The orchestrator: builds the enabled simulators, then steps them, couples them and records reports.

Main loop, per base step Δ = gcd(all simulator dt) (DESIGN.md §1):

1. advance each simulator whose step is due, in config order (default neuron → steps →
   bloodflow → metabolism);
2. right after a simulator advances, check its values, then run the couplings whose destination
   is that simulator, in config order;
3. record the reports that are due; update the progress bar.

Coupling is explicit: a simulator with a long step (metabolism, 100 ms) integrates the interval
the others just finished with the inputs of the previous exchange.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from functools import reduce
from pathlib import Path

import numpy as np

from multiscale_run.config import Config, ConfigError, load
from multiscale_run.config.checks import semantic_problems, semantic_warnings
from multiscale_run.coupling.manager import ConnectionManager, Coupling
from multiscale_run.errors import SimulationAborted
from multiscale_run.interrupt import RunInterrupted, StopRequest
from multiscale_run.output_errors import output_errors
from multiscale_run.output_lock import claimed_output
from multiscale_run.parallel import Parallel, abort_on_error
from multiscale_run.provenance import RunRecord
from multiscale_run.simulators.base import Simulator, Space
from multiscale_run.simulators.soma_samples import SomaSamples
from multiscale_run.timings import Timings
from multiscale_run.value_checks import Exclusion, ValueCheck, evaluate

log = logging.getLogger(__name__)

#: Testing hook: ``MSR_INJECT_FAULT="<stage>@<rank>"`` raises an error on that rank at the first
#: time it reaches ``<stage>`` (``setup``, ``advance`` or ``coupling``); the MPI safety tests use it
#: to prove that a failure on one rank ends every rank.
FAULT_ENV = "MSR_INJECT_FAULT"


class InjectedFault(RuntimeError):
    """The error raised by the fault-injection testing hook."""


def _inject_fault(stage: str, rank: int) -> None:
    wanted = os.environ.get(FAULT_ENV, "")
    if wanted and wanted == f"{stage}@{rank}":
        raise InjectedFault(f"fault injected at {stage} on rank {rank}")


#: Construction order: geometry flows from neurons and vessels to the mesh, and from the
#: neuron partition to metabolism.
_BUILD_ORDER = ("neuron", "bloodflow", "steps", "metabolism")


#: NEURON steps between two collections of a soma report's samples (NEURON records them
#: meanwhile): 100 steps of the default 0.1 ms are 10 ms of simulated time.
SOMA_COLLECT_STEPS = 100


@dataclass
class _Report:
    """A configured report: which values, mapped how, to which writer."""

    simulator: str
    variable: str
    operator: str  # "identity", "soma" or an operator name
    columns: np.ndarray | None  # local neuron indices kept (node set), None: all
    writer: object
    #: soma reports: NEURON's own per-step record, collected every ``collect_ms``
    samples: SomaSamples | None = None
    collect_ms: float = 0.0
    next_ms: float = 0.0  # time of the next record: the hot loop skips the report until then

    @property
    def next_frame_ms(self) -> float:
        clock, done = self.writer.clock, self.writer.frames_recorded
        return clock.time_ms(done) if done < clock.n_frames else math.inf

    def advance_clock(self, t_ms: float) -> None:
        """Schedule the next record after one at ``t_ms``: the next frame, or for NEURON's samples
        the next collection (every ``collect_ms``, whether frames are due or not, and at the last
        frame)."""
        clock, nxt = self.writer.clock, self.next_frame_ms
        if self.samples is not None and nxt < math.inf:
            nxt = min(t_ms + self.collect_ms, clock.time_ms(clock.n_frames - 1))
        self.next_ms = nxt - 1e-6 * clock.dt_ms


class Simulation:
    """One co-simulation on this rank (every rank builds one; they cooperate through MPI)."""

    def __init__(
        self,
        config: Config,
        parallel: Parallel,
        use_cache: bool = True,
        progress: bool | None = None,
        stop: StopRequest | None = None,
    ):
        self.config = config
        self.stop = stop  # SIGINT/SIGTERM: stop cleanly at an agreed step (multiscale_run.interrupt)
        self.parallel = parallel
        self.use_cache = use_cache
        self.progress = config.msr["progress"] if progress is None else progress
        self.timings = Timings()
        self.simulators: dict[str, Simulator] = {}
        self.exclusions: list[Exclusion] = []
        self.t_ms = 0.0
        self.status = "created"
        self.record = RunRecord(config, parallel)

    # ------------------------------------------------------------------ set-up
    def setup(self) -> None:
        config = self.config
        from multiscale_run.nodes import simulated_nodes

        self.population, all_ids = simulated_nodes(config)
        self.node_ids = self.parallel.local_cells(all_ids)
        with self.timings.measure("setup:simulators"):
            for name in _BUILD_ORDER:
                if config.enabled(name):
                    self.simulators[name] = self._build(name)
        _inject_fault("setup", self.parallel.rank)
        if "neuron" in self.simulators:
            self.segments = self.simulators["neuron"].segment_geometry()
            self.node_ids = np.asarray(self.segments.gids)
        else:
            self.segments = None
        self.excluded = np.zeros(len(self.node_ids), dtype=bool)
        self._checks_of: dict[str, list[ValueCheck]] = {}  # by simulator, for the hot loop
        for entry in config.checks:
            chk = ValueCheck.from_config(entry)
            self._checks_of.setdefault(chk.simulator, []).append(chk)
        couplings = [
            self._with_period(
                Coupling.from_config(c, (str(config.path), f"multiscale_run.couplings[{i}].transform"))
            )
            for i, c in enumerate(config.couplings)
        ]
        self.operators = self._build_operators(couplings)
        self.manager = ConnectionManager(couplings, self.simulators, self.operators, self.parallel)
        with self.timings.measure("couplings:initial exchange"):
            self.manager.initialize()
        config.output_dir.mkdir(parents=True, exist_ok=True)
        if self.parallel.is_root:
            (config.output_dir / "config_as_run.json").write_text(json.dumps(config.data, indent=2) + "\n")
        with self.timings.measure("reports:create"):
            self.reports = self._build_reports()
        self.status = "set up"

    def _with_period(self, coupling: Coupling) -> Coupling:
        """A coupling without a period runs every lcm(src ndts, dest ndts): whenever both sides have
        new values, never more often (e.g. metabolism -> NEURON only after metabolism advanced)."""
        if coupling.ndts is not None:
            return coupling
        ndts = [self.config.simulator(name).get("ndts", 1) for name in (coupling.src, coupling.dest)]
        return dataclasses.replace(coupling, ndts=math.lcm(*ndts))

    def _build(self, name: str) -> Simulator:
        from multiscale_run.simulators.catalogue import adapter_class

        cls = adapter_class(name)
        log.info("building %s", name)
        if name == "metabolism":
            return cls(self.config, self.parallel, node_ids=self.node_ids)
        if name == "steps":
            extra = {}
            if "neuron" in self.simulators:
                extra["segment_geometry"] = self.simulators["neuron"].segment_geometry()
            if "bloodflow" in self.simulators:
                extra["vessel_geometry"] = self.simulators["bloodflow"].vessel_geometry()
            return cls(self.config, self.parallel, **extra)
        return cls(self.config, self.parallel)

    def _geometry(self):
        from multiscale_run.coupling.operators import Geometry

        return Geometry(
            segments=self.segments,
            tets=self.simulators["steps"].tet_geometry() if "steps" in self.simulators else None,
            vessels=self.simulators["bloodflow"].vessel_geometry()
            if "bloodflow" in self.simulators
            else None,
        )

    def _operator_names(self, couplings: list[Coupling]) -> set[str]:
        from multiscale_run.coupling.operators import OPERATORS

        names = set()
        for c in couplings:
            if c.operator != "identity":
                names.add(c.operator)
                if c.action == "merge":
                    names.add(OPERATORS[c.operator].writeback)
        for sim in self.config.simulators:
            for rep in self.config.simulator(sim).get("reports", []):
                if rep.get("operator") and rep["operator"] not in ("soma", "identity"):
                    names.add(rep["operator"])
        return names

    def _build_operators(self, couplings: list[Coupling]) -> dict:
        from multiscale_run.coupling.cache import OperatorCache
        from multiscale_run.coupling.operators import OperatorBuilder

        names = self._operator_names(couplings)
        if not names:
            return {}
        geometry = self._geometry()
        cache = OperatorCache(self.config.cache_dir, self.parallel, use_cache=self.use_cache)
        builder = OperatorBuilder(geometry, self.parallel)  # one builder: the clipping runs once
        with self.timings.measure("setup:operators"):
            # The same order on every rank: building and cache loading are collective.
            return {name: cache.operator(name, geometry, builder) for name in sorted(names)}

    def _build_reports(self) -> list[_Report]:
        from multiscale_run.coupling.operators import OPERATORS
        from multiscale_run.nodes import node_set_members
        from multiscale_run.reports import ReportWriter, report_window

        run = self.config.run
        reports = []
        for sim_name in self.config.simulators:
            sim = self.simulators[sim_name]
            for rep in self.config.simulator(sim_name).get("reports", []):
                var = sim.variables()[rep["variable"]]
                operator = rep.get("operator") or ("soma" if var.space is Space.SEGMENT else "identity")
                space = (
                    Space.NEURON
                    if operator == "soma"
                    else var.space
                    if operator == "identity"
                    else OPERATORS[operator].dest
                )
                start, end, dt = report_window(rep, sim.dt_ms, run.tstop_ms)
                unit = rep.get("unit") or var.unit
                path = self.config.output_dir / f"{rep['name']}.h5"
                labels = {"variable": rep["variable"], "simulator": sim_name}
                if space is Space.NEURON:
                    columns = None
                    if rep.get("node_set"):
                        members = node_set_members(self.config, rep["node_set"], self.population)
                        columns = np.flatnonzero(np.isin(self.node_ids, members))
                    ids = self.node_ids if columns is None else self.node_ids[columns]
                    writer = ReportWriter(
                        path, self.population, ids, 1, start, end, dt, unit, self.parallel, attributes=labels
                    )
                elif space is Space.SEGMENT:
                    # Segments are elements of their neuron (docs/reports.md): node = the owning
                    # neuron, element id = the segment's rank within it, columns node after node.
                    owner = self.segments.neuron_index
                    keep = np.ones(len(self.node_ids), dtype=bool)
                    if rep.get("node_set"):
                        members = node_set_members(self.config, rep["node_set"], self.population)
                        keep = np.isin(self.node_ids, members)
                    columns = np.flatnonzero(keep[owner])
                    columns = columns[np.argsort(owner[columns], kind="stable")]
                    counts = np.bincount(owner[columns], minlength=len(self.node_ids))[keep]
                    writer = ReportWriter(
                        path,
                        self.population,
                        self.node_ids[keep],
                        counts,
                        start,
                        end,
                        dt,
                        unit,
                        self.parallel,
                        attributes=labels,
                    )
                else:
                    columns = None
                    size = len(sim.get(rep["variable"])) if operator == "identity" else None
                    if size is None:
                        size = self.operators[operator].shape[0]
                    population = "tets" if space is Space.TET else "vasculature"
                    writer = ReportWriter.for_global_space(
                        path, population, size, start, end, dt, unit, self.parallel
                    )
                report = _Report(sim_name, rep["variable"], operator, columns, writer)
                if operator == "soma":  # NEURON records it: the k-th of the section's soma reports
                    k = sum(r.operator == "soma" for r in reports)
                    report.samples = sim.soma_samples(k, rep["variable"])
                    report.collect_ms = SOMA_COLLECT_STEPS * sim.dt_ms
                reports.append(report)
        self._next_record_ms = 0.0
        return reports

    # ------------------------------------------------------------------ stepping
    def _report_values(self, rep: _Report) -> np.ndarray:
        values = self.simulators[rep.simulator].get(rep.variable)
        if rep.operator != "identity":
            from multiscale_run.coupling.operators import OPERATORS

            spec = OPERATORS[rep.operator]
            values = self.operators[rep.operator] @ values
            if spec.dest.is_global and not spec.src.is_global:
                values = self.parallel.sum(values)
        return values if rep.columns is None else values[rep.columns]

    def _record(self, t_ms: float) -> None:
        if t_ms < self._next_record_ms:  # the hot loop's common case: nothing due
            return
        with self.timings.measure("reports:write"):
            for rep in self.reports:
                if t_ms >= rep.next_ms:
                    self._record_report(rep, t_ms)
            self._next_record_ms = min((rep.next_ms for rep in self.reports), default=math.inf)

    def _record_report(self, rep: _Report, t_ms: float) -> None:
        writer = rep.writer
        if rep.samples is not None:  # every frame up to t_ms from NEURON's record
            clock = writer.clock
            frames = np.arange(writer.frames_recorded, clock.last_frame_at(t_ms) + 1)
            upcoming = writer.frames_recorded + frames.size
            next_ms = clock.time_ms(upcoming) if upcoming < clock.n_frames else math.inf
            values = rep.samples.take(clock.time_ms(frames), next_ms)
            writer.record_frames(values if rep.columns is None else values[:, rep.columns])
        elif writer.due(t_ms):
            writer.record(t_ms, self._report_values(rep))
        rep.advance_clock(t_ms)

    def _check_values(self, name: str, t_ms: float) -> None:
        checks = self._checks_of.get(name)
        if not checks:  # no collective either: nothing to agree on
            return
        sim = self.simulators[name]
        abort = None
        new: list[Exclusion] = []
        for chk in checks:
            var = sim.variables()[chk.variable]
            neuron_of_segment = self.segments.neuron_index if self.segments is not None else None
            found, message = evaluate(
                chk, sim.get(chk.variable), var.space, t_ms, self.node_ids, neuron_of_segment, self.excluded
            )
            new.extend(found)
            abort = abort or message
        if self.parallel.any(abort is not None):
            messages = [m for m in self.parallel.comm.allgather(abort) if m]
            raise SimulationAborted(messages[0])
        if new:
            self._exclude(new)

    def _exclude(self, exclusions: list[Exclusion]) -> None:
        local = np.flatnonzero(np.isin(self.node_ids, [e.node_id for e in exclusions]))
        self.excluded[local] = True
        for e in exclusions:
            log.warning(
                "excluding neuron %d at t=%g ms: %s.%s = %g (%s)",
                e.node_id,
                e.time_ms,
                e.simulator,
                e.variable,
                e.value,
                e.reason,
            )
        self.exclusions.extend(exclusions)
        segment_mask = self.excluded[self.segments.neuron_index] if self.segments is not None else None
        self.manager.exclude(self.excluded, segment_mask)
        for sim in self.simulators.values():
            sim.exclude(local)

    def run(self) -> str:
        """Run to tstop; returns the final status ("completed" or "aborted: ...")."""
        config, run = self.config, self.config.run
        ndts = {name: self.config.simulator(name).get("ndts", 1) for name in self.simulators}
        base = reduce(math.gcd, ndts.values())
        n_steps = math.floor(run.tstop_ms / (base * run.dt_ms) + 1e-9)
        order = [name for name in config.simulators if name in self.simulators]
        bar = self._progress_bar(run.tstop_ms)
        self._record(0.0)
        wall0 = time.perf_counter()
        try:
            self._stop_if_asked(None, 0.0)  # a signal during the set-up
            for k in range(1, n_steps + 1):
                index = k * base
                t_ms = index * run.dt_ms
                for name in order:
                    if index % ndts[name]:
                        continue
                    with self.timings.measure(f"advance:{name}"):
                        _inject_fault("advance", self.parallel.rank)
                        self.simulators[name].advance(t_ms)
                    self._check_values(name, t_ms)
                    for bound in self.manager.due(name, index):
                        with self.timings.measure(f"coupling:{bound.coupling.name}"):
                            _inject_fault("coupling", self.parallel.rank)
                            self.manager.run(bound, self.simulators[name].dt_ms)
                self.t_ms = t_ms
                self._record(t_ms)
                self._stop_if_asked(k, t_ms)
                if bar is not None:
                    elapsed = time.perf_counter() - wall0
                    bar.set_postfix_str(f"{t_ms / max(elapsed, 1e-9):.1f} ms/s", refresh=False)
                    bar.update(min(t_ms, run.tstop_ms) - bar.n)
            self.status = "completed"
        except (SimulationAborted, RunInterrupted) as exc:
            # Every rank agreed to stop (the check is collective): flush everything, then report.
            self.status = "interrupted" if isinstance(exc, RunInterrupted) else f"aborted: {exc}"
            self._close_bar(bar)
            self.finish()
            raise
        except Exception as exc:
            # Under MPI this rank is alone in the loop: finishing would enter collectives the
            # other ranks never reach, so the error goes straight to the abort guard instead.
            if self.parallel.size == 1:
                self._close_bar(bar)
                self.status = f"failed: {exc}"
                try:
                    self.finish()
                except Exception as inner:  # e.g. the full disk that caused the failure
                    log.warning("could not flush the results after the failure: %s", inner)
            raise
        self._close_bar(bar)
        self.finish()
        return self.status

    def _stop_if_asked(self, step: int | None, t_ms: float) -> None:
        if self.stop is not None and (signum := self.stop.agreed(step)):
            raise RunInterrupted(signum, t_ms)

    @staticmethod
    def _close_bar(bar) -> None:
        if bar is not None:
            bar.close()

    def _progress_bar(self, total_ms: float):
        if not (self.progress and self.parallel.is_root):
            return None
        from tqdm import tqdm

        return tqdm(
            total=total_ms,
            unit="ms",
            unit_scale=False,
            desc="simulated",
            dynamic_ncols=True,
            bar_format="{desc}: {n:.1f}/{total:.0f} ms |{bar}| {elapsed}<{remaining} {postfix}",
        )

    # ------------------------------------------------------------------ end
    def finish(self) -> None:
        """Flush every result, whatever happened: reports, spikes, exclusions, timings, run.json."""
        out = self.config.output_dir
        with self.timings.measure("io:spikes"):
            if "neuron" in self.simulators:
                from multiscale_run.reports import write_spikes

                ids, times = self.simulators["neuron"].spikes()
                write_spikes(self.config.spikes_file, self.population, ids, times, self.parallel)
        with self.timings.measure("reports:close"):
            for rep in getattr(self, "reports", []):
                if rep.samples is not None and rep.next_frame_ms < math.inf:  # NEURON's latest frames
                    self._record_report(rep, self.t_ms)
                rep.writer.close()
        rows = self.parallel.comm.gather(self.exclusions, root=0)
        summary = self.timings.summary(self.parallel)
        if self.parallel.is_root:
            with open(out / "excluded_neurons.csv", "w", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(["node_id", "time_ms", "simulator", "variable", "value", "reason"])
                for e in sorted((e for part in rows for e in part), key=lambda e: (e.time_ms, e.node_id)):
                    writer.writerow([e.node_id, e.time_ms, e.simulator, e.variable, e.value, e.reason])
            Timings.write(summary, out / "timings.json")
            log.info("timings (min/mean/max over ranks):\n%s", Timings.table(summary))
            run = {
                "status": self.status,
                "simulators": list(self.simulators),
                "population": self.population,
                "tstop_ms": self.config.run.tstop_ms,
                "t_reached_ms": self.t_ms,
                **self.record.as_dict(),
            }
            (out / "run.json").write_text(json.dumps(run, indent=2) + "\n")
        for sim in self.simulators.values():
            sim.close()


def run_simulation(
    directory: Path | str,
    use_cache: bool = True,
    progress: bool | None = None,
    verbose: bool = False,
    overwrite: bool = False,
) -> str:
    """Check the config, then run the simulation in ``directory`` on every rank of MPI_COMM_WORLD.

    The output folder is locked for the run and must not hold an earlier run's results unless
    ``overwrite`` (:mod:`multiscale_run.output_lock`); storage failures end the run as an
    :class:`~multiscale_run.errors.OutputError`, SIGINT/SIGTERM as a clean
    :class:`~multiscale_run.interrupt.RunInterrupted`."""
    parallel = Parallel()
    # Config problems are found identically on every rank before any collective: raise normally.
    config = load(directory)
    problems = semantic_problems(config, ranks=parallel.size)
    if problems:
        raise ConfigError(problems)
    if parallel.is_root:
        for warning in semantic_warnings(config):
            log.warning("warning: %s", warning)
    out = config.output_dir
    # Claiming the folder is collective and its refusals are alike on every rank: raised normally.
    with (
        claimed_output(out, parallel, overwrite),
        abort_on_error(parallel, verbose),
        output_errors(out),
        StopRequest(parallel) as stop,
    ):
        sim = Simulation(config, parallel, use_cache=use_cache, progress=progress, stop=stop)
        sim.setup()
        return sim.run()
