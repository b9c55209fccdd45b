"""The orchestrator: builds the enabled simulators, then steps them, couples them and records reports.

Main loop, per base step Δ = gcd(all simulator dt) (DESIGN.md §1):

1. advance each simulator whose step is due, in config order (default neuron → steps →
   bloodflow → metabolism);
2. right after a simulator advances, check its values, then run the couplings whose destination
   is that simulator, in config order;
3. record the reports that are due; update the progress bar.

A run of one simulator that can advance several steps in one call (NEURON) and that nothing
couples or checks is advanced in stretches instead: one advance up to the next step at which
something is due (a report frame, a snapshot by simulated time, the ranks' agreement on signals
every :data:`~multiscale_run.interrupt.AGREE_EVERY` steps, tstop), the same steps as one advance
per base step without the per-step bookkeeping.

Coupling is explicit: a simulator with a long step (metabolism, 100 ms) integrates the interval
the others just finished with the inputs of the previous exchange.

Snapshots (:mod:`multiscale_run.checkpoints`) are taken after a base step's reports; a resumed
run is set up as usual, then the snapshot's state replaces the set-up state and the loop goes on
from the step after it.
"""

from __future__ import annotations

import logging
import math
from functools import reduce

import numpy as np

from multiscale_run.checkpoints import CheckpointSettings
from multiscale_run.checkpoints import run_state as checkpoint
from multiscale_run.config import Config
from multiscale_run.coupling.geometry import Geometry
from multiscale_run.coupling.manager import ConnectionManager
from multiscale_run.coupling.setup import build_operators, couplings_from_config
from multiscale_run.errors import OutputError, SimulationAborted
from multiscale_run.faults import inject_fault
from multiscale_run.interrupt import AGREE_EVERY, RunInterrupted, StopRequest
from multiscale_run.output import run_files
from multiscale_run.output.recorders import build_recorders
from multiscale_run.output_errors import folder_identity, vanished
from multiscale_run.parallel import Parallel
from multiscale_run.progress import Progress
from multiscale_run.provenance import RunRecord
from multiscale_run.simulators import catalogue
from multiscale_run.simulators.base import Simulator, SpikeSource
from multiscale_run.timings import Timings
from multiscale_run.value_checks import ValueGuard

log = logging.getLogger(__name__)


