"""NeuronSim: NEURON on a SONATA circuit (this package is the only one importing ``neuron``).

Reads the circuit with libsonata (nodes, edges, node sets) and morphologies with morphio, builds
this rank's cells (round-robin by node id, :meth:`Parallel.local_cells`) section by section from
the morphology, applies biophysics from the nodes' ``model_template``
(``msr:<name>`` = ``<biophysical_neuron_models_dir>/<name>.json``, see
:mod:`multiscale_run.circuit.emodels`; ``hoc:<Name>`` = a BBP-style cell template
``Name(gid, morphology_dir, morphology_file)`` from the circuit's templates directory), places
Exp2Syn synapses from the edges, connects them through a ParallelContext and adds the SONATA
``inputs`` (current_clamp linear/pulse, synapse_replay spikes). The cells may come from several
node populations; each is known by its gid (``first_gid[population] + node id``,
:class:`~multiscale_run.nodes.NeuronSelection`), which is also NEURON's ParallelContext gid; edge
populations connect the populations they name.

Segment variables are read and written through ``h.PtrVector`` gathers/scatters in one fixed
local order: cells by ascending node id, sections by SONATA section id (soma 0, then the
morphology's sections in file order), segments from 0 to 1 along each section.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from multiscale_run import mod_files
from multiscale_run.circuit.compartment_sets import read_compartment_set
from multiscale_run.errors import UserError
from multiscale_run.nodes import NeuronSelection
from multiscale_run.simulators.base import Simulator
from multiscale_run.simulators.neuron import homeostasis, random_streams
from multiscale_run.simulators.neuron import settings as neuron_settings
from multiscale_run.simulators.neuron.cells import CellBuilder
from multiscale_run.simulators.neuron.circuit import SonataCells
from multiscale_run.simulators.neuron.hoc_batch import calibrate_ion_leaks
from multiscale_run.simulators.neuron.inputs import InputStimuli
from multiscale_run.simulators.neuron.mechanism_conditions import set_mechanism_globals
from multiscale_run.simulators.neuron.modifications import (
    apply_modification,
    configure_compartments,
    kind_of,
    modification_problems,
    parse_statements,
)
from multiscale_run.simulators.neuron.pointers import SegmentPointers
from multiscale_run.simulators.neuron.settings import (
    SEGMENT_CURRENTS,
    NeuronSettings,
    current_nA,
    settings_from_config,
)
from multiscale_run.simulators.neuron.synapses import SynapseWiring
from multiscale_run.spaces import SegmentGeometry, Variable

log = logging.getLogger(__name__)


class NeuronSim(CellBuilder, SynapseWiring, InputStimuli, SegmentPointers, Simulator):
    """NEURON on this rank's cells of a SONATA circuit; values on the ``segment`` space."""

    name = "neuron"
    multistep_advance = True  # pc.psolve(t): the fixed steps up to t, as one call per step does

    def __init__(
        self,
        config,
        parallel,
        settings: NeuronSettings | None = None,
        cells: NeuronSelection | None = None,
        node_ids: np.ndarray | None = None,
    ):
        """``cells`` (every simulated cell, over its populations) and ``node_ids`` (this rank's
        share, gids) are the run's choice and partition; without them the adapter makes the
        same ones itself."""
        self.settings = settings if settings is not None else settings_from_config(config)
        self.parallel = parallel
        self._build(cells, node_ids)

    @classmethod
    def from_settings(cls, settings: NeuronSettings, parallel) -> NeuronSim:
        return cls(None, parallel, settings=settings)

    # --- building -----------------------------------------------------------------------------
    def _build(self, cells, node_ids) -> None:
        from neuron import h

        self.h = h
        s = self.settings
        h.load_file("stdrun.hoc")
        self.reader = SonataCells(s, cells)
        mod_dir = s.mod_dir if s.mod_dir is not None else mod_files.shipped_mod_dir()
        mechanisms_dir = self.reader.circuit.components.get("mechanisms_dir")
        self._load_mechanisms(mod_files.run_mod_dirs(mod_dir, mechanisms_dir, s.circuit_mod_dir))
        set_mechanism_globals(h, s.mechanism_globals)
        if self.parallel.size > 1:
            h.nrnmpi_init()
        self.pc = h.ParallelContext()
        if int(self.pc.nhost()) != self.parallel.size:
            raise RuntimeError(f"NEURON sees {int(self.pc.nhost())} ranks, MPI has {self.parallel.size}")
        h.celsius = s.celsius
        h.dt = s.dt_ms
        templates = self.reader.get("model_template", self.reader.node_ids)
        msr_cells = any(t is None or str(t).startswith("msr:") for t in templates)
        for name, value in s.concentrations_mM.items():
            if not (msr_cells or s.homeostasis) and name not in s.concentrations_given:
                continue
            ion = name[:-1]
            if hasattr(h, f"{name}0_{ion}_ion"):
                setattr(h, f"{name}0_{ion}_ion", float(value))

        self.node_ids = self.reader.node_ids  # gids
        local = self.parallel.local_cells(self.node_ids) if node_ids is None else node_ids
        self.gids = np.asarray(local).astype(np.int64)
        self.cells = self._build_cells(self.gids, point=False)
        # point neurons of the population: in the network, not on the segment space
        self.point_gids = self.parallel.local_cells(self.reader.point_ids).astype(np.int64)
        self.point_cells = dict(
            zip(self.point_gids.tolist(), self._build_cells(self.point_gids, point=True), strict=True)
        )
        self._modify_cells()
        self._place_segments()
        self._netcons: list = []
        self._synapses: list = []
        self._replay: list[tuple[object, np.ndarray]] = []
        self._stimuli: list = []
        self._synaptic_models: dict = {}  # (folder, file name) -> parameters
        self._placements: dict = {}  # node id -> Placement
        self._placement_rngs: dict = {}  # (edge population, node id) -> stream
        self._scheduled: list = []  # (NetCon, weight at t = 0, ((t ms, weight), ...)) of delayed overrides
        random_streams.set_global_index(h, self.settings.random_seed)
        self._register_gids()
        self._connect()
        self._add_inputs()
        self._make_pointers()
        self._initialize()

    def _modify_cells(self) -> None:
        """SONATA ``conditions.modifications`` on this rank's cells of each one's node set, in order
        (:mod:`~multiscale_run.simulators.neuron.modifications`)."""
        for path, spec in self.settings.modifications:
            for key, message in modification_problems(spec):
                raise UserError(message, path=f"{path}.{key}" if key else path)
            if kind_of(spec) == "compartment_set":
                self._modify_compartments(path, spec)
                continue
            ids = self.reader.gids_in(self.reader.node_set(spec["node_set"], f"{path}.node_set"))
            chosen = set(ids.tolist())
            apply_modification(self.h, path, spec, [c for c in self.cells if c.gid in chosen])

    def _modify_compartments(self, path: str, spec: dict) -> None:
        """A ``compartment_set`` modification on this rank's cells' compartments of its set."""
        key = f"{path}.compartment_set"
        population, locations = read_compartment_set(
            self.settings.compartment_sets_file, spec["compartment_set"], None, key
        )
        simulated = self.reader.selection.populations
        if population not in simulated:
            raise UserError(
                f"compartment set {spec['compartment_set']!r} is of population {population!r}, not "
                f"a simulated one {simulated}",
                path=key,
            )
        first = self.reader.selection.first_gid[population]  # the set names node ids: to gids
        locations = [(first + node, section, offset) for node, section, offset in locations]
        statements = parse_statements(spec["section_configure"], "compartment_set")
        configure_compartments(path, statements, locations, {c.gid: c for c in self.cells})

    def _load_mechanisms(self, mod_dir: list[Path]) -> None:
        h = self.h
        names = mod_files.mechanism_names(mod_dir)
        present = [n for n in names if hasattr(h, n)]
        if present and len(present) == len(names):
            return  # an earlier NeuronSim in this process loaded them already
        if present:
            raise UserError(f"mechanisms {present} of {mod_dir} are already loaded from another library")
        h.nrn_load_dll(str(mod_files.compile_mechanisms(mod_dir)))

    def _calibrate_ion_leaks(self) -> int:
        """Set msr_ionleak's gna, gk so that at v_init the net Na+ and K+ currents are zero.

        With every ionic flux balanced, the pas leak (e_pas = v_init) carries no current either
        and each segment is at rest at v_init with constant nai, ki. Returns how many
        conductances would have had to be negative (clipped to 0, logged).
        """
        self.h.fcurrent()
        clipped = calibrate_ion_leaks(self.h, self._section_list)
        if clipped:
            log.warning("ion leak calibration: %d negative conductances clipped to 0", clipped)
        return clipped

    def _initialize(self) -> None:
        h = self.h
        self.pc.set_maxstep(10)
        self._record_somata()
        if self._scheduled:  # at every initialisation (cvode.event: the queue is cleared there)
            self._weight_handler = h.FInitializeHandler(self._weight_events)
        h.finitialize(self.settings.v_init_mV)
        if self.settings.homeostasis:
            homeostasis.hold_resting_pump(h, self._section_list)
            h.finitialize(self.settings.v_init_mV)
        if self.settings.calibrate_ion_leaks:
            self._calibrate_ion_leaks()
            h.finitialize(self.settings.v_init_mV)
        for nc, times in self._replay:
            for t in times:
                nc.event(float(t))

    # --- the Simulator contract -------------------------------------------------------------
    @property
    def dt_ms(self) -> float:
        return self.settings.dt_ms

    @classmethod
    def declared_variables(cls, section: dict | None = None) -> dict[str, Variable]:
        """The segment variables (the same whatever the settings)."""
        return neuron_settings.declared_variables()

    def variables(self) -> dict[str, Variable]:
        return self.declared_variables()

    def advance(self, t_ms: float) -> None:
        self.pc.psolve(float(t_ms))

    @property
    def t_ms(self) -> float:
        return float(self.h.t)

    def get(self, variable: str) -> np.ndarray:
        if variable in SEGMENT_CURRENTS:
            return current_nA(self.get(SEGMENT_CURRENTS[variable][0]), self._geometry.area_um2)
        ptr = self._pointer(variable)
        ptr.gather(self._buffer)
        return self._buffer_view.copy()

    def set(self, variable: str, values: np.ndarray) -> None:
        ptr = self._pointer(variable)
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (self.n_segments,):
            raise ValueError(f"{variable}: expected {self.n_segments} values, got shape {values.shape}")
        if self.n_segments:
            self._buffer_view[:] = values
            ptr.scatter(self._buffer)
            self._dummy.fill(np.nan)

    @property
    def n_segments(self) -> int:
        return self._n_segments

    def segment_geometry(self) -> SegmentGeometry:
        return self._geometry

    def soma_samples(self, report: str):
        """NEURON's per-step record of soma report ``report``'s variable at each local soma, a
        :class:`~multiscale_run.simulators.neuron.soma_samples.SomaSamples` (``settings.soma_reports``)."""
        try:
            return self._soma_samples[report]
        except KeyError:
            listed = [name for name, _ in self.settings.soma_reports]
            raise KeyError(f"{report!r} is not one of the soma reports {listed}") from None

    def soma_segment_index(self) -> np.ndarray:
        """Index, in the segment order, of each local cell's middle soma segment."""
        return self._soma_index.copy()

    def spikes(self) -> tuple[np.ndarray, np.ndarray]:
        """(gids, times in ms) of the spikes of this rank's cells (point neurons included) so
        far, in emission order (those before a restored snapshot first)."""
        gids = self._spike_gid.as_numpy().astype(np.int64)
        times = self._spike_t.as_numpy().copy()
        keep = np.isin(gids, np.concatenate([self.gids, self.point_gids]))
        earlier_ids, earlier_times = self._earlier_spikes
        return np.concatenate([earlier_ids, gids[keep]]), np.concatenate([earlier_times, times[keep]])

    _earlier_spikes = (np.zeros(0, dtype=np.int64), np.zeros(0))

    def save_state(self) -> dict[str, np.ndarray]:
        """NEURON's ``SaveState`` of this rank (t, every segment's v and mechanism STATEs, ion
        concentrations, NET_RECEIVE ASSIGNED variables, the outstanding events and NetCon
        weights: NEURON's SaveState documentation), the spikes so far and the soma samples held."""
        import tempfile

        h = self.h
        saved = h.SaveState()
        saved.save()
        with tempfile.TemporaryDirectory(prefix="msr-savestate-") as tmp:
            path = Path(tmp) / "state.bin"
            saved.fwrite(h.File(str(path)))
            blob = np.frombuffer(path.read_bytes(), dtype=np.uint8).copy()
        streams = any(hasattr(syn, "setRNG") for syn in self._synapses)
        if streams and not getattr(self, "_warned_rng", False):
            self._warned_rng = True
            log.warning(
                "the Random123 streams of BBP's stochastic synapses are not in NEURON's "
                "SaveState: a run resumed from this snapshot restarts them from their seeds "
                "(reproducible, not bit-identical to an uninterrupted run)"
            )
        ids, times = self.spikes()
        state = {"savestate": blob, "spike_ids": ids, "spike_times": times}
        for name, samples in self._soma_samples.items():
            state |= {f"soma/{name}/{k}": v for k, v in samples.save_state().items()}
        return state

    def restore_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore into this adapter, just built (and ``finitialize``-d) from the same config and
        rank: NEURON checks that the saved structure matches its sections and mechanisms."""
        import tempfile

        h = self.h
        saved = h.SaveState()
        with tempfile.TemporaryDirectory(prefix="msr-savestate-") as tmp:
            path = Path(tmp) / "state.bin"
            path.write_bytes(state["savestate"].tobytes())
            saved.fread(h.File(str(path)))
        saved.restore()  # with the weight changes still due (hoc-statement events: hoc_batch)
        self._spike_t.resize(0)
        self._spike_gid.resize(0)
        self._earlier_spikes = (state["spike_ids"].copy(), state["spike_times"].copy())
        for name, samples in self._soma_samples.items():
            prefix = f"soma/{name}/"
            samples.restore_state(
                {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
            )

    def close(self) -> None:
        self.pc.gid_clear()
