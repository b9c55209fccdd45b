"""The SONATA ``inputs``: current clamps and spikes.

- ``current_clamp`` at the soma centre: ``linear``, ``relative_linear``, ``pulse``,
  ``hyperpolarizing``, ``noise`` (:func:`clamp_waveform`), ``IClamp`` (bmtk: amp from delay for
  duration);
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
from multiscale_run.simulators.neuron import hoc_batch

log = logging.getLogger(__name__)

#: (input_type, module) of every supported input
SUPPORTED_INPUTS = {
    ("current_clamp", "linear"),
    ("current_clamp", "relative_linear"),
    ("current_clamp", "pulse"),
    ("current_clamp", "hyperpolarizing"),
    ("current_clamp", "noise"),
    ("current_clamp", "IClamp"),
    ("spikes", "synapse_replay"),
    ("spikes", "sonata"),
    ("spikes", "h5"),
    ("spikes", "csv"),
}


class InputStimuli:
    """Stimuli and replayed spikes of this rank's cells."""

    def _input_targets(self, name: str, spec: dict) -> np.ndarray:
        node_set = spec.get("node_set", self.settings.node_set)
        if node_set is None:
            return self.gids
        ids = self.reader.node_set(node_set, f"inputs.{name}.node_set").get(self.population.name, [])
        return self.gids[np.isin(self.gids, ids)]

    def _add_inputs(self) -> None:
        for name, spec in sorted(self.settings.inputs.items()):
            key = (spec.get("input_type"), spec.get("module"))
            if key not in SUPPORTED_INPUTS:
                raise UserError(
                    f"input {name!r}: unsupported input_type/module {key}, supported: "
                    f"{sorted(SUPPORTED_INPUTS)}",
                    path=f"inputs.{name}",
                )
            if key[0] == "current_clamp":
                self._current_clamp(name, spec, self._input_targets(name, spec))
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
        noise = [n for n, sp in self.settings.inputs.items() if sp.get("module") == "noise"]
        for gid in targets:
            draw = None
            if spec["module"] == "noise":
                draw = lambda *args, g=int(gid): self._noise_draws(g, noise.index(name), *args)  # noqa: E731
            times, amps = clamp_waveform(spec, self._node_currents(int(gid)), self.settings, draw)
            # Vector.play interpolates, and holds the mean of two values given at the same last
            # time: one more point makes the current exactly 0 after the stimulus.
            times, amps = [*times, times[-1] + 1.0], [*amps, 0.0]
            clamp = h.IClamp(cell_of[int(gid)].soma(0.5))
            clamp.delay, clamp.dur = 0.0, 1e9
            tvec, avec = h.Vector(times), h.Vector(amps)
            avec.play(clamp._ref_amp, tvec, 1)
            self._stimuli.append((clamp, tvec, avec))

    def _noise_draws(self, gid: int, count: int, t0: float, end: float, step: float, mean, variance, n: int):
        """The first ``n`` values of the noise input number ``count`` (0-based, in config order) on
        node ``gid``, drawn as neurodamus's TStim.noise draws them: NEURON's Random123 stream
        (count + 100, stimulus_seed + 500, gid + 300) under the global index ``run.random_seed``,
        normal(mean, variance); with a delay, the values of the times before it are drawn first
        (in chunks of end − t0 − dt) and skipped."""
        h = self.h
        rng = h.Random()
        rng.Random123_globalindex(self.settings.random_seed)
        rng.Random123(count + 100, self.settings.stimulus_seed + 500, gid + 300)
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

    def _node_currents(self, gid: int) -> dict:
        """The node's ``holding_current`` and ``threshold_current`` (nA, BBP ``dynamics_params``)."""
        out = {}
        for key in ("holding_current", "threshold_current"):
            name = f"@dynamics:{key}"
            if name in self.population.attribute_names:
                out[key] = self.population.get(name, np.array([gid]))[0]
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
        sources = {
            source: None
            for _, source in self.reader.incoming_populations()
            if source in in_file and source != self.population.name and spec.get("source") in (None, source)
        }
        if not sources:
            log.warning(
                "input %s: no edges from a population of %s onto %s", name, path, self.population.name
            )
        t0 = float(spec.get("delay", 0.0))
        window = (t0, t0 + float(spec.get("duration", self.settings.tstop_ms)))
        self._replay_spikes(path, "sonata", sources, targets, window)

    def _spike_input(self, name: str, spec: dict) -> None:
        """bmtk: the spikes of the node set's (virtual) nodes onto every simulated cell."""
        path = self._spike_file(name, spec, "input_file")
        if "node_set" not in spec:
            raise UserError(f"input {name!r} needs the node_set of its source nodes", path=f"inputs.{name}")
        sources = self.reader.node_set(spec["node_set"], f"inputs.{name}.node_set")
        sources.pop(self.population.name, None)
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
            synapses = self._edge_synapses(
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
                (syn, w, np.sort(times[starts[src] : starts[src + 1]]) + d)
                for syn, src, w, d, _ in synapses
                if src + 1 < len(starts) and starts[src + 1] > starts[src]
            ]
            replay = hoc_batch.netcons(self.h, [f[0] for f in fed], [f[1] for f in fed])
            self._replay += list(zip(replay, [f[2] for f in fed], strict=True))


