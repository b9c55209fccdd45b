"""The NEURON adapter's settings and variables: plain values, built from a Config or by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from multiscale_run.simulators.neuron.connection_overrides import override_list
from multiscale_run.simulators.neuron.modifications import modification_list
from multiscale_run.spaces import Kind, Space, Variable

DEFAULT_CONCENTRATIONS_MM = {
    "nai": 7.9717478717769090,
    "nao": 140.0,
    "ki": 140.0,
    "ko": 3.0,
    "atpi": 2.1973762129517347,
    "adpi": 0.014520,
}

SEGMENT_VARIABLES = {
    "v": ("mV", "membrane potential", "v"),
    "ina": ("mA/cm2", "total Na+ current density", "ina"),
    "ik": ("mA/cm2", "total K+ current density", "ik"),
    "nai": ("mM", "intracellular Na+", "nai"),
    "ki": ("mM", "intracellular K+", "ki"),
    "nao": ("mM", "extracellular Na+", "nao"),
    "ko": ("mM", "extracellular K+", "ko"),
    "atpi": ("mM", "intracellular ATP", "atpi"),
    "adpi": ("mM", "intracellular ADP", "adpi"),
}

SEGMENT_CURRENTS = {
    "ina_nA": ("ina", "total Na+ current of the segment"),
    "ik_nA": ("ik", "total K+ current of the segment"),
}


def current_nA(density_mA_cm2: np.ndarray, area_um2: np.ndarray) -> np.ndarray:
    """A segment's current from its density: 1 mA/cm2 x 1 um2 = 1e-2 nA."""
    return density_mA_cm2 * area_um2 * 1e-2


@dataclass(frozen=True)
class NeuronSettings:
    """Everything NeuronSim needs, as plain values (built from a Config or by hand in tests)."""

    circuit_config: Path
    dt_ms: float = 0.025
    tstop_ms: float = 1000.0
    node_set: str | None = None
    node_sets_file: Path | None = None
    inputs: dict = field(default_factory=dict)
    celsius: float = 34.0
    v_init_mV: float = -70.0
    spike_threshold_mV: float = -30.0
    mod_dir: Path | None = None
    #: the circuit's own .mod folder (None: its components.mechanisms_dir)
    circuit_mod_dir: Path | None = None
    max_segment_length_um: float = 50.0
    #: section length of bmtk's segment rule ``nseg = 1 + 2·int(L/(2·dL))`` (SONATA/bmtk
    #: ``run.dL``; bmtk's default 20 µm), used by the cell models that follow BioNet
    dL_um: float = 20.0
    calibrate_ion_leaks: bool = True
    #: insert msr's Na+/K+ homeostasis into cells whose model lacks it (:mod:`.homeostasis`)
    homeostasis: bool = False
    concentrations_mM: dict = field(default_factory=lambda: dict(DEFAULT_CONCENTRATIONS_MM))
    #: the concentrations the config sets itself: the only ones applied to circuits without msr
    #: e-models (their cells were fitted with NEURON's defaults)
    concentrations_given: frozenset = frozenset()
    min_delay_ms: float = 0.1
    #: seeds the placement of synapses without positions (``run.random_seed``)
    random_seed: int = 1
    #: ``run.stimulus_seed`` (SONATA): seeds the noise inputs with random_seed
    stimulus_seed: int = 0
    #: ``run.synapse_seed``: seeds BBP synapses' release streams (with random_seed)
    synapse_seed: int = 0
    #: ``run.minis_seed``: seeds the spontaneous minis (with random_seed)
    minis_seed: int = 0
    #: ``conditions.randomize_gaba_rise_time``: draw each ProbGABAAB_EMS synapse's rise time
    randomize_gaba_rise_time: bool = False
    #: SONATA ``conditions.modifications`` as (JSON path, modification), in config order
    modifications: tuple = ()
    #: the compartment sets file that ``compartment_set`` modifications name
    compartment_sets_file: Path | None = None
    #: SONATA ``connection_overrides`` as (JSON path, override), in config order
    connection_overrides: tuple = ()
    #: whose ``noise`` input waveform and stream: ``neurodamus`` or ``bluecellulab``
    noise_convention: str = "neurodamus"
    #: SONATA ``conditions.mechanisms``: {suffix: {GLOBAL: value}} (:mod:`.mechanism_conditions`)
    mechanism_globals: dict = field(default_factory=dict)
    #: SONATA ``conditions.extracellular_calcium`` (mM): scales BBP synapses' u_syn; None: as in the edges
    extracellular_calcium: float | None = None
    #: ``(report name, variable)`` of each soma report: NEURON records the variable at every local
    #: soma, every step (one record per report, read by :meth:`NeuronSim.soma_samples`)
    soma_reports: tuple[tuple[str, str], ...] = ()


