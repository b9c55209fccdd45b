"""The SONATA ``inputs``: current clamps (linear, pulse) and replayed spikes (synapse_replay).

A part of :class:`~multiscale_run.simulators.neuron.adapter.NeuronSim` (a mixin: it uses the
adapter's ``h``, ``cells``, ``reader``, ``gids`` and ``settings``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import libsonata
import numpy as np

from multiscale_run.errors import UserError
from multiscale_run.nodes import members, read_node_sets

log = logging.getLogger(__name__)

_SUPPORTED_INPUTS = {("current_clamp", "linear"), ("current_clamp", "pulse"), ("spikes", "synapse_replay")}


class InputStimuli:
    """Stimuli and replayed spikes of this rank's cells."""

    def _input_targets(self, name: str, spec: dict) -> np.ndarray:
        node_set = spec.get("node_set", self.settings.node_set)
        if node_set is None:
            return self.gids
        if self.settings.node_sets_file is None:
            raise UserError(f"input {name!r} names node set {node_set!r} but there is no node_sets_file")
        node_sets = read_node_sets(self.settings.node_sets_file)
        if node_set not in node_sets.names:
            raise UserError(f"node set {node_set!r} not found", path=f"inputs.{name}.node_set")
        return self.gids[np.isin(self.gids, members(node_sets, node_set, self.population))]

    def _add_inputs(self) -> None:
        for name, spec in sorted(self.settings.inputs.items()):
            key = (spec.get("input_type"), spec.get("module"))
            if key not in _SUPPORTED_INPUTS:
                raise UserError(
                    f"input {name!r}: unsupported input_type/module {key}, supported: "
                    f"{sorted(_SUPPORTED_INPUTS)}",
                    path=f"inputs.{name}",
                )
            targets = self._input_targets(name, spec)
            if key[0] == "current_clamp":
                self._current_clamp(name, spec, targets)
            else:
                self._spike_replay(name, spec, targets)

    def _current_clamp(self, name: str, spec: dict, targets: np.ndarray) -> None:
        h = self.h
        t0 = float(spec.get("delay", 0.0))
        duration = float(spec.get("duration", self.settings.tstop_ms))
        t1 = t0 + duration
        amp0 = float(spec.get("amp_start", 0.0))
        if spec["module"] == "linear":
            amp1 = float(spec.get("amp_end", amp0))
            times, amps = [0.0, t0, t0, t1, t1], [0.0, 0.0, amp0, amp1, 0.0]
        else:
            width = float(spec["width"])
            period = 1000.0 / float(spec["frequency"])
            times, amps = [0.0], [0.0]
            for start in np.arange(t0, t1, period):
                end = min(start + width, t1)
                times += [start, start, end, end]
                amps += [0.0, amp0, amp0, 0.0]
        # Vector.play interpolates, and holds the mean of two values given at the same last time:
        # one more point makes the current exactly 0 after the stimulus.
        times.append(times[-1] + 1.0)
        amps.append(0.0)
        cell_of = {cell.gid: cell for cell in self.cells}
        for gid in targets:
            soma = cell_of[int(gid)].soma
            clamp = h.IClamp(soma(0.5))
            clamp.delay, clamp.dur = 0.0, 1e9
            tvec, avec = h.Vector(times), h.Vector(amps)
            avec.play(clamp._ref_amp, tvec, 1)
            self._stimuli.append((clamp, tvec, avec))

    def _spike_replay(self, name: str, spec: dict, targets: np.ndarray) -> None:
        path = spec.get("spike_file")
        if not path or not Path(path).exists():
            raise UserError(f"spike_file {path!r} not found", path=f"inputs.{name}.spike_file")
        reader = libsonata.SpikeReader(str(path))
        t0 = float(spec.get("delay", 0.0))
        t1 = t0 + float(spec.get("duration", self.settings.tstop_ms))
        replayed = False
        for edge_name, source in self.reader.incoming_populations():
            if source not in reader.get_population_names() or source == self.population.name:
                continue
            if spec.get("source") not in (None, source):
                continue
            replayed = True
            wanted = set(targets.tolist())
            synapses = [
                entry
                for entry in self._edge_synapses(edge_name, lambda s: np.ones(len(s), bool))
                if entry[4] in wanted
            ]
            # this rank reads only the spikes of the sources of its own cells' synapses
            ids, times = self._read_spikes(reader, source, sorted({entry[1] for entry in synapses}))
            keep = (times >= t0) & (times < t1)
            ids, times = ids[keep], times[keep]
            order = np.argsort(ids, kind="stable")
            ids, times = ids[order], times[order]
            starts = np.searchsorted(ids, np.arange(int(ids.max(initial=-1)) + 2))
            for syn, src, w, d, _ in synapses:
                if src + 1 >= len(starts):
                    continue
                spikes = times[starts[src] : starts[src + 1]]
                if len(spikes):
                    nc = self.h.NetCon(None, syn)
                    nc.weight[0] = w
                    self._replay.append((nc, np.sort(spikes) + d))
        if not replayed:
            log.warning(
                "input %s: no edges from a population of %s onto %s", name, path, self.population.name
            )

    @staticmethod
    def _read_spikes(reader, population: str, node_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        if not node_ids:
            return np.zeros(0, np.int64), np.zeros(0)
        data = reader[population].get_dict(node_ids=node_ids)
        return np.asarray(data["node_ids"], dtype=np.int64), np.asarray(data["timestamps"], dtype=float)