def clamp_waveform(spec: dict, currents: dict, settings, draw=None) -> tuple[list, list]:
    """(times ms, amplitudes nA) of a SONATA current clamp on one cell, as the specification
    defines the modules (SONATA simulation config, "inputs"): the current is 0 outside
    [delay, delay + duration);

    - ``linear``: amp_start → amp_end (default amp_start) ramp;
    - ``relative_linear``: the same with percent_start/percent_end of the cell's threshold_current;
    - ``pulse``: amp_start for ``width`` ms at ``frequency`` Hz;
    - ``hyperpolarizing``: the cell's holding_current;
    - ``noise``: values every ``dt`` (default 0.5 ms), linearly interpolated, drawn from a normal
      distribution of mean ``mean`` and variance ``variance`` (nA²), or with ``mean_percent``,
      mean and variance in % of threshold_current (as neurodamus and bluecellulab read it);
      ``draw(t0, end, dt, mean, variance, n)`` gives the first ``n`` values
      (:meth:`InputStimuli._noise_draws`: BBP's stream).
    """
    t0 = float(spec.get("delay", 0.0))
    t1 = min(t0 + float(spec.get("duration", settings.tstop_ms)), max(settings.tstop_ms, t0))
    module = spec["module"]

    def threshold() -> float:
        if currents.get("threshold_current") is None:
            raise UserError(f"current_clamp {module} needs the node's dynamics_params/threshold_current")
        return float(currents["threshold_current"])

    if module in ("linear", "relative_linear"):
        if module == "linear":
            a0 = float(spec.get("amp_start", 0.0))
            a1 = float(spec.get("amp_end", a0))
        else:
            a0 = float(spec["percent_start"]) / 100.0 * threshold()
            a1 = float(spec.get("percent_end", spec["percent_start"])) / 100.0 * threshold()
        return [0.0, t0, t0, t1, t1], [0.0, 0.0, a0, a1, 0.0]
    if module == "hyperpolarizing":
        if currents.get("holding_current") is None:
            raise UserError("current_clamp hyperpolarizing needs the node's dynamics_params/holding_current")
        amp = float(currents["holding_current"])
        return [0.0, t0, t0, t1, t1], [0.0, 0.0, amp, amp, 0.0]
    if module == "pulse":
        amp0, width = float(spec.get("amp_start", 0.0)), float(spec["width"])
        period = 1000.0 / float(spec["frequency"])
        times, amps = [0.0], [0.0]
        for start in np.arange(t0, t1, period):
            end = min(start + width, t1)
            times += [start, start, end, end]
            amps += [0.0, amp0, amp0, 0.0]
        return times, amps
    if module == "noise":
        if "mean" in spec:
            mean, variance = float(spec["mean"]), float(spec["variance"])
        else:  # relative to the threshold current, the variance too (neurodamus, bluecellulab)
            mean = float(spec["mean_percent"]) / 100.0 * threshold()
            variance = float(spec["variance"]) / 100.0 * threshold()
        step = float(spec.get("dt", 0.5))
        end = t0 + float(spec.get("duration", settings.tstop_ms))
        times = np.arange(t0, min(end, settings.tstop_ms + step) + step / 2, step)
        values = np.asarray(draw(t0, end, step, mean, variance, len(times)), dtype=float)
        if t0 > 0:
            values[0] = 0.0  # 0 nA until the first step after a delay
        if end < settings.tstop_ms and times[-1] >= end:
            values[-1] = 0.0
        times, values = times.tolist(), values.tolist()
        if t0 > 0:
            times, values = [0.0, *times], [0.0, *values]
        if end < settings.tstop_ms:
            times, values = [*times, end], [*values, 0.0]
        return times, values
    raise UserError(f"current_clamp module {module!r} unsupported")
