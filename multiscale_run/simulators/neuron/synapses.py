"""Spike detection, synapses from SONATA edges and their connections through NEURON's ParallelContext.

A part of :class:`~multiscale_run.simulators.neuron.adapter.NeuronSim` (a mixin: it uses the
adapter's ``h``, ``pc``, ``cells``, ``reader``, ``gids`` and ``settings``).
"""

from __future__ import annotations

import numpy as np

from multiscale_run.errors import UserError
from multiscale_run.simulators.neuron.cells import _Cell


class SynapseWiring:
    """Gids, spike detectors, synapses and netcons of this rank."""

    def _register_gids(self) -> None:
        h, pc = self.h, self.pc
        self._spike_t, self._spike_gid = h.Vector(), h.Vector()
        self._detectors = []
        for cell in self.cells:
            pc.set_gid2node(cell.gid, self.parallel.rank)
            nc = h.NetCon(cell.soma(0.5)._ref_v, None, sec=cell.soma)
            nc.threshold = self.settings.spike_threshold_mV
            pc.cell(cell.gid, nc)
            self._detectors.append(nc)
        if not self.cells:
            # NEURON 9 segfaults in psolve on a rank that owns no gid (install-notes): give it a
            # silent artificial cell under a gid no node uses.
            self._placeholder = h.IntFire1()
            gid = int(self.node_ids.max(initial=-1)) + 1 + self.parallel.rank
            pc.set_gid2node(gid, self.parallel.rank)
            nc = h.NetCon(self._placeholder, None)
            pc.cell(gid, nc)
            self._detectors.append(nc)
        pc.spike_record(-1, self._spike_t, self._spike_gid)

    def _synapse(self, cell: _Cell, section_id: int, pos: float, attrs: dict, k: int, excitatory: bool):
        h = self.h
        if not 0 <= section_id < len(cell.sections):
            raise UserError(
                f"synapse on section {section_id} of node {cell.gid}, which has {len(cell.sections)} sections"
            )
        syn = h.Exp2Syn(cell.sections[section_id](min(max(pos, 0.0), 1.0)))
        rise = float(attrs["rise_time"][k]) if "rise_time" in attrs else (0.2 if excitatory else 1.0)
        decay = float(attrs["decay_time"][k]) if "decay_time" in attrs else (1.7 if excitatory else 8.0)
        syn.tau1, syn.tau2 = rise, max(decay, rise * 1.001)
        syn.e = 0.0 if excitatory else -80.0
        self._synapses.append(syn)
        return syn

    @staticmethod
    def _excitatory(attrs: dict, n: int) -> np.ndarray:
        if "syn_type_id" in attrs:
            return np.asarray(attrs["syn_type_id"]) >= 100  # BBP: < 100 inhibitory
        if "erev" in attrs:
            return np.asarray(attrs["erev"], dtype=float) > -40.0
        return np.ones(n, dtype=bool)

    def _edge_synapses(self, edge_name: str, keep_source) -> list[tuple[object, int, float, float]]:
        """Create synapses for local afferent edges; returns (synapse, source id, weight µS, delay ms)."""
        attrs = self.reader.afferent(edge_name, self.gids)
        keep = keep_source(attrs["source"])
        attrs = {k: v[keep] for k, v in attrs.items()}
        n = len(attrs["source"])
        exc = self._excitatory(attrs, n)
        weight = attrs.get("syn_weight", attrs.get("conductance", np.full(n, 0.001))).astype(float)
        delay = np.maximum(attrs.get("delay", np.ones(n)).astype(float), self.settings.min_delay_ms)
        section = attrs.get("afferent_section_id", np.zeros(n, dtype=np.int64)).astype(np.int64)
        position = attrs.get("afferent_section_pos", np.full(n, 0.5)).astype(float)
        cell_of = {cell.gid: cell for cell in self.cells}
        out = []
        for k in range(n):
            syn = self._synapse(
                cell_of[int(attrs["target"][k])], int(section[k]), float(position[k]), attrs, k, bool(exc[k])
            )
            out.append(
                (syn, int(attrs["source"][k]), float(weight[k]), float(delay[k]), int(attrs["target"][k]))
            )
        return out

    def _connect(self) -> None:
        pop = self.population.name
        for edge_name, source in self.reader.incoming_populations():
            if source != pop:
                continue
            for syn, src, w, d, _ in self._edge_synapses(edge_name, lambda s: np.isin(s, self.node_ids)):
                nc = self.pc.gid_connect(src, syn)
                nc.weight[0] = w
                nc.delay = d
                self._netcons.append(nc)
