"""Spike detection, synapses from SONATA edges and their connections through NEURON's ParallelContext.

A part of :class:`~multiscale_run.simulators.neuron.adapter.NeuronSim` (a mixin: it uses the
adapter's ``h``, ``pc``, ``cells``, ``reader``, ``gids`` and ``settings``).
"""

from __future__ import annotations

import zlib

import numpy as np

from multiscale_run.errors import UserError
from multiscale_run.simulators.neuron import bbp, hoc_batch, random_streams, synapse_models
from multiscale_run.simulators.neuron.cells import _Cell
from multiscale_run.simulators.neuron.connection_overrides import override_problems
from multiscale_run.simulators.neuron.mechanism_conditions import scaled_release


def weight_factors(hits: list, t_ms: float, n: int) -> np.ndarray:
    """Each synapse's weight factor at ``t_ms``: the last override in config order that matches
    it and acts by then (``hits``: (from time, factor, matched mask) in config order), else 1."""
    factor = np.ones(n)
    for t0, value, hit in hits:
        if t0 <= t_ms:
            factor[hit] = value
    return factor


def later_weights(factors: dict, i: int, base: float) -> tuple:
    """((t, weight), ...) where synapse ``i``'s factor changes after t = 0 (``factors``: {t:
    factors}), weight = ``base`` × the factor from then on."""
    out, last = [], factors[0.0][i]
    for t, f in sorted(factors.items()):
        if f[i] != last:
            out.append((t, base * float(f[i])))
            last = f[i]
    return tuple(out)


