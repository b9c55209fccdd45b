"""The simulator registry: one :class:`SimulatorSpec` per simulator, and the one factory.

Everything that depends on which simulators exist derives from here: the schema's section list
and simulator enums (:mod:`multiscale_run.config.schema`), the build order, the ``msr init``
options, the element space of a report when the adapter cannot be asked. Adding a simulator is
one adapter module, one JSON Schema file and one :func:`register` call (see
``tests/contract/toy_simulator.py``).

Adapters are imported lazily: checking a config must not import NEURON or STEPS unless that
simulator is enabled.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from multiscale_run.simulators.base import (
    PRODUCTS,
    EndfootGeometrySource,
    SegmentGeometrySource,
    Simulator,
    SomaSampler,
    SpikeSource,
    TetGeometrySource,
    VesselGeometrySource,
)
from multiscale_run.spaces import Space, Variable

_SCHEMA_DIR = Path(__file__).resolve().parent.parent / "config" / "schema"

#: What the run itself hands to simulators that ask for it: this rank's node ids (ascending), and
#: the simulated cells (population, every node id), chosen and partitioned once per run.
NODE_IDS = "node_ids"
CELLS = "cells"


@dataclass(frozen=True)
class OptionalLibrary:
    """``module`` is needed when the section's ``setting`` is one of ``values``; ``how`` installs it
    (``{install}`` stands for the path of install.sh)."""

    setting: str
    values: tuple[str, ...]
    module: str
    how: str


@dataclass(frozen=True)
class SimulatorSpec:
    """Everything the runtime knows about a simulator before building it.

    ``adapter`` is ``"module:Class"``; the class is built as ``Class(config, parallel, **needs)``.
    ``needs`` names what it takes from the run (``node_ids``, ``cells``) or from simulators built before it
    (``segment_geometry``, ``tet_geometry``, ``vessel_geometry``: the products of the geometry
    capabilities); a need nobody provides in this run is left out (the adapter's keyword default).
    ``provides`` lists the capability protocols of :mod:`multiscale_run.simulators.base` the
    adapter implements. ``init_default``: the default of ``msr init --<name>/--no-<name>``;
    ``None`` for a simulator that is always on (no option); ``init_follows``: another simulator
    whose switch this one follows unless given its own (e.g. ``nvc`` is on whenever ``bloodflow``
    is). ``library``: a library beyond the core
    install (``./install.sh``) that some values of one of its settings need.
    """

    name: str
    adapter: str
    schema: Path
    space: Space
    needs: tuple[str, ...] = ()
    provides: tuple[type, ...] = ()
    init_default: bool | None = False
    init_follows: str | None = None
    description: str = ""
    library: OptionalLibrary | None = None

    def adapter_class(self) -> type[Simulator]:
        module, cls = self.adapter.split(":")
        return getattr(importlib.import_module(module), cls)

    def declared_variables(self, section: Mapping) -> dict[str, Variable]:
        """The variables it exposes with the settings of its config ``section`` (no building)."""
        return self.adapter_class().declared_variables(dict(section))

    @property
    def products(self) -> tuple[str, ...]:
        return tuple(name for name, proto in PRODUCTS.items() if proto in self.provides)


_REGISTRY: dict[str, SimulatorSpec] = {}


def register(spec: SimulatorSpec) -> None:
    """Add a simulator (or replace the one of that name); its config section exists from now on."""
    _REGISTRY[spec.name] = spec


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def specs() -> tuple[SimulatorSpec, ...]:
    """Every registered simulator, in registration order (the default advance order)."""
    return tuple(_REGISTRY.values())


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def spec(name: str) -> SimulatorSpec:
    return _REGISTRY[name]


def adapter_class(name: str) -> type[Simulator]:
    return spec(name).adapter_class()


def declared_variables(name: str, section: Mapping) -> dict[str, Variable]:
    """The variables simulator ``name`` exposes with the settings of its config ``section``."""
    return spec(name).declared_variables(section)


def _importable(module: str) -> bool:
    """Whether ``module`` can be imported, looked up without importing it (STEPS takes seconds)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: blocked in sys.modules
        return False


def missing_library(name: str, section: Mapping) -> tuple[str, str] | None:
    """``(setting, reason)`` when simulator ``name`` configured by ``section`` needs a library that
    is not installed here, the reason naming the install step; None when it can run."""
    library = spec(name).library
    if library is None:
        return None
    value = section.get(library.setting)
    if value not in library.values or _importable(library.module):
        return None
    script = Path(__file__).resolve().parents[2] / "install.sh"
    install = str(script) if script.is_file() else "install.sh of the multiscale-run sources"
    return library.setting, (
        f"{library.setting} {value!r} of the {name} simulator needs the Python module "
        f"{library.module!r}, which is not installed here: {library.how.format(install=install)}"
    )


def geometry_source(part: str) -> str | None:
    """The simulator that provides geometry ``part`` of the coupling operators (``segments``,
    ``tets``, ``vessels``, ``endfeet``), by its declared capability."""
    product = {
        "segments": "segment_geometry",
        "tets": "tet_geometry",
        "vessels": "vessel_geometry",
        "endfeet": "endfoot_geometry",
    }[part]
    return next((s.name for s in specs() if product in s.products), None)


def build_order(enabled: list[str]) -> list[str]:
    """``enabled`` ordered so that each simulator comes after those whose products it needs
    (registration order among the ready ones)."""
    todo = [s for s in specs() if s.name in enabled]
    made = {NODE_IDS, CELLS}
    order: list[str] = []
    while todo:
        waiting = {p for s in todo for p in s.products}
        ready = next((s for s in todo if not (set(s.needs) - made) & waiting), None)
        if ready is None:
            raise ValueError(f"simulators {[s.name for s in todo]} need each other's products")
        order.append(ready.name)
        made.update(ready.products)
        todo.remove(ready)
    return order


def build(name: str, config, parallel, products: dict[str, object]) -> Simulator:
    """Build simulator ``name`` with what it needs from ``products``; adds its own products."""
    entry = spec(name)
    needs = {k: products[k] for k in entry.needs if k in products}
    sim = entry.adapter_class()(config, parallel, **needs)
    for proto in entry.provides:
        if not isinstance(sim, proto):
            raise TypeError(f"{type(sim).__name__} declares {proto.__name__} but does not implement it")
    for product in entry.products:
        products[product] = getattr(sim, product)()
    return sim


def providing(simulators: Mapping[str, Simulator], capability: type) -> list[Simulator]:
    """The built simulators whose spec declares ``capability``, in build order."""
    return [sim for name, sim in simulators.items() if capability in spec(name).provides]


register(
    SimulatorSpec(
        name="neuron",
        adapter="multiscale_run.simulators.neuron:NeuronSim",
        schema=_SCHEMA_DIR / "neuron.json",
        space=Space.SEGMENT,
        needs=(CELLS, NODE_IDS),
        provides=(SegmentGeometrySource, SpikeSource, SomaSampler),
        init_default=None,
        description="NEURON on the SONATA circuit",
    )
)
register(
    SimulatorSpec(
        name="steps",
        adapter="multiscale_run.simulators.steps:StepsSim",
        schema=_SCHEMA_DIR / "steps.json",
        space=Space.TET,
        needs=("segment_geometry", "vessel_geometry"),
        provides=(TetGeometrySource,),
        description="STEPS (extracellular reaction-diffusion)",
        library=OptionalLibrary(
            "solver", ("TetOpSplit", "Tetexact"), "steps", "run {install} --steps (docs/install.md)"
        ),
    )
)
register(
    SimulatorSpec(
        name="nvc",
        adapter="multiscale_run.simulators.nvc:NvcSim",
        schema=_SCHEMA_DIR / "nvc.json",
        space=Space.ENDFOOT,
        provides=(EndfootGeometrySource,),
        init_follows="bloodflow",
        description="neurovascular coupling (astrocytic endfeet set vessel radii)",
    )
)
register(
    SimulatorSpec(
        name="bloodflow",
        adapter="multiscale_run.simulators.bloodflow:BloodflowSim",
        schema=_SCHEMA_DIR / "bloodflow.json",
        space=Space.VESSEL,
        provides=(VesselGeometrySource,),
        description="the blood-flow solver",
    )
)
register(
    SimulatorSpec(
        name="metabolism",
        adapter="multiscale_run.simulators.metabolism:MetabolismSim",
        schema=_SCHEMA_DIR / "metabolism.json",
        space=Space.NEURON,
        needs=(NODE_IDS,),
        init_default=True,
        description="the metabolism model",
        library=OptionalLibrary(
            "backend", ("julia",), "juliacall", "pip install juliacall (Julia is optional)"
        ),
    )
)