def soma_reports(section: dict) -> tuple[tuple[str, str], ...]:
    """``(name, variable)`` of each report the neuron section takes at the somata, in order
    (operator ``soma``, the default for segment values)."""
    reports = section.get("reports", [])
    return tuple((r["name"], r["variable"]) for r in reports if (r.get("operator") or "soma") == "soma")


def settings_from_config(config) -> NeuronSettings:
    """Map a :class:`multiscale_run.config.Config` onto :class:`NeuronSettings`."""
    section = config.simulator("neuron")
    conditions = config.conditions
    mod_dir = section.get("mod_dir")
    if mod_dir is None and (config.base_dir / "mod").is_dir():
        mod_dir = config.base_dir / "mod"
    return NeuronSettings(
        circuit_config=Path(config.circuit_config),
        dt_ms=config.dt_ms("neuron"),
        tstop_ms=config.run.tstop_ms,
        node_set=config.node_set,
        node_sets_file=config.node_sets_file,
        inputs=config.inputs,
        celsius=float(conditions.get("celsius", 34.0)),
        v_init_mV=float(conditions.get("v_init", -70.0)),
        spike_threshold_mV=config.run.spike_threshold_mV,
        mod_dir=Path(mod_dir) if mod_dir else None,
        circuit_mod_dir=Path(section["circuit_mod_dir"]) if section.get("circuit_mod_dir") else None,
        max_segment_length_um=float(section.get("max_segment_length_um", 50.0)),
        dL_um=float(config.get("run.dL", 20.0)),
        calibrate_ion_leaks=bool(section.get("calibrate_ion_leaks", True)),
        homeostasis=bool(section.get("homeostasis", False)),
        concentrations_mM={**DEFAULT_CONCENTRATIONS_MM, **section.get("initial_concentrations_mM", {})},
        concentrations_given=frozenset(section.get("initial_concentrations_mM", {})),
        soma_reports=soma_reports(section),
        random_seed=config.run.random_seed,
        stimulus_seed=int(config.get("run.stimulus_seed", 0)),
        synapse_seed=int(config.get("run.synapse_seed", 0)),
        minis_seed=int(config.get("run.minis_seed", 0)),
        randomize_gaba_rise_time=bool(conditions.get("randomize_gaba_rise_time", False)),
        modifications=tuple(modification_list(conditions)),
        compartment_sets_file=config.compartment_sets_file,
        connection_overrides=tuple(override_list(config.get("connection_overrides"))),
        noise_convention=str(section.get("noise_convention", "neurodamus")),
        mechanism_globals=dict(conditions.get("mechanisms", {})),
        extracellular_calcium=conditions.get("extracellular_calcium"),
    )


def declared_variables() -> dict[str, Variable]:
    """The segment variables (the same whatever the settings)."""
    out = {
        name: Variable(name, Space.SEGMENT, unit, writable=True, description=desc)
        for name, (unit, desc, _) in SEGMENT_VARIABLES.items()
    }
    for name, (_, desc) in SEGMENT_CURRENTS.items():
        out[name] = Variable(
            name,
            Space.SEGMENT,
            "nA",
            writable=False,
            description=f"{desc} (outward > 0)",
            kind=Kind.EXTENSIVE,
        )
    return out