class SynapseWiring:
    """Gids, spike detectors, synapses and netcons of this rank."""

    _weight_statements: list | None = None

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
        for gid, art in self.point_cells.items():
            pc.set_gid2node(gid, self.parallel.rank)
            nc = h.NetCon(art, None)
            pc.cell(gid, nc)
            self._detectors.append(nc)
        if not self.cells and not self.point_cells:
            # NEURON 9 segfaults in psolve on a rank that owns no gid (install-notes): give it a
            # silent artificial cell under a gid no node uses.
            self._placeholder = h.IntFire1()
            gid = self.reader.selection.end_gid + self.parallel.rank
            pc.set_gid2node(gid, self.parallel.rank)
            nc = h.NetCon(self._placeholder, None)
            pc.cell(gid, nc)
            self._detectors.append(nc)
        pc.spike_record(-1, self._spike_t, self._spike_gid)

    @staticmethod
    def _explicit_positions(cell_of: dict, attrs: dict, edge_name: str, rows=None) -> tuple[list, np.ndarray]:
        """(sections, x) of edges ``rows`` (all without) from ``afferent_section_id`` with
        ``afferent_section_pos`` clipped to [0, 1], or with ``afferent_segment_id`` +
        ``afferent_segment_offset`` (BBP)."""
        rows = np.arange(len(attrs["target"])) if rows is None else np.asarray(rows, dtype=np.int64)
        targets, ids = attrs["target"][rows].tolist(), attrs["afferent_section_id"][rows].tolist()
        sections = [cell_of[t].section_by_id(int(i), "synapse on") for t, i in zip(targets, ids, strict=True)]
        if "afferent_section_pos" in attrs:
            x = np.asarray(attrs["afferent_section_pos"][rows], dtype=float)
            x = np.where(x < 0.0, 0.0, x)  # = min(max(x, 0.0), 1.0), signed zeros included
            return sections, np.where(x > 1.0, 1.0, x)
        if "afferent_segment_id" in attrs and "afferent_segment_offset" in attrs:
            x = [
                bbp.segment_position(
                    sec,
                    int(attrs["afferent_segment_id"][k]),
                    float(attrs["afferent_segment_offset"][k]),
                    f"edge {int(attrs['edge_id'][k])} of {edge_name}",
                )
                for sec, k in zip(sections, rows.tolist(), strict=True)
            ]
            return sections, np.array(x, dtype=float)
        raise UserError(
            f"edges {edge_name}: afferent_section_id without afferent_section_pos or "
            "afferent_segment_id/offset"
        )

    @staticmethod
    def _excitatory(attrs: dict, n: int) -> np.ndarray:
        if "syn_type_id" in attrs:
            return np.asarray(attrs["syn_type_id"]) >= 100  # BBP: < 100 inhibitory
        if "erev" in attrs:
            return np.asarray(attrs["erev"], dtype=float) > -40.0
        return np.ones(n, dtype=bool)

    def _edge_synapses(self, edge_name: str, keep) -> list[tuple[object, int, float, float, int]]:
        """Create synapses for the local afferent edges of ``edge_name`` that ``keep(source node
        ids, target gids)`` selects; returns (synapse or artificial cell, source node id, weight,
        delay ms, target gid) per synapse, and each one's later weights (:meth:`_overridden`)."""
        local = np.concatenate([self.gids, self.point_gids])
        attrs = self.reader.afferent(edge_name, local)
        attrs["afferent_index"] = random_streams.afferent_index(attrs["target"])
        mask = keep(attrs["source"], attrs["target"])
        attrs = {k: np.asarray(v)[mask] for k, v in attrs.items()}
        if not len(attrs["source"]):
            return [], []
        if any(k in attrs for k in ("model_template", "dynamics_params", "weight_function", "nsyns")):
            made = self._typed_synapses(edge_name, attrs)
        elif "u_syn" in attrs and "syn_type_id" in attrs and "conductance" in attrs:
            made = self._bbp_synapses(edge_name, attrs)
        else:
            made = self._msr_synapses(edge_name, attrs)
        # one synapse per edge: its afferent index (neurodamus's synapse id); bmtk's nsyns > 1:
        # the synapse's rank among its target's synapses made here
        one_each = len(made) == len(attrs["source"])
        made_targets = np.array([m[4] for m in made])
        index = attrs["afferent_index"] if one_each else random_streams.afferent_index(made_targets)
        return self._overridden(edge_name, made, index)

    def _overridden(self, edge_name: str, synapses: list, index: np.ndarray) -> tuple[list, list]:
        """``synapses`` of edge population ``edge_name`` after the connection overrides
        (:mod:`~multiscale_run.simulators.neuron.connection_overrides`), in config order, and each
        synapse's later weights ((t ms, weight), ...) from overrides with a ``delay``; ``index``:
        each synapse's id among its target's (seeds its minis)."""
        overrides = self.settings.connection_overrides
        if not overrides or not synapses:
            return synapses, [()] * len(synapses)
        edges = self.reader.circuit.edges[edge_name]
        source_pop = edges.source
        src, tgt = np.array([s[1] for s in synapses]), np.array([s[4] for s in synapses])
        delay = np.array([s[3] for s in synapses], dtype=float)
        minis, configure = np.zeros(len(synapses)), [[] for _ in synapses]
        hits = []  # (time the override acts from, its weight factor, synapses it matches)
        for path, spec in overrides:
            for key, message in override_problems(spec):
                raise UserError(message, path=f"{path}.{key}" if key else path)
            sources = self.reader.node_set(spec["source"], f"{path}.source").get(source_pop, [])
            targets = self.reader.gids_in(self.reader.node_set(spec["target"], f"{path}.target"))
            hit = np.isin(src, sources) & np.isin(tgt, targets)
            if spec.get("weight") is not None:
                hits.append((float(spec.get("delay") or 0.0), float(spec["weight"]), hit))
            if spec.get("synapse_delay_override") is not None:
                delay[hit] = max(float(spec["synapse_delay_override"]), self.settings.min_delay_ms)
            if spec.get("spont_minis") is not None:
                minis[hit] = float(spec["spont_minis"])
            for i in np.flatnonzero(hit) if spec.get("synapse_configure") else ():
                configure[i].append((path, spec["synapse_configure"]))
        base = np.array([s[2] for s in synapses], dtype=float)
        factors = {t: weight_factors(hits, t, len(synapses)) for t in sorted({0.0, *(h[0] for h in hits)})}
        schedules = [later_weights(factors, i, base[i]) for i in range(len(synapses))]
        out = []
        for i, (syn, s, w, _, t) in enumerate(synapses):
            for path, code in configure[i]:
                self._configure_synapse(syn, code, path)
            weight = w * factors[0.0][i]
            if minis[i] > 0:
                seed = self.settings.minis_seed
                ids = random_streams.minis_ids(t, int(index[i]), source_pop, edges.target, seed)
                self._schedule([self._spont_minis(syn, weight, minis[i], ids)], [weight], [schedules[i]])
            out.append((syn, s, weight, float(delay[i]), t))
        return out, schedules

    def _schedule(self, netcons, weights, schedules) -> None:
        """Keep the NetCons whose weight changes later (connection overrides with a ``delay``)."""
        for nc, w, schedule in zip(netcons, weights, schedules, strict=True):
            if schedule:
                self._scheduled.append((nc, w, schedule))

    def _weight_events(self) -> None:
        """At each initialisation: every scheduled NetCon back to its weight at t = 0, and one
        event per change time that sets the weights from then on (NEURON's ``cvode.event`` with a
        hoc statement, which ``SaveState`` keeps: a restored snapshot still makes the changes due
        after it)."""
        for nc, w, _ in self._scheduled:
            nc.weight[0] = w
        if self._weight_statements is None:  # (t ms, hoc statement) of each change time, made once
            changes: dict[float, list] = {}
            for nc, _, schedule in self._scheduled:
                for t, w in schedule:
                    changes.setdefault(t, []).append((nc, w))
            self._weight_statements = [
                (t, hoc_batch.weight_change(self.h, [p[0] for p in pairs], [p[1] for p in pairs]))
                for t, pairs in sorted(changes.items())
            ]
        for t, statement in self._weight_statements:
            self.h.cvode.event(t, statement)

    def _configure_synapse(self, syn, code: str, path: str) -> None:
        """Run hoc ``code`` with ``%s`` standing for ``syn`` (SONATA synapse_configure)."""
        command = code.replace("%s", syn.hname())
        try:
            ok = self.h(command)
        except RuntimeError:
            ok = False
        if not ok:
            raise UserError(
                f"synapse_configure {command!r} fails on {syn.hname()}", path=f"{path}.synapse_configure"
            )

    def _spont_minis(self, syn, weight: float, rate_hz: float, ids: tuple[int, int, int]):
        """Spontaneous releases onto ``syn`` at ``rate_hz``, drawn from Random123 stream ``ids``
        as neurodamus draws them (:func:`~.random_streams.minis_times`), delivered 0.1 ms after
        each release (neurodamus's NetCon delay) with ``weight``; the NetCon they are replayed
        through."""
        times = random_streams.minis_times(self.h, ids, rate_hz, self.settings.tstop_ms) + 0.1
        (nc,) = hoc_batch.netcons(self.h, [syn], [weight])
        self._replay.append((nc, times))
        return nc

    def _bbp_synapses(self, edge_name: str, attrs: dict) -> list:
        """BBP edges: ProbAMPANMDA_EMS / ProbGABAAB_EMS at explicit positions, weight =
        ``conductance`` (nS), see :func:`~multiscale_run.simulators.neuron.synapse_models.bbp_synapse`;
        ``u_syn`` scaled for ``conditions.extracellular_calcium``."""
        edges = self.reader.circuit.edges[edge_name]
        attrs = scaled_release(attrs, self.settings.extracellular_calcium, f"edges {edge_name}")
        cell_of = {cell.gid: cell for cell in self.cells}
        if "delay" not in attrs:
            raise UserError(f"edges {edge_name} have no delay", edges.file)
        delay = np.maximum(np.asarray(attrs["delay"], dtype=float), self.settings.min_delay_ms)
        sections, xs = self._explicit_positions(cell_of, attrs, edge_name)
        out = []
        for k, (sec, x) in enumerate(zip(sections, xs.tolist(), strict=True)):
            tgt = int(attrs["target"][k])
            index, seed = int(attrs["afferent_index"][k]), self.settings.synapse_seed
            stream = random_streams.synapse_ids(tgt, index, edges.source, edges.target, seed)
            syn = synapse_models.bbp_synapse(self.h, sec(x), attrs, k, stream, edges.file)
            if self.settings.randomize_gaba_rise_time and hasattr(syn, "tau_r_GABAA"):
                syn.tau_r_GABAA = random_streams.gaba_rise_time(
                    self.h, tgt, index, edges.source, edges.target, seed
                )
            self._synapses.append(syn)
            out.append((syn, int(attrs["source"][k]), float(attrs["conductance"][k]), float(delay[k]), tgt))
        return out

    def _typed_synapses(self, edge_name: str, attrs: dict) -> list:
        """Edges whose types name their synapse model (bmtk), see
        :mod:`~multiscale_run.simulators.neuron.synapse_models`."""
        h, edges = self.h, self.reader.circuit.edges[edge_name]
        file = edges.properties.get("edge_types_file") or edges.file
        source_pop = self.reader.circuit.node_population(edges.source)
        target_pop = self.reader.circuit.node_population(edges.target)
        weights = synapse_models.edge_weights(
            attrs,
            lambda name, m: source_pop.get(name, attrs["source"][m]),
            lambda name, m: target_pop.get(name, attrs["target_node_id"][m]),
            file,
        )
        if "delay" not in attrs:
            raise UserError(f"edges {edge_name} have no delay", file)
        delays = np.maximum(np.asarray(attrs["delay"], dtype=float), self.settings.min_delay_ms)
        n = len(weights)
        nsyns = np.asarray(attrs["nsyns"], dtype=np.int64) if "nsyns" in attrs else np.ones(n, np.int64)
        none = np.full(n, None, dtype=object)
        templates, params = attrs.get("model_template", none), attrs.get("dynamics_params", none)
        cell_of = {cell.gid: cell for cell in self.cells}
        out = []
        for k in range(n):
            src, tgt, w, d = (
                int(attrs["source"][k]),
                int(attrs["target"][k]),
                float(weights[k]),
                float(delays[k]),
            )
            where = f"edge {int(attrs['edge_id'][k])} of {edge_name}"
            p = self._synaptic_model(params[k], file, tgt) if params[k] is not None else {}
            if tgt in self.point_cells:
                if params[k] is not None and "sign" not in p:
                    raise UserError(f"{where}: the synaptic model onto a point neuron needs a sign", file)
                out.append((self.point_cells[tgt], src, w * float(p.get("sign", 1)) * int(nsyns[k]), d, tgt))
                continue
            template = templates[k]
            if template not in synapse_models.SYNAPSE_MODELS:
                raise UserError(
                    f"{where}: synapse model_template {template!r} unsupported onto "
                    f"{self.reader.describe(tgt)} (supported: {sorted(synapse_models.SYNAPSE_MODELS)})",
                    file,
                )
            cell = cell_of[tgt]
            if "afferent_section_id" in attrs:
                secs, xs = self._explicit_positions(cell_of, attrs, edge_name, [k])
                positions = [(secs[0], float(xs[0]))]
            else:
                positions = self._placement(cell).draw(
                    self._placement_rng(edge_name, tgt),
                    attrs["target_sections"][k] if "target_sections" in attrs else None,
                    attrs["distance_range"][k] if "distance_range" in attrs else None,
                    int(nsyns[k]),
                    file,
                )
            for sec, x in positions:
                syn = synapse_models.SYNAPSE_MODELS[template](h, sec(x), p, file)
                self._synapses.append(syn)
                out.append((syn, src, w, d, tgt))
        return out

    def _synaptic_model(self, name: str, file: str, target: int) -> dict:
        """The synaptic model file ``name`` in the components of cell ``target``'s population."""
        folder = self.reader.components(target)["synaptic_models_dir"]
        cache = self._synaptic_models
        if (folder, name) not in cache:
            cache[folder, name] = synapse_models.read_model_file(folder, str(name), file)
        return cache[folder, name]

    def _placement(self, cell: _Cell) -> synapse_models.Placement:
        cache = self._placements
        if cell.gid not in cache:
            cache[cell.gid] = synapse_models.Placement(self.h, cell)
        return cache[cell.gid]

    def _placement_rng(self, edge_name: str, gid: int):
        cache = self._placement_rngs
        key = (edge_name, gid)
        if key not in cache:
            cache[key] = np.random.default_rng(
                [self.settings.random_seed, gid, zlib.crc32(edge_name.encode())]
            )
        return cache[key]

    def _msr_synapses(self, edge_name: str, attrs: dict) -> list:
        """Edges of msr's own circuits: Exp2Syn at explicit positions (the soma centre without
        any), rise/decay times per edge."""
        n = len(attrs["source"])
        exc = self._excitatory(attrs, n)
        weight = attrs.get("syn_weight", attrs.get("conductance", np.full(n, 0.001))).astype(float)
        delay = np.maximum(attrs.get("delay", np.ones(n)).astype(float), self.settings.min_delay_ms)
        cell_of = {cell.gid: cell for cell in self.cells}
        if "afferent_section_id" in attrs:
            sections, x = self._explicit_positions(cell_of, attrs, edge_name)
        else:
            sections, x = [cell_of[t].soma for t in attrs["target"].tolist()], np.full(n, 0.5)
        rise = attrs["rise_time"].astype(float) if "rise_time" in attrs else np.where(exc, 0.2, 1.0)
        decay = attrs["decay_time"].astype(float) if "decay_time" in attrs else np.where(exc, 1.7, 8.0)
        slow = rise * 1.001
        parameters = {
            "tau1": rise,
            "tau2": np.where(slow > decay, slow, decay),  # = max(decay, slow)
            "e": np.where(exc, 0.0, -80.0),
        }
        synapses = hoc_batch.point_processes(self.h, "Exp2Syn", sections, x, parameters)
        self._synapses += synapses
        return list(
            zip(
                synapses,
                attrs["source"].tolist(),
                weight.tolist(),
                delay.tolist(),
                attrs["target"].tolist(),
                strict=True,
            )
        )

    def _connect(self) -> None:
        """NetCons from the simulated cells' gids onto their synapses, one hoc call per edge
        population between simulated populations, within one or across two (``_netcons`` holds
        their hoc Lists)."""
        selection = self.reader.selection
        populations, node_ids = selection.locate(np.concatenate([self.node_ids, self.reader.point_ids]))
        for edge_name, source in self.reader.incoming_populations():
            if source not in selection.node_ids:
                continue
            sources = node_ids[populations == source]
            made, schedules = self._edge_synapses(edge_name, lambda s, t, ids=sources: np.isin(s, ids))
            if made:
                targets, sources, weights, delays, _ = zip(*made, strict=True)
                gids = selection.to_gids(source, sources).tolist()
                netcons = hoc_batch.gid_connect(self.h, self.pc, targets, gids, weights, delays)
                self._netcons.append(netcons)
                self._schedule(netcons, weights, schedules)
