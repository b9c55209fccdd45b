"""From the config to runnable couplings: their periods and the operators they and the reports use."""

from __future__ import annotations

import dataclasses
import math

from multiscale_run.coupling.geometry import Geometry
from multiscale_run.coupling.manager import Coupling
from multiscale_run.coupling.operator_specs import OPERATORS


def couplings_from_config(config) -> list[Coupling]:
    """The configured couplings in order. One without a period runs every lcm(src ndts, dest ndts):
    whenever both sides have new values, never more often (e.g. metabolism -> NEURON only after
    metabolism advanced)."""
    out = []
    for i, entry in enumerate(config.couplings):
        # the transform's place in the config, named when it fails at run time
        coupling = Coupling.from_config(entry, (str(config.path), f"multiscale_run.couplings[{i}].transform"))
        if coupling.ndts is None:
            ndts = [config.simulator(name)["ndts"] for name in (coupling.src, coupling.dest)]
            coupling = dataclasses.replace(coupling, ndts=math.lcm(*ndts))
        out.append(coupling)
    return out


def operator_names(config, couplings: list[Coupling]) -> set[str]:
    """Every operator the couplings (with their merge write-backs) and the reports use."""
    names = set()
    for c in couplings:
        if c.operator != "identity":
            names.add(c.operator)
            if c.action == "merge":
                names.add(OPERATORS[c.operator].writeback)
    for sim in config.simulators:
        for rep in config.simulator(sim).get("reports", []):
            if rep.get("operator") and rep["operator"] not in ("soma", "identity"):
                names.add(rep["operator"])
    return names


def build_operators(config, couplings: list[Coupling], geometry: Geometry, parallel, use_cache: bool) -> dict:
    """The matrices of every operator the couplings and reports use, from the operator cache or
    built (collective: the same order on every rank)."""
    names = operator_names(config, couplings)
    if not names:
        return {}
    from multiscale_run.coupling.cache import OperatorCache  # and scipy.sparse: only with operators
    from multiscale_run.coupling.operators import OperatorBuilder

    cache = OperatorCache(config.cache_dir, parallel, use_cache=use_cache)
    builder = OperatorBuilder(geometry, parallel)  # one builder: the clipping runs once
    return {name: cache.operator(name, geometry, builder) for name in sorted(names)}