class Simulation:
    """One co-simulation on this rank (every rank builds one; they cooperate through MPI)."""

    def __init__(
        self,
        config: Config,
        parallel: Parallel,
        use_cache: bool = True,
        progress: bool | None = None,
        stop: StopRequest | None = None,
        checkpoints: CheckpointSettings | None = None,
    ):
        self.config = config
        self.stop = stop  # SIGINT/SIGTERM: stop cleanly at an agreed step (multiscale_run.interrupt)
        self.parallel = parallel
        self.use_cache = use_cache
        self.progress = config.msr["progress"] if progress is None else progress
        self.timings = Timings()
        self.simulators: dict[str, Simulator] = {}
        self.t_ms = 0.0
        self.status = "created"
        self.record = RunRecord(config, parallel)
        self.checkpoints = checkpoints if checkpoints is not None else CheckpointSettings.from_config(config)
        self.start_step = 0  # the base step a resumed run continues after

    # ------------------------------------------------------------------ set-up
    def setup(self, resume: dict[str, np.ndarray] | None = None) -> None:
        """Build everything; ``resume``: a snapshot's state of this rank to continue from."""
        config = self.config
        from multiscale_run.nodes import simulated_nodes

        self.cells = simulated_nodes(config)
        self.node_ids = self.parallel.local_cells(self.cells.gids)  # gids: one number per cell
        products: dict[str, object] = {catalogue.NODE_IDS: self.node_ids, catalogue.CELLS: self.cells}
        with self.timings.measure("setup:simulators"):
            for name in catalogue.build_order(config.simulators):
                log.info("building %s", name)
                with self.timings.measure(f"setup:simulator:{name}"):
                    self.simulators[name] = catalogue.build(name, config, self.parallel, products)
        inject_fault("setup", self.parallel.rank)
        self.segments = products.get("segment_geometry")
        self.tets = products.get("tet_geometry")
        self.vessels = products.get("vessel_geometry")
        owner = self.segments.neuron_index if self.segments is not None else None
        self.guard = ValueGuard(config.checks, self.node_ids, owner, self._name_of)
        couplings = couplings_from_config(config)
        geometry = Geometry(
            segments=self.segments,
            tets=self.tets,
            vessels=self.vessels,
            endfeet=products.get("endfoot_geometry"),
        )
        with self.timings.measure("setup:operators"):
            self.operators = build_operators(config, couplings, geometry, self.parallel, self.use_cache)
        self.manager = ConnectionManager(couplings, self.simulators, self.operators, self.parallel)
        if resume is not None:
            with self.timings.measure("checkpoint:restore"):
                self.start_step = checkpoint.restore(self, resume)
        else:
            with self.timings.measure("couplings:initial exchange"):
                self.manager.initialize()
        config.output_dir.mkdir(parents=True, exist_ok=True)
        self.output_identity = folder_identity(config.output_dir)
        if self.parallel.is_root:
            run_files.write_json(config.output_dir / "config_as_run.json", config.data)
        with self.timings.measure("reports:create"):
            self.reports = build_recorders(
                config,
                self.simulators,
                self.operators,
                self.node_ids,
                self.segments,
                self.cells,
                self.parallel,
                resume=None if resume is None else (self.t_ms, checkpoint.part(resume, "reports/")),
            )
        self.checkpointer = checkpoint.Checkpointer(self.checkpoints, self)
        self.status = "set up"

    def _name_of(self, gid: int) -> str:
        """A cell as messages name it: ``population P node N``."""
        (population,), (node,) = self.cells.locate([gid])
        return f"population {population} node {int(node)}"

    def _record(self, t_ms: float) -> None:
        if t_ms < self.reports.next_ms:  # the hot loop's common case: nothing due
            return
        with self.timings.measure("reports:write"):
            self.reports.record(t_ms)

    def _check_values(self, name: str, t_ms: float) -> None:
        local = self.guard.check(name, self.simulators[name], t_ms, self.parallel)
        if local is not None:  # decouple the newly excluded neurons everywhere
            self.manager.exclude(self.guard.excluded, self.guard.excluded_segments)
            for sim in self.simulators.values():
                sim.exclude(local)

    def run(self) -> str:
        """Run to tstop; returns the final status ("completed" or "aborted: ...")."""
        config, run = self.config, self.config.run
        ndts = {name: self.config.simulator(name)["ndts"] for name in self.simulators}
        base = reduce(math.gcd, ndts.values())
        n_steps = math.floor(run.tstop_ms / (base * run.dt_ms) + 1e-9)
        order = [name for name in config.simulators if name in self.simulators]
        self._record(self.t_ms)  # t = 0, or a resumed run's frames due at its snapshot (extended)
        bar = Progress(run.tstop_ms, shown=self.progress and self.parallel.is_root, start_ms=self.t_ms)
        k = self.start_step
        stretches = self._stretchable(order)
        try:
            self._stop_if_asked(None, self.t_ms)  # a signal during the set-up
            while k < n_steps:
                k = self._stretch_end(k + 1, n_steps, base) if stretches else k + 1
                index = k * base
                t_ms = index * run.dt_ms
                for name in order:
                    if index % ndts[name]:
                        continue
                    with self.timings.measure(f"advance:{name}"):
                        inject_fault("advance", self.parallel.rank)
                        self.simulators[name].advance(t_ms)
                    self._check_values(name, t_ms)
                    for bound in self.manager.due(name, index):
                        with self.timings.measure(f"coupling:{bound.coupling.name}"):
                            inject_fault("coupling", self.parallel.rank)
                            self.manager.run(bound, self.simulators[name].dt_ms)
                t_prev, self.t_ms = self.t_ms, t_ms
                self._record(t_ms)
                self.checkpointer.after_step(k, t_prev, t_ms)
                self._stop_if_asked(k, t_ms)
                bar.update(t_ms)
            self._check_output_folder()
            if self.checkpoints.at_end and self.checkpointer.last_step != k:
                self.checkpointer.take(k)
            self.status = "completed"
        except (SimulationAborted, RunInterrupted) as exc:
            # Every rank agreed to stop (the check is collective): flush everything, then report.
            self.status = "interrupted" if isinstance(exc, RunInterrupted) else f"aborted: {exc}"
            bar.close()
            self.finish()
            raise
        except Exception as exc:
            # Under MPI this rank is alone in the loop: finishing would enter collectives the
            # other ranks never reach, so the error goes straight to the abort guard instead.
            if self.parallel.size == 1:
                bar.close()
                self.status = f"failed: {exc}"
                try:
                    self.finish()
                except Exception as inner:  # e.g. the full disk that caused the failure
                    log.warning("could not flush the results after the failure: %s", inner)
            raise
        bar.close()
        self.finish()
        return self.status

    def _stretchable(self, order: list[str]) -> bool:
        """Whether the run advances in stretches (module docstring)."""
        if len(order) != 1:
            return False
        name = order[0]
        sim = self.simulators[name]
        return sim.multistep_advance and not self.manager.couples(name) and not self.guard.watches(name)

    def _stretch_end(self, first: int, n_steps: int, base: int) -> int:
        """The last base step of the stretch that starts at step ``first``: the first step at or
        after it at which a report frame or a snapshot is due, else the next multiple of
        AGREE_EVERY (where the ranks agree on signals), else ``n_steps``."""
        dt = self.config.run.dt_ms
        last = min(n_steps, -(-first // AGREE_EVERY) * AGREE_EVERY)
        t_prev = self.t_ms
        for k in range(first, last):
            t_ms = k * base * dt  # as the loop computes it
            if t_ms >= self.reports.next_ms or self.checkpoints.due_by_time(t_prev, t_ms):
                return k
            t_prev = t_ms
        return last

    def _stop_if_asked(self, step: int | None, t_ms: float) -> None:
        if self.stop is not None and (signum := self.stop.agreed(step)):
            snapshot = None
            if self.checkpoints.on_signal and hasattr(self, "checkpointer"):
                snapshot = self.checkpointer.take(self.start_step if step is None else step)
            raise RunInterrupted(signum, t_ms, snapshot)

    def _check_output_folder(self) -> None:
        """The output folder is still the one the reports were created in (rank 0 looks, every
        rank learns the verdict), else :class:`~multiscale_run.errors.OutputError`."""
        problem = vanished(self.config.output_dir, self.output_identity) if self.parallel.is_root else None
        if self.parallel.size > 1:
            problem = self.parallel.bcast(problem)
        if problem:
            raise OutputError(problem)

    # ------------------------------------------------------------------ end
    def finish(self) -> None:
        """Flush every result, whatever happened: reports, spikes, exclusions, timings, run.json."""
        out = self.config.output_dir
        with self.timings.measure("io:spikes"):
            sources = catalogue.providing(self.simulators, SpikeSource)
            if sources:
                from multiscale_run.output import write_spikes

                spikes = [s.spikes() for s in sources]
                gids, times = (np.concatenate(part) for part in zip(*spikes, strict=True))
                populations, ids = self.cells.locate(gids)
                by_population = {
                    p: (ids[populations == p], times[populations == p]) for p in self.cells.populations
                }
                write_spikes(self.config.spikes_file, by_population, self.parallel)
        with self.timings.measure("reports:close"):
            if hasattr(self, "reports"):
                self.reports.close(self.t_ms)
        rows = self.parallel.gather(self.guard.exclusions if hasattr(self, "guard") else [])
        summary = self.timings.summary(self.parallel)
        if self.parallel.is_root:
            run_files.write_exclusions(
                out / "excluded_neurons.csv", [e for part in rows for e in part], self.cells
            )
            run_files.write_timings(out / "timings.json", summary)
            run = {
                "status": self.status,
                "simulators": list(self.simulators),
                "populations": self.cells.populations,
                "tstop_ms": self.config.run.tstop_ms,
                "t_reached_ms": self.t_ms,
                **self.record.as_dict(),
            }
            run_files.write_json(out / "run.json", run)
        for sim in self.simulators.values():
            sim.close()
