"""The SONATA ``inputs``: current and voltage clamps, and spikes.

- ``current_clamp`` at the soma centre: the modules of
  :data:`~multiscale_run.simulators.neuron.clamps.CLAMPS` (waveforms played into an IClamp),
  ``IClamp`` (bmtk: amp from delay for duration);
- ``conductance``: the modules of :data:`~multiscale_run.simulators.neuron.clamps.CONDUCTANCE_MODULES`,
  the waveform (µS) played into the conductance of an ``msr_gclamp`` (``templates/mod``) at the
  soma centre, of reversal potential ``reversal``;
- ``voltage_clamp`` ``seclamp``: a SEClamp at the soma centre holding ``voltage`` (mV) through
  ``series_resistance`` (MΩ, default 0.01) from 0 for ``duration`` ms, then each of
  ``voltage_levels`` for its ``duration_levels``;
- ``spikes``: ``synapse_replay`` (SONATA: ``spike_file`` replayed onto the synapses of the
  ``node_set``'s cells from the file's populations) and bmtk's ``sonata``/``h5``/``csv``
  (``input_file``; ``node_set`` names the source nodes, usually their population).

A part of :class:`~multiscale_run.simulators.neuron.adapter.NeuronSim` (a mixin: it uses the
adapter's ``h``, ``cells``, ``reader``, ``gids`` and ``settings``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from multiscale_run.circuit.spikes import read_spikes
from multiscale_run.errors import UserError
from multiscale_run.simulators.neuron import hoc_batch, random_streams
from multiscale_run.simulators.neuron.clamps import (
    CLAMPS,
    CONDUCTANCE_MODULES,
    clamp_waveform,
    conductance_mode,
    parameters,
)
from multiscale_run.simulators.neuron.noise_sources import NoiseDraws
from multiscale_run.simulators.neuron.seclamp import seclamp_levels

log = logging.getLogger(__name__)

#: (input_type, module) of every supported input
SUPPORTED_INPUTS = (
    {("current_clamp", name) for name in CLAMPS}
    | {("conductance", name) for name in CONDUCTANCE_MODULES}
    | {
        ("current_clamp", "IClamp"),
        ("voltage_clamp", "seclamp"),
        ("spikes", "synapse_replay"),
        ("spikes", "sonata"),
        ("spikes", "h5"),
        ("spikes", "csv"),
    }
)


#: the mechanism conductance inputs use
GCLAMP = "msr_gclamp"


def kind_problem(spec: dict) -> tuple[str, str, str] | None:
    """(JSON path below the input, what is wrong, what is expected) of an input's kind; None if
    msr runs it."""
    key = (spec.get("input_type"), spec.get("module"))
    if key in SUPPORTED_INPUTS:
        return None
    if key[0] == "conductance" and key[1] in CLAMPS:
        return (
            ".input_type",
            f"module {key[1]} has no conductance mode (SONATA, as libsonata reads it, has input_type "
            f"conductance for {', '.join(CONDUCTANCE_MODULES)} only)",
            "input_type current_clamp, or one of those modules",
        )
    return "", f"unsupported input_type/module {key}", f"one of {sorted(SUPPORTED_INPUTS)}"


class InputStimuli:
    """Stimuli and replayed spikes of this rank's cells."""

    def _input_targets(self, name: str, spec: dict) -> np.ndarray:
        node_set = spec.get("node_set", self.settings.node_set)
        if node_set is None:
            return self.gids
        ids = self.reader.gids_in(self.reader.node_set(node_set, f"inputs.{name}.node_set"))
        return self.gids[np.isin(self.gids, ids)]

    def _add_inputs(self) -> None:
        for name, spec in sorted(self.settings.inputs.items()):
            key = (spec.get("input_type"), spec.get("module"))
            if problem := kind_problem(spec):
                at, message, expected = problem
                raise UserError(f"{message}; expected {expected}", path=f"inputs.{name}{at}")
            if key[0] in ("current_clamp", "conductance"):
                self._current_clamp(name, spec, self._input_targets(name, spec))
            elif key[0] == "voltage_clamp":
                self._seclamp(name, spec, self._input_targets(name, spec))
            elif key[1] == "synapse_replay":
                self._synapse_replay(name, spec)
            else:
                self._spike_input(name, spec)

    def _current_clamp(self, name: str, spec: dict, targets: np.ndarray) -> None:
        h = self.h
        cell_of = {cell.gid: cell for cell in self.cells}
        if spec["module"] == "IClamp":
            for gid in targets:
                clamp = h.IClamp(cell_of[int(gid)].soma(0.5))
                clamp.delay = float(spec.get("delay", 0.0))
                clamp.dur = float(spec["duration"])
                clamp.amp = float(spec["amp"])
                self._stimuli.append((clamp,))
            return
        module, where = CLAMPS[spec["module"]], f"inputs.{name}"
        p = parameters(spec, where)  # a bad parameter is named once, before any cell
        count = self._stimulus_count(name, spec["module"])
        conductance = conductance_mode(spec)
        if conductance and not hasattr(h, GCLAMP):
            raise UserError(
                f"input_type conductance needs the {GCLAMP} mechanism, which no loaded .mod file "
                "defines (a neuron.mod_dir copied before it shipped?)",
                path=f"{where}.input_type",
            )
        for gid in targets:
            gid = int(gid)
            rng = None
            if spec["module"] == "noise":
                draw = lambda *args, g=gid: self._noise_draws(g, count, *args)  # noqa: E731
                rng = NoiseDraws(draw, self.settings.noise_convention)
            elif module.random:
                seed = None if spec.get("random_seed") is None else int(spec["random_seed"])
                stimulus_seed = self.settings.stimulus_seed
                ids = random_streams.stimulus_ids(spec["module"], count, stimulus_seed, gid, seed)
                rng = random_streams.random123(h, ids)
            try:
                times, amps = clamp_waveform(spec, self._node_attributes(gid), self.settings, rng, where)
            except UserError as exc:
                who = self.reader.describe(gid)
                raise UserError(f"{who}: {exc.message}", path=exc.path) from None
            # Vector.play interpolates, and holds the mean of two values given at the same last
            # time: one more point makes the current exactly 0 after the stimulus.
            times, amps = [*times, times[-1] + 1.0], [*amps, 0.0]
            if conductance:
                clamp = getattr(h, GCLAMP)(cell_of[gid].soma(0.5))
                clamp.e, target = p["reversal"], clamp._ref_g
            else:
                clamp = h.IClamp(cell_of[gid].soma(0.5))
                clamp.delay, clamp.dur, target = 0.0, 1e9, clamp._ref_amp
            tvec, avec = h.Vector(times), h.Vector(amps)
            avec.play(target, tvec, 1)
            self._stimuli.append((clamp, tvec, avec))

    def _seclamp(self, name: str, spec: dict, targets: np.ndarray) -> None:
        """SONATA seclamp: NEURON's SEClamp at the soma centre, on from t = 0 holding each level
        for its duration; its level (amp1) is played as steps from a Vector, dur1 covers them all."""
        h = self.h
        levels, resistance = seclamp_levels(spec, self.settings.tstop_ms, f"inputs.{name}")
        starts = np.concatenate([[0.0], np.cumsum([d for _, d in levels])])
        times = np.repeat(starts, 2)[1:-1]  # each level from its start to its end: steps
        voltages = np.repeat([v for v, _ in levels], 2)
        cell_of = {cell.gid: cell for cell in self.cells}
        for gid in targets:
            clamp = h.SEClamp(cell_of[int(gid)].soma(0.5))
            clamp.dur1, clamp.amp1, clamp.rs = starts[-1], levels[0][0], resistance
            clamp.dur2 = clamp.dur3 = 0.0
            tvec, vvec = h.Vector(times), h.Vector(voltages)
            vvec.play(clamp._ref_amp1, tvec, 1)
            self._stimuli.append((clamp, tvec, vvec))

    def _stimulus_count(self, name: str, module: str) -> int:
        """The rank of input ``name`` among the config's inputs of its module's random family
        (config order), which seeds its streams as in neurodamus."""
        family = random_streams.family(module)
        inputs = self.settings.inputs.items()
        same = [n for n, sp in inputs if random_streams.family(sp.get("module")) == family]
        return same.index(name) if family else 0

    def _noise_draws(self, gid: int, count: int, t0: float, end: float, step: float, mean, variance, n: int):
        """The first ``n`` values of the noise input number ``count`` (0-based, in config order) on
        node ``gid``, drawn as neurodamus's Noise stimulus draws them (its Random123 stream,
        :mod:`~multiscale_run.simulators.neuron.random_streams`), normal(mean, variance); with a
        delay, the values of the times before it are drawn first (in chunks of end − t0 − dt)
        and skipped."""
        h = self.h
        base = 0 if self.settings.noise_convention == "bluecellulab" else 1
        ids = random_streams.stimulus_ids("noise", count, self.settings.stimulus_seed, gid, legacy_base=base)
        rng = random_streams.random123(h, ids)
        rng.normal(mean, variance)
        dt = self.settings.dt_ms
        if t0 > 0:
            prev, chunk = 0.0, end - t0 - dt
            while prev < t0 - dt:
                nxt = min(prev + chunk, t0 - dt)
                h.Vector(int((nxt - prev) / step + 1e-9) + 1).setrand(rng)
                prev = nxt + dt
        values = h.Vector(n)
        values.setrand(rng)
        return values.as_numpy().copy()

    def _node_attributes(self, gid: int) -> dict:
        """The node's ``holding_current``, ``threshold_current`` (nA) and ``input_resistance`` (MΩ)
        (BBP ``dynamics_params``) that it has."""
        out = {}
        pop, node_id = self.reader.population_of(gid)
        for key in ("holding_current", "threshold_current", "input_resistance"):
            name = f"@dynamics:{key}"
            if name in pop.attribute_names:
                out[key] = pop.get(name, np.array([node_id]))[0]
        return out

    def _spike_file(self, name: str, spec: dict, key: str) -> Path:
        path = spec.get(key)
        if not path or not Path(path).exists():
            raise UserError(f"{key} {path!r} not found", path=f"inputs.{name}.{key}")
        return Path(path)

    def _synapse_replay(self, name: str, spec: dict) -> None:
        """SONATA: the file's spikes onto the synapses of the node set's cells."""
        import h5py

        path = self._spike_file(name, spec, "spike_file")
        with h5py.File(path, "r") as f:
            in_file = set(f.get("spikes", {}))
        targets = self._input_targets(name, spec)
        simulated = self.reader.selection.populations
        sources = {
            source: None
            for _, source in self.reader.incoming_populations()
            if source in in_file and source not in simulated and spec.get("source") in (None, source)
        }
        if not sources:
            log.warning("input %s: no edges from a population of %s onto %s", name, path, simulated)
        t0 = float(spec.get("delay", 0.0))
        window = (t0, t0 + float(spec.get("duration", self.settings.tstop_ms)))
        self._replay_spikes(path, "sonata", sources, targets, window)

    def _spike_input(self, name: str, spec: dict) -> None:
        """bmtk: the spikes of the node set's (virtual) nodes onto every simulated cell."""
        path = self._spike_file(name, spec, "input_file")
        if "node_set" not in spec:
            raise UserError(f"input {name!r} needs the node_set of its source nodes", path=f"inputs.{name}")
        sources = self.reader.node_set(spec["node_set"], f"inputs.{name}.node_set")
        for population in self.reader.selection.populations:
            sources.pop(population, None)
        everything = (-np.inf, self.settings.tstop_ms)
        self._replay_spikes(
            path, spec["module"], sources, np.concatenate([self.gids, self.point_gids]), everything
        )

    def _replay_spikes(self, path: Path, module: str, sources: dict, targets: np.ndarray, window) -> None:
        """Events of the spikes in ``path`` of ``sources`` ({population: node ids or None = all})
        within ``window`` (t0, t1) ms on the synapses of the edges from those populations onto
        ``targets``."""
        for edge_name, source in self.reader.incoming_populations():
            if source not in sources:
                continue
            wanted = sources[source]
            synapses, schedules = self._edge_synapses(
                edge_name,
                lambda s, t, w=wanted: (
                    np.isin(t, targets) & (np.ones(len(s), bool) if w is None else np.isin(s, w))
                ),
            )
            ids, times = read_spikes(path, source, module)
            keep = np.isin(ids, [entry[1] for entry in synapses]) & (times >= window[0]) & (times < window[1])
            ids, times = ids[keep], times[keep]
            order = np.argsort(ids, kind="stable")
            ids, times = ids[order], times[order]
            starts = np.searchsorted(ids, np.arange(int(ids.max(initial=-1)) + 2))
            fed = [
                (syn, w, np.sort(times[starts[src] : starts[src + 1]]) + d, schedule)
                for (syn, src, w, d, _), schedule in zip(synapses, schedules, strict=True)
                if src + 1 < len(starts) and starts[src + 1] > starts[src]
            ]
            replay = hoc_batch.netcons(self.h, [f[0] for f in fed], [f[1] for f in fed])
            self._replay += list(zip(replay, [f[2] for f in fed], strict=True))
            self._schedule(replay, [f[1] for f in fed], [f[3] for f in fed])
